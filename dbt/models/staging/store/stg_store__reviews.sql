select
    id as review_id,
    customer_id,
    product_id,
    order_id,
    rating,
    verified_purchase,
    created_at,
    updated_at
from {{ source('store', 'reviews') }}
