select
    id as warehouse_id,
    code,
    name,
    priority,
    active,
    created_at,
    updated_at
from {{ source('store', 'warehouses') }}
