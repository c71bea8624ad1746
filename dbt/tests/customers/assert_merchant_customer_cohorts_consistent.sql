-- Cohorts per merchant: rates in [0, 1], month 0 keeps the whole cohort, active never exceeds the
-- cohort; every (merchant, customer) with an order not cancelled sits in exactly one cohort of
-- that merchant; and, every order belonging to one merchant, each activity month's orders and
-- revenue summed over merchants and cohorts equal customer_cohorts' (which cohort an order counts
-- in differs between the grains, the month it was placed does not).
{{ config(meta={'dagster': {'ref': {'name': 'merchant_customer_cohorts'}}}) }}
with cohort_rows as (
    select * from {{ ref('merchant_customer_cohorts') }}
),
row_problems as (
    select 'row' as problem, merchant_id, activity_month, cohort_month, months_since
    from cohort_rows
    where retention_rate < 0 or retention_rate > 1
       or active_customers > cohort_size
       or (months_since = 0 and (active_customers <> cohort_size or retention_rate <> 1))
       or activity_month <> cast({{ dbt.dateadd('month', 'months_since', 'cohort_month') }} as date)
),
cohort_customers as (
    select merchant_id, sum(cohort_size) as customers
    from cohort_rows
    where months_since = 0
    group by merchant_id
),
buying_customers as (
    select merchant_id, count(distinct customer_id) as customers
    from {{ ref('fct_orders') }}
    where not is_cancelled
    group by merchant_id
),
customer_problems as (
    select 'customers' as problem, coalesce(c.merchant_id, b.merchant_id) as merchant_id,
           cast(null as date) as activity_month, cast(null as date) as cohort_month,
           cast(null as integer) as months_since
    from cohort_customers as c
    full outer join buying_customers as b on b.merchant_id = c.merchant_id
    where c.merchant_id is null or b.merchant_id is null or c.customers <> b.customers
),
merchant_months as (
    select activity_month, sum(orders) as orders, sum(revenue) as revenue
    from cohort_rows
    group by activity_month
),
portal_months as (
    select activity_month, sum(orders) as orders, sum(revenue) as revenue
    from {{ ref('customer_cohorts') }}
    group by activity_month
),
month_problems as (
    select 'month totals' as problem, cast(null as bigint) as merchant_id,
           coalesce(m.activity_month, p.activity_month) as activity_month,
           cast(null as date) as cohort_month, cast(null as integer) as months_since
    from merchant_months as m
    full outer join portal_months as p on p.activity_month = m.activity_month
    where m.activity_month is null or p.activity_month is null
       or m.orders <> p.orders or m.revenue <> p.revenue
)
select * from row_problems
union all
select * from customer_problems
union all
select * from month_problems
