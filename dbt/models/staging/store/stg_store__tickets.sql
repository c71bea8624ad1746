select
    id as ticket_id,
    customer_id,
    order_id,
    merchant_id,
    category,
    priority,
    status,
    assignee,
    first_response_due_at,
    resolution_due_at,
    first_response_at,
    resolved_at,
    closed_at,
    satisfaction,
    created_at,
    updated_at
from {{ source('store', 'tickets') }}
