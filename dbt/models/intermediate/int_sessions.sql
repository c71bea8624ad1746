{{ config(contract={"enforced": true}) }}
-- One row per clickstream session. A session carries one channel, device and (once the visitor
-- is known) one customer_ref; min() only makes the pick explicit
-- (tests/marketing/assert_sessions_have_one_channel_device_customer.sql checks it).
with events as (
    select * from {{ ref('stg_events__events') }}
),
sessions as (
    select
        session_id,
        min(occurred_at) as started_at,
        max(occurred_at) as ended_at,
        min(channel) as channel,
        min(device) as device,
        -- anonymous events have no reference; any event that has one identifies the visitor
        min(customer_ref) as customer_ref,
        count(*) as events,
        sum(case when event_type = 'product_view' then 1 else 0 end) as product_views,
        sum(case when event_type = 'add_to_cart' then 1 else 0 end) as add_to_carts,
        sum(case when event_type = 'checkout' then 1 else 0 end) as checkouts,
        sum(case when event_type = 'purchase' then 1 else 0 end) as purchases
    from events
    group by session_id
)
select
    session_id,
    started_at,
    ended_at,
    -- a session belongs to the day it started, even when it runs past midnight
    cast(started_at as date) as session_on,
    channel,
    device,
    customer_ref,
    cast(events as integer) as events,
    cast(product_views as integer) as product_views,
    cast(add_to_carts as integer) as add_to_carts,
    cast(checkouts as integer) as checkouts,
    cast(purchases as integer) as purchases,
    product_views > 0 as has_product_view,
    add_to_carts > 0 as has_add_to_cart,
    checkouts > 0 as has_checkout,
    purchases > 0 as has_purchase
from sessions
