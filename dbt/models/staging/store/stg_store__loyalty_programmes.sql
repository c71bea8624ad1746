select
    id as loyalty_programme_id,
    points_per_unit,
    point_value,
    expiry_days,
    updated_at
from {{ source('store', 'loyalty_programme') }}
