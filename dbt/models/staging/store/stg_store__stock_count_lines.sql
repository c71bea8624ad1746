select
    id as stock_count_line_id,
    stock_count_id,
    product_id,
    counted_qty,
    expected_qty,
    variance_qty,
    unit_cost,
    variance_value,
    updated_at
from {{ source('store', 'stock_count_lines') }}
