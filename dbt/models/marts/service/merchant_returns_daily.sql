{{ config(contract={"enforced": true}) }}
-- Merchant x day of the return request x reason. Every request counts on the day it was made,
-- whatever its status now; accepted units follow returns_analysis's rule, and the refunds paid
-- for a request are attributed to the request (its merchant, day and reason), whenever paid.
with requests as (
    select
        rr.return_request_id,
        l.merchant_id,
        cast(rr.created_at as date) as requested_on,
        rr.reason,
        rr.quantity,
        -- accepted returns only: 'requested' is still undecided and 'rejected' never counts
        rr.status in ('approved', 'received', 'refunded') as is_accepted,
        coalesce(rr.received_qty, 0) as received_qty
    from {{ ref('stg_store__return_requests') }} as rr
    join {{ ref('fct_order_lines') }} as l on l.order_line_id = rr.order_line_id
),

-- refunds paid for returns (int_refunds_paid ties a refund to its request by the reference
-- "return:<id>"), whatever the request's status now
refunds as (
    select return_request_id, sum(refund_amount) as refunds_paid
    from {{ ref('int_refunds_paid') }}
    where return_request_id is not null
    group by return_request_id
)

select
    r.merchant_id,
    r.requested_on,
    r.reason,
    cast(count(*) as integer) as return_requests,
    cast(sum(r.quantity) as integer) as units_requested,
    cast(sum(case when r.is_accepted then r.quantity else 0 end) as integer) as units_accepted,
    cast(sum(case when r.is_accepted then r.received_qty else 0 end) as integer) as units_received,
    cast(coalesce(sum(f.refunds_paid), 0) as decimal(14, 2)) as refunds_paid
from requests as r
left join refunds as f on f.return_request_id = r.return_request_id
group by r.merchant_id, r.requested_on, r.reason
