select
    id as shipment_line_id,
    shipment_id,
    order_line_id,
    quantity
from {{ source('store', 'shipment_lines') }}
