{{ config(contract={"enforced": true}) }}
-- Month of sale x product x return reason. Returns and their refunds are attributed to the month
-- the returned line was sold in (METRICS: return rate), not to the month they came back or were paid.
-- Every product sold in a month gets a row for every return reason, so a reason's rate can be 0.
with units_sold as (
    select
        cast({{ dbt.date_trunc('month', 'placed_on') }} as date) as month_start,
        product_id,
        sum(units) as units_sold
    from {{ ref('fct_order_lines') }}
    group by 1, 2
),

-- accepted returns only: 'requested' is still undecided and 'rejected' never counts
returns as (
    select
        rr.return_request_id,
        cast({{ dbt.date_trunc('month', 'l.placed_on') }} as date) as month_start,
        l.product_id,
        rr.reason,
        rr.quantity,
        coalesce(rr.received_qty, 0) as received_qty
    from {{ ref('stg_store__return_requests') }} as rr
    join {{ ref('fct_order_lines') }} as l on l.order_line_id = rr.order_line_id
    where rr.status in ('approved', 'received', 'refunded')
),

-- refunds paid for returns, whatever the request's status now
refunds as (
    select
        cast({{ dbt.date_trunc('month', 'l.placed_on') }} as date) as month_start,
        l.product_id,
        r.return_reason as reason,
        sum(r.refund_amount) as refunded_value
    from {{ ref('int_refunds_paid') }} as r
    join {{ ref('fct_order_lines') }} as l on l.order_line_id = r.order_line_id
    where r.return_request_id is not null
    group by 1, 2, 3
),

returns_by_reason as (
    select month_start, product_id, reason, sum(quantity) as units_returned, sum(received_qty) as units_received
    from returns
    group by 1, 2, 3
),

reasons_found as (
    select distinct reason from {{ ref('stg_store__return_requests') }}
),

-- with no return at all yet, one '(no returns)' reason keeps units sold in the mart
reasons as (
    select reason from reasons_found
    union all
    select '(no returns)' where not exists (select 1 from reasons_found)
),

-- month x product pairs with sales or returns, crossed with every reason
grid as (
    select m.month_start, m.product_id, r.reason
    from (
        select month_start, product_id from units_sold where units_sold > 0
        union
        select month_start, product_id from returns_by_reason
        union
        select month_start, product_id from refunds
    ) as m
    cross join reasons as r
),

product_totals as (
    select month_start, product_id, sum(units_returned) as product_units_returned
    from returns_by_reason
    group by 1, 2
)

select
    g.month_start,
    g.product_id,
    p.category,
    g.reason,
    cast(coalesce(s.units_sold, 0) as integer) as units_sold,
    cast(coalesce(rt.units_returned, 0) as integer) as units_returned,
    cast(coalesce(rt.units_received, 0) as integer) as units_received,
    cast(coalesce(rt.units_returned, 0) as double) / nullif(s.units_sold, 0) as return_rate,
    cast(coalesce(pt.product_units_returned, 0) as double) / nullif(s.units_sold, 0) as product_return_rate,
    cast(coalesce(rf.refunded_value, 0) as decimal(14, 2)) as refunded_value
from grid as g
join {{ ref('dim_products') }} as p on p.product_id = g.product_id
left join units_sold as s on s.month_start = g.month_start and s.product_id = g.product_id
left join returns_by_reason as rt
    on rt.month_start = g.month_start and rt.product_id = g.product_id and rt.reason = g.reason
left join product_totals as pt on pt.month_start = g.month_start and pt.product_id = g.product_id
left join refunds as rf on rf.month_start = g.month_start and rf.product_id = g.product_id and rf.reason = g.reason
