-- Cohorts: rates in [0, 1], month 0 keeps the whole cohort, active never exceeds the cohort,
-- every customer with an order not cancelled sits in exactly one cohort, and the cohorts' revenue
-- adds up to all net revenue in fct_orders.
{{ config(meta={'dagster': {'ref': {'name': 'customer_cohorts'}}}) }}
with cohort_rows as (
    select * from {{ ref('customer_cohorts') }}
),
row_problems as (
    select 'row' as problem, cohort_month, months_since
    from cohort_rows
    where retention_rate < 0 or retention_rate > 1
       or active_customers > cohort_size
       or (months_since = 0 and (active_customers <> cohort_size or retention_rate <> 1))
       or activity_month <> cast({{ dbt.dateadd('month', 'months_since', 'cohort_month') }} as date)
),
totals as (
    select
        (select sum(cohort_size) from cohort_rows where months_since = 0) as cohort_customers,
        (select count(distinct customer_id) from {{ ref('fct_orders') }} where not is_cancelled) as buying_customers,
        (select sum(revenue) from cohort_rows) as cohort_revenue,
        (select sum(net_revenue) from {{ ref('fct_orders') }}) as order_revenue
)
select problem, cohort_month, months_since from row_problems
union all
select 'totals', null, null
from totals
where cohort_customers <> buying_customers or cohort_revenue <> order_revenue
