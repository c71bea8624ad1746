-- funnel_daily: every session of int_sessions is counted once, no step exceeds the sessions,
-- and each conversion is step / previous step, null exactly when the previous step is 0.
{{ config(meta={'dagster': {'ref': {'name': 'funnel_daily'}}}) }}
with f as (
    select * from {{ ref('funnel_daily') }}
),
row_problems as (
    select day, channel, device
    from f
    where sessions < 1
       or product_view_sessions > sessions or add_to_cart_sessions > sessions
       or checkout_sessions > sessions or purchase_sessions > sessions
       or (product_view_conversion is null) <> (sessions = 0)
       or (add_to_cart_conversion is null) <> (product_view_sessions = 0)
       or (checkout_conversion is null) <> (add_to_cart_sessions = 0)
       or (purchase_conversion is null) <> (checkout_sessions = 0)
       or abs(product_view_conversion * sessions - product_view_sessions) > 1e-9
       or abs(add_to_cart_conversion * product_view_sessions - add_to_cart_sessions) > 1e-9
       or abs(checkout_conversion * add_to_cart_sessions - checkout_sessions) > 1e-9
       or abs(purchase_conversion * checkout_sessions - purchase_sessions) > 1e-9
),
total_problem as (
    select cast(null as date) as day, 'total sessions' as channel, cast(null as varchar) as device
    where (select sum(sessions) from f) <> (select count(*) from {{ ref('int_sessions') }})
)
select * from row_problems
union all
select * from total_problem
