-- Incremental (docs/pipeline.md, "The dbt models"): a build rewrites the lines that
-- int_order_lines_enriched rewrote since this model's last build (macros/incremental.sql), and the
-- lines whose refunds or restocked units are not what this table holds: those come from returns
-- and refund transactions, which few lines have, so they are compared whole. The nightly full
-- build rebuilds the table whole (--full-refresh).
{{ config(materialized='incremental', unique_key='order_line_id', incremental_strategy='delete+insert',
          on_schema_change='append_new_columns', contract={"enforced": true}) }}
{%- set incremental = incremental_on('built_at') %}
with restocked as (
    select order_line_id, sum(units_restocked) as units_restocked, sum(restocked_cost) as restocked_cost
    from {{ ref('int_returns_restocked') }}
    group by all
),
refunds as (
    select order_line_id, sum(refund_amount) as refunds
    from {{ ref('int_refunds_paid') }}
    where order_line_id is not null
    group by all
){% if incremental %},

changed as (
    select l.order_line_id from {{ ref('int_order_lines_enriched') }} as l where {{ built_since_this('l') }}
    union
    -- refunds and restocks as built now against what this table holds (both zero without any)
    select coalesce(n.order_line_id, t.order_line_id)
    from (
        select coalesce(f.order_line_id, r.order_line_id) as order_line_id,
               coalesce(f.refunds, 0) as refunds, coalesce(r.units_restocked, 0) as units_restocked
        from refunds as f
        full join restocked as r on r.order_line_id = f.order_line_id
    ) as n
    full join (
        select order_line_id, refunds, units_restocked from {{ this }} where refunds <> 0 or units_restocked <> 0
    ) as t on t.order_line_id = n.order_line_id
    where n.order_line_id is null or t.order_line_id is null
       or n.refunds <> t.refunds or n.units_restocked <> t.units_restocked
){% endif %}
select
    l.order_line_id,
    l.order_id,
    l.line_no,
    l.product_id,
    l.merchant_id,
    l.customer_id,
    l.channel,
    l.placed_on,
    l.is_cancelled,
    l.currency,
    l.unit_price,
    l.unit_cost,
    cast(l.units as integer) as units,
    l.gross_sales,
    l.discounts,
    cast(coalesce(f.refunds, 0) as decimal(14, 2)) as refunds,
    cast(l.net_sales - coalesce(f.refunds, 0) as decimal(14, 2)) as net_revenue,
    cast(coalesce(r.units_restocked, 0) as integer) as units_restocked,
    cast(round(l.units * l.unit_cost, 2) - coalesce(r.restocked_cost, 0) as decimal(14, 2)) as cogs,
    {{ built_at() }} as built_at
from {{ ref('int_order_lines_enriched') }} as l
left join restocked as r on r.order_line_id = l.order_line_id
left join refunds as f on f.order_line_id = l.order_line_id
{%- if incremental %}
where l.order_line_id in (select order_line_id from changed)
{%- endif %}
