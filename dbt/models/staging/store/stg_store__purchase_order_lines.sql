select
    id as purchase_order_line_id,
    purchase_order_id,
    product_id,
    qty_ordered,
    qty_received,
    unit_cost,
    updated_at
from {{ source('store', 'purchase_order_lines') }}
