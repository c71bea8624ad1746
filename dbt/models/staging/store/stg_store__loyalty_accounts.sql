select
    customer_id,
    balance,
    tier,
    updated_at
from {{ source('store', 'loyalty_accounts') }}
