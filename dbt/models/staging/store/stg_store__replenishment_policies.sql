select
    product_id,
    warehouse_id,
    safety_stock,
    reorder_point,
    reorder_qty,
    order_multiple,
    lead_time_days,
    supplier_id,
    created_at,
    updated_at
from {{ source('store', 'replenishment_policies') }}
