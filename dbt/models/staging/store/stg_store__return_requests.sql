select
    id as return_request_id,
    order_id,
    order_line_id,
    quantity,
    reason,
    status,
    received_qty,
    condition,
    disposition,
    warehouse_id,
    refund_amount,
    actor,
    created_at,
    updated_at
from {{ source('store', 'return_requests') }}
