select
    id as stock_alert_id,
    product_id,
    warehouse_id,
    status,
    available_at_open,
    reorder_point,
    suggested_qty,
    opened_at,
    resolved_at,
    updated_at
from {{ source('store', 'stock_alerts') }}
