select
    id as campaign_id,
    code,
    name,
    merchant_id,
    channel,
    starts_on,
    ends_on,
    budget,
    spend,
    target_segment,
    control_share,
    created_at,
    updated_at
from {{ source('store', 'campaigns') }}
