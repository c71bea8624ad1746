select
    id as customer_id,
    customer_ref,
    region,
    country,
    preferred_categories,
    erased_at,
    created_at,
    updated_at
from {{ source('store', 'customers') }}
