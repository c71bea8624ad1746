select
    id as merchant_id,
    code,
    name,
    currency,
    tax_rate,
    preferred_warehouse_id,
    created_at,
    updated_at
from {{ source('store', 'merchants') }}
