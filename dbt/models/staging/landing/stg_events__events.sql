select
    event_id,
    session_id,
    customer_ref,
    device,
    channel,
    event_type,
    sku,
    order_ref,
    ts as occurred_at,
    event_on
from {{ source('landing', 'events') }}
