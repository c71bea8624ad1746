select
    id as customer_consent_id,
    customer_id,
    channel,
    granted,
    source,
    recorded_at
from {{ source('store', 'customer_consents') }}
