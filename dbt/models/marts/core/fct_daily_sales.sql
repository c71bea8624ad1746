{{ config(contract={"enforced": true}) }}
-- Day x product x channel. Sales on the day of the order; refunds on the day they were paid
-- (attributed to the returned line's product and the order's channel).
with sales as (
    select
        placed_on as day,
        merchant_id,
        product_id,
        channel,
        count(distinct case when not is_cancelled then order_id end) as orders,
        sum(units) as units,
        sum(gross_sales) as gross_sales,
        sum(discounts) as discounts,
        sum(cogs) as cogs
    from {{ ref('fct_order_lines') }}
    group by all
),
refunds as (
    select
        r.refunded_on as day,
        l.merchant_id,
        l.product_id,
        l.channel,
        sum(r.refund_amount) as refunds
    from {{ ref('int_refunds_paid') }} as r
    join {{ ref('int_order_lines_enriched') }} as l on l.order_line_id = r.order_line_id
    group by all
),
days as (
    select day, merchant_id, product_id, channel from sales
    union
    select day, merchant_id, product_id, channel from refunds
)
select
    d.day,
    d.merchant_id,
    d.product_id,
    d.channel,
    cast(coalesce(s.orders, 0) as integer) as orders,
    cast(coalesce(s.units, 0) as integer) as units,
    cast(coalesce(s.gross_sales, 0) as decimal(14, 2)) as gross_sales,
    cast(coalesce(s.discounts, 0) as decimal(14, 2)) as discounts,
    cast(coalesce(r.refunds, 0) as decimal(14, 2)) as refunds,
    cast(coalesce(s.gross_sales, 0) - coalesce(s.discounts, 0) - coalesce(r.refunds, 0) as decimal(14, 2))
        as net_revenue,
    cast(coalesce(s.cogs, 0) as decimal(14, 2)) as cogs,
    cast(coalesce(s.gross_sales, 0) - coalesce(s.discounts, 0) - coalesce(r.refunds, 0) - coalesce(s.cogs, 0)
         as decimal(14, 2)) as gross_margin
from days as d
left join sales as s using (day, merchant_id, product_id, channel)
left join refunds as r using (day, merchant_id, product_id, channel)
