select
    id as tracking_event_id,
    shipment_id,
    status,
    occurred_at,
    location,
    description,
    created_at
from {{ source('store', 'tracking_events') }}
