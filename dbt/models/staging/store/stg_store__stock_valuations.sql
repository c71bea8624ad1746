select
    product_id,
    avg_unit_cost,
    updated_at
from {{ source('store', 'stock_valuations') }}
