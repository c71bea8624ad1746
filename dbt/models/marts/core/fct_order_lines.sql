{{ config(contract={"enforced": true}) }}
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
)
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
    cast(round(l.units * l.unit_cost, 2) - coalesce(r.restocked_cost, 0) as decimal(14, 2)) as cogs
from {{ ref('int_order_lines_enriched') }} as l
left join restocked as r on r.order_line_id = l.order_line_id
left join refunds as f on f.order_line_id = l.order_line_id
