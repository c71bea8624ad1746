select
    id as communication_id,
    customer_id,
    direction,
    channel,
    agent,
    order_id,
    ticket_id,
    occurred_at,
    created_at
from {{ source('store', 'communications') }}
