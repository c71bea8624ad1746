-- merchant_segment_movement holds, for each merchant, the 26 Mondays up to the as-of day on which
-- it had customers, and for each of them every customer once: the week's customers add up to the
-- customers with an order not cancelled at the merchant placed before the Monday W (those with an
-- RFM row as of W), and those with a from_segment to the customers with one placed before W - 7.
-- Returns the merchant x weeks where that fails.
{{ config(meta={'dagster': {'ref': {'name': 'merchant_segment_movement'}}}) }}
with mondays as (
    select cast({{ dbt.date_trunc('week', as_of_day()) }} as date) - 7 * cast(k as integer) as week_start
    from range(0, 26) as weeks_back (k)
),
-- a customer has an order before a day when their first order at the merchant is before it
first_orders as (
    select merchant_id, customer_id, min(placed_on) as first_order_on
    from {{ ref('fct_orders') }}
    where not is_cancelled
    group by merchant_id, customer_id
),
expected as (
    select
        m.week_start,
        f.merchant_id,
        count(*) as customers,
        count(case when f.first_order_on < m.week_start - 7 then 1 end) as customers_a_week_before
    from mondays as m
    join first_orders as f on f.first_order_on < m.week_start
    group by m.week_start, f.merchant_id
),
movement as (
    select
        merchant_id,
        week_start,
        sum(customers) as customers,
        sum(case when from_segment is not null then customers else 0 end) as customers_a_week_before
    from {{ ref('merchant_segment_movement') }}
    group by merchant_id, week_start
)
select
    coalesce(m.merchant_id, e.merchant_id) as merchant_id,
    coalesce(m.week_start, e.week_start) as week_start,
    m.customers,
    e.customers as expected_customers,
    m.customers_a_week_before,
    e.customers_a_week_before as expected_customers_a_week_before
from movement as m
full outer join expected as e on e.merchant_id = m.merchant_id and e.week_start = m.week_start
where m.merchant_id is null or e.merchant_id is null
   or m.customers <> e.customers
   or m.customers_a_week_before <> e.customers_a_week_before
