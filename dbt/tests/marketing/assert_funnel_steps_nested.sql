{{ config(severity='warn') }}
-- Warn when a funnel step has more sessions than the step before it (conversion above 1): the
-- steps are counted independently, so a session that purchases without a checkout event (or a
-- tracking gap) would show up here.
select day, channel, device, sessions, product_view_sessions, add_to_cart_sessions, checkout_sessions, purchase_sessions
from {{ ref('funnel_daily') }}
where product_view_sessions > sessions
   or add_to_cart_sessions > product_view_sessions
   or checkout_sessions > add_to_cart_sessions
   or purchase_sessions > checkout_sessions
