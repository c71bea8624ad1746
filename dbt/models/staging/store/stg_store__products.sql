select
    id as product_id,
    merchant_id,
    sku,
    name,
    category,
    price,
    unit_cost,
    currency,
    active,
    created_at,
    updated_at
from {{ source('store', 'products') }}
