select
    id as order_event_id,
    order_id,
    from_status,
    to_status,
    actor,
    note,
    created_at
from {{ source('store', 'order_events') }}
