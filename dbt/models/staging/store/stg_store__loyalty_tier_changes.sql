select
    id as loyalty_tier_change_id,
    customer_id,
    from_tier,
    to_tier,
    spend_12m,
    changed_at
from {{ source('store', 'loyalty_tier_changes') }}
