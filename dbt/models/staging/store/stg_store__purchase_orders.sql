select
    id as purchase_order_id,
    merchant_id,
    supplier_id,
    warehouse_id,
    status,
    expected_on,
    actor,
    created_at,
    updated_at
from {{ source('store', 'purchase_orders') }}
