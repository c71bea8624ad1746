select
    id as shipment_id,
    order_id,
    warehouse_id,
    carrier_id,
    tracking_number,
    status,
    promised_on,
    shipped_at,
    delivered_at,
    created_at,
    updated_at
from {{ source('store', 'shipments') }}
