-- Units that came back into stock from returns and their cost, which COGS gives back (METRICS).
select
    rr.return_request_id,
    rr.order_id,
    rr.order_line_id,
    l.product_id,
    cast(rr.updated_at as date) as restocked_on,
    rr.received_qty as units_restocked,
    cast(rr.received_qty * l.unit_cost as decimal(14, 2)) as restocked_cost
from {{ ref('stg_store__return_requests') }} as rr
join {{ ref('int_order_lines_enriched') }} as l on l.order_line_id = rr.order_line_id
where rr.disposition = 'restock' and rr.received_qty > 0
