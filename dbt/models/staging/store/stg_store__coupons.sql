select
    id as coupon_id,
    code,
    campaign_id,
    merchant_id,
    kind,
    value,
    min_spend,
    valid_from,
    valid_to,
    max_uses,
    max_uses_per_customer,
    uses,
    active,
    created_at,
    updated_at
from {{ source('store', 'coupons') }}
