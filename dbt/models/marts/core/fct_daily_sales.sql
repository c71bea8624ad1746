-- Day x product x channel. Sales on the day of the order; refunds on the day they were paid
-- (attributed to the returned line's product and the order's channel).
--
-- Incremental (docs/pipeline.md, "The dbt models"): a build rewrites whole days: the order days of
-- the lines fct_order_lines rewrote since this model's last build (macros/incremental.sql), and
-- the days whose refunds are not what this table holds, compared whole. A line's day, product,
-- merchant and channel never change in the store, so no row moves to another day. The nightly full
-- build rebuilds the table whole (--full-refresh).
{{ config(materialized='incremental', unique_key='day', incremental_strategy='delete+insert',
          on_schema_change='append_new_columns', contract={"enforced": true}) }}
{%- set incremental = incremental_on('built_at') %}
with line_refunds as (
    select
        r.refunded_on as day,
        l.merchant_id,
        l.product_id,
        l.channel,
        r.refund_amount
    from {{ ref('int_refunds_paid') }} as r
    join {{ ref('int_order_lines_enriched') }} as l on l.order_line_id = r.order_line_id
){% if incremental %},

changed_days as (
    select distinct l.placed_on as day from {{ ref('fct_order_lines') }} as l where {{ built_since_this('l') }}
    union
    select coalesce(n.day, t.day)
    from (select day, sum(refund_amount) as refunds from line_refunds group by all) as n
    full join (select day, sum(refunds) as refunds from {{ this }} group by all having sum(refunds) <> 0) as t
        on t.day = n.day
    where n.day is null or t.day is null or n.refunds <> t.refunds
){% endif %},

sales as (
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
    {%- if incremental %}
    where placed_on in (select day from changed_days)
    {%- endif %}
    group by all
),
refunds as (
    select day, merchant_id, product_id, channel, sum(refund_amount) as refunds
    from line_refunds
    {%- if incremental %}
    where day in (select day from changed_days)
    {%- endif %}
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
         as decimal(14, 2)) as gross_margin,
    {{ built_at() }} as built_at
from days as d
left join sales as s using (day, merchant_id, product_id, channel)
left join refunds as r using (day, merchant_id, product_id, channel)
