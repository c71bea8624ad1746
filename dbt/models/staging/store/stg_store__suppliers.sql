select
    id as supplier_id,
    merchant_id,
    code,
    name,
    lead_time_days,
    created_at,
    updated_at
from {{ source('store', 'suppliers') }}
