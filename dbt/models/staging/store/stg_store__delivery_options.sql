select
    id as delivery_option_id,
    code,
    kind,
    name,
    carrier_id,
    price,
    promised_days,
    active,
    created_at,
    updated_at
from {{ source('store', 'delivery_options') }}
