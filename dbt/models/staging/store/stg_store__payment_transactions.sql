select
    id as payment_transaction_id,
    payment_id,
    kind,
    amount,
    outcome,
    from_status,
    to_status,
    provider_ref,
    message,
    reference,
    actor,
    created_at
from {{ source('store', 'payment_transactions') }}
