-- Refunds actually paid (approved refund transactions), on the day they were paid, tied to the
-- returned line when the refund was for a return (reference "return:<id>").
with refunds as (
    select
        t.payment_transaction_id,
        p.order_id,
        cast(t.created_at as date) as refunded_on,
        t.amount,
        case when t.reference like 'return:%'
             then try_cast(substr(t.reference, 8) as bigint) end as return_request_id
    from {{ ref('stg_store__payment_transactions') }} as t
    join {{ ref('stg_store__payments') }} as p on p.payment_id = t.payment_id
    where t.kind = 'refund' and t.outcome = 'approved'
)
select
    r.payment_transaction_id,
    r.order_id,
    r.refunded_on,
    r.amount as refund_amount,
    r.return_request_id,
    rr.order_line_id,
    rr.reason as return_reason
from refunds as r
left join {{ ref('stg_store__return_requests') }} as rr on rr.return_request_id = r.return_request_id
