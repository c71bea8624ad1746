select
    id as reservation_id,
    order_id,
    order_line_id,
    product_id,
    warehouse_id,
    quantity,
    status,
    created_at,
    updated_at
from {{ source('store', 'reservations') }}
