select
    id as payment_id,
    order_id,
    method,
    status,
    amount,
    currency,
    captured_amount,
    refunded_amount,
    provider,
    provider_ref,
    card_brand,
    failure_reason,
    created_at,
    updated_at
from {{ source('store', 'payments') }}
