select
    code,
    rank,
    min_spend_12m,
    points_multiplier,
    free_shipping
from {{ source('store', 'loyalty_tiers') }}
