select
    product_id,
    warehouse_id,
    on_hand,
    reserved,
    updated_at
from {{ source('store', 'stock_levels') }}
