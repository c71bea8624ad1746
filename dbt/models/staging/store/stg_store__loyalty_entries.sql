select
    id as loyalty_entry_id,
    customer_id,
    kind,
    points,
    remaining,
    order_id,
    expires_on,
    note,
    actor,
    created_at
from {{ source('store', 'loyalty_entries') }}
