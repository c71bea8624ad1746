select
    id as carrier_id,
    code,
    name,
    active,
    created_at,
    updated_at
from {{ source('store', 'carriers') }}
