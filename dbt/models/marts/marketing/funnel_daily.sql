{{ config(contract={"enforced": true}) }}
-- Day x channel x device funnel (METRICS: sessions -> product views -> add to cart -> checkout
-- -> purchase, each step counted in sessions; conversion = step / previous step).
-- A session counts at a step when it has at least one event of that step.
with sessions as (
    select * from {{ ref('int_sessions') }}
),
steps as (
    select
        session_on as day,
        channel,
        device,
        count(*) as sessions,
        sum(case when has_product_view then 1 else 0 end) as product_view_sessions,
        sum(case when has_add_to_cart then 1 else 0 end) as add_to_cart_sessions,
        sum(case when has_checkout then 1 else 0 end) as checkout_sessions,
        sum(case when has_purchase then 1 else 0 end) as purchase_sessions
    from sessions
    group by session_on, channel, device
)
select
    day,
    channel,
    device,
    cast(sessions as integer) as sessions,
    cast(product_view_sessions as integer) as product_view_sessions,
    cast(add_to_cart_sessions as integer) as add_to_cart_sessions,
    cast(checkout_sessions as integer) as checkout_sessions,
    cast(purchase_sessions as integer) as purchase_sessions,
    -- nullif: no conversion can be measured when nobody reached the previous step
    cast(product_view_sessions as double) / nullif(sessions, 0) as product_view_conversion,
    cast(add_to_cart_sessions as double) / nullif(product_view_sessions, 0) as add_to_cart_conversion,
    cast(checkout_sessions as double) / nullif(add_to_cart_sessions, 0) as checkout_conversion,
    cast(purchase_sessions as double) / nullif(checkout_sessions, 0) as purchase_conversion
from steps
