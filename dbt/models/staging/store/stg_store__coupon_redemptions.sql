select
    id as coupon_redemption_id,
    coupon_id,
    order_id,
    customer_id,
    discount,
    created_at
from {{ source('store', 'coupon_redemptions') }}
