{{ config(contract={"enforced": true}) }}
with orders as (
    select * from {{ ref('stg_store__orders') }}
),
lines as (
    select
        order_id,
        sum(units) as units,
        sum(gross_sales) as gross_sales,
        sum(discounts) as discounts,
        sum(cogs) as cogs
    from {{ ref('fct_order_lines') }}
    group by all
),
refunds as (
    select order_id, sum(refund_amount) as refunds
    from {{ ref('int_refunds_paid') }}
    group by all
),
first_orders as (
    select customer_id, min(order_id) as first_order_id
    from orders
    where status <> 'cancelled'
    group by all
)
select
    o.order_id,
    o.merchant_id,
    o.customer_id,
    o.channel,
    o.status,
    o.status = 'cancelled' as is_cancelled,
    f.first_order_id is not null as is_first_order,
    o.placed_at,
    cast(o.placed_at as date) as placed_on,
    o.currency,
    cast(coalesce(l.units, 0) as integer) as units,
    cast(coalesce(l.gross_sales, 0) as decimal(14, 2)) as gross_sales,
    cast(coalesce(l.discounts, 0) as decimal(14, 2)) as discounts,
    cast(coalesce(r.refunds, 0) as decimal(14, 2)) as refunds,
    cast(coalesce(l.gross_sales, 0) - coalesce(l.discounts, 0) - coalesce(r.refunds, 0) as decimal(14, 2))
        as net_revenue,
    cast(coalesce(l.cogs, 0) as decimal(14, 2)) as cogs,
    cast(coalesce(l.gross_sales, 0) - coalesce(l.discounts, 0) - coalesce(r.refunds, 0) - coalesce(l.cogs, 0)
         as decimal(14, 2)) as gross_margin,
    cast(case when o.status = 'cancelled' then 0 else o.shipping end as decimal(14, 2)) as shipping_charged,
    cast(case when o.status = 'cancelled' then 0 else o.tax end as decimal(14, 2)) as tax,
    o.campaign_id,
    o.coupon_id,
    cast(o.points_redeemed as integer) as points_redeemed
from orders as o
left join lines as l on l.order_id = o.order_id
left join refunds as r on r.order_id = o.order_id
left join first_orders as f on f.first_order_id = o.order_id
