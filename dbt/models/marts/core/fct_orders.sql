-- Incremental (docs/pipeline.md, "The dbt models"): a build rewrites
--   - the orders that changed in the store: updated_at looked for from twice the loads' overlap
--     before the newest already built, and not the one this table holds (as in
--     int_order_lines_enriched);
--   - the orders with lines fct_order_lines rewrote since this model's last build
--     (macros/incremental.sql);
--   - the orders whose refunds or first-order flag are not what this table holds, compared whole
--     (a cancelled first order makes the customer's next order the first).
-- The nightly full build rebuilds the table whole (--full-refresh).
{{ config(materialized='incremental', unique_key='order_id', incremental_strategy='delete+insert',
          on_schema_change='append_new_columns', contract={"enforced": true}) }}
{%- set incremental = incremental_on('built_at') %}
with orders as (
    select * from {{ ref('stg_store__orders') }}
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
){% if incremental %},

changed as (
    select o.order_id from orders as o
    where o.updated_at > (
            select coalesce(max(updated_at), timestamp '1900-01-01') - {{ store_lookback() }} from {{ this }})
        and not exists (select 1 from {{ this }} as t where t.order_id = o.order_id and t.updated_at = o.updated_at)
    union
    select l.order_id from {{ ref('fct_order_lines') }} as l where {{ built_since_this('l') }}
    union
    select coalesce(n.order_id, t.order_id)
    from refunds as n
    full join (select order_id, refunds from {{ this }} where refunds <> 0) as t on t.order_id = n.order_id
    where n.order_id is null or t.order_id is null or n.refunds <> t.refunds
    union
    select coalesce(f.first_order_id, t.order_id)
    from first_orders as f
    full join (select order_id from {{ this }} where is_first_order) as t on t.order_id = f.first_order_id
    where f.first_order_id is null or t.order_id is null
){% endif %},

lines as (
    select
        order_id,
        sum(units) as units,
        sum(gross_sales) as gross_sales,
        sum(discounts) as discounts,
        sum(cogs) as cogs
    from {{ ref('fct_order_lines') }}
    {%- if incremental %}
    where order_id in (select order_id from changed)
    {%- endif %}
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
    cast(o.points_redeemed as integer) as points_redeemed,
    -- what the incremental builds compare against (see the top)
    o.updated_at,
    {{ built_at() }} as built_at
from orders as o
left join lines as l on l.order_id = o.order_id
left join refunds as r on r.order_id = o.order_id
left join first_orders as f on f.first_order_id = o.order_id
{%- if incremental %}
where o.order_id in (select order_id from changed)
{%- endif %}
