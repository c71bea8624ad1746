-- product_performance and sales_trends add up to fct_daily_sales in every period: product rows per
-- period (units and net revenue), and each sales_trends dimension's values per period (units and
-- net revenue) — refunds sit on the day paid in all three.
{{ config(meta={'dagster': {'ref': {'name': 'product_performance'}}}) }}
with daily as (
    select d.day, d.units, d.net_revenue, dd.week_start, dd.month_start
    from {{ ref('fct_daily_sales') }} as d
    join {{ ref('dim_dates') }} as dd on dd.date_day = d.day
),
expected as (
    select 'week' as period_type, week_start as period_start, sum(units) as units, sum(net_revenue) as net_revenue
    from daily group by week_start
    union all
    select 'month', month_start, sum(units), sum(net_revenue)
    from daily group by month_start
),
actual as (
    select 'product_performance' as source, period_type, period_start,
           sum(units) as units, sum(net_revenue) as net_revenue
    from {{ ref('product_performance') }}
    group by period_type, period_start
    union all
    select 'sales_trends:' || dimension, period_type, period_start, sum(units), sum(net_revenue)
    from {{ ref('sales_trends') }}
    group by dimension, period_type, period_start
)
select a.source, a.period_type, a.period_start, a.units, e.units as expected_units,
       a.net_revenue, e.net_revenue as expected_net_revenue
from actual as a
left join expected as e on e.period_type = a.period_type and e.period_start = a.period_start
where coalesce(e.units, 0) <> a.units or coalesce(e.net_revenue, 0) <> a.net_revenue
union all
-- and no period with sales is missing from a mart
select 'missing period', e.period_type, e.period_start, null, e.units, null, e.net_revenue
from expected as e
where not exists (
    select 1 from {{ ref('product_performance') }} as p
    where p.period_type = e.period_type and p.period_start = e.period_start
)
