select
    id as order_line_id,
    order_id,
    line_no,
    product_id,
    sku,
    quantity,
    unit_price,
    discount,
    line_total,
    unit_cost,
    updated_at
from {{ source('store', 'order_lines') }}
