select
    id as stock_movement_id,
    product_id,
    warehouse_id,
    kind,
    quantity,
    unit_cost,
    reason,
    ref_type,
    ref_id,
    actor,
    created_at
from {{ source('store', 'stock_movements') }}
