{{ config(contract={"enforced": true}) }}
-- Cohort retention (METRICS: Customers / Cohort retention): customers by the month of their first
-- order not cancelled x months since that month (0, 1, 2, ... up to the latest order month).
with orders as (
    select
        customer_id,
        order_id,
        cast({{ dbt.date_trunc('month', 'placed_on') }} as date) as order_month,
        net_revenue
    from {{ ref('fct_orders') }}
    where not is_cancelled
),
cohort_of_customer as (
    select customer_id, min(order_month) as cohort_month
    from orders
    group by customer_id
),
cohorts as (
    select cohort_month, count(*) as cohort_size
    from cohort_of_customer
    group by cohort_month
),
last_month as (
    select max(order_month) as last_order_month from orders
),
months as (
    select distinct month_start as activity_month
    from {{ ref('dim_dates') }}
),
-- every cohort gets a row for every month from its own up to the latest order month, so months
-- without any order show 0 rather than being missing
cohort_months as (
    select
        c.cohort_month,
        c.cohort_size,
        m.activity_month,
        {{ dbt.datediff('c.cohort_month', 'm.activity_month', 'month') }} as months_since
    from cohorts as c
    join months as m on m.activity_month >= c.cohort_month
    cross join last_month as l
    where m.activity_month <= l.last_order_month
),
activity as (
    select
        c.cohort_month,
        o.order_month as activity_month,
        count(distinct o.customer_id) as active_customers,
        count(distinct o.order_id) as orders,
        sum(o.net_revenue) as revenue
    from orders as o
    join cohort_of_customer as c on c.customer_id = o.customer_id
    group by c.cohort_month, o.order_month
)
select
    m.cohort_month,
    cast(m.months_since as integer) as months_since,
    m.activity_month,
    cast(m.cohort_size as integer) as cohort_size,
    cast(coalesce(a.active_customers, 0) as integer) as active_customers,
    cast(coalesce(a.active_customers, 0) as double) / m.cohort_size as retention_rate,
    cast(coalesce(a.orders, 0) as integer) as orders,
    cast(coalesce(a.revenue, 0) as decimal(14, 2)) as revenue
from cohort_months as m
left join activity as a
    on a.cohort_month = m.cohort_month
   and a.activity_month = m.activity_month
