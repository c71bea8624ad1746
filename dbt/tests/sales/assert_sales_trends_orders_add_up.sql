-- An order has one channel and one customer, so sales_trends' channel and region values add up to
-- the orders placed in the period and not cancelled (categories may count an order more than once,
-- never fewer times in total).
{{ config(meta={'dagster': {'ref': {'name': 'sales_trends'}}}) }}
with orders as (
    select o.placed_on, d.week_start, d.month_start, o.order_id
    from {{ ref('fct_orders') }} as o
    join {{ ref('dim_dates') }} as d on d.date_day = o.placed_on
    where not o.is_cancelled
),
expected as (
    select 'week' as period_type, week_start as period_start, count(*) as orders from orders group by week_start
    union all
    select 'month', month_start, count(*) from orders group by month_start
),
actual as (
    select dimension, period_type, period_start, sum(orders) as orders
    from {{ ref('sales_trends') }}
    group by dimension, period_type, period_start
)
select a.dimension, a.period_type, a.period_start, a.orders, e.orders as expected_orders
from actual as a
left join expected as e on e.period_type = a.period_type and e.period_start = a.period_start
where (a.dimension in ('channel', 'region') and a.orders <> coalesce(e.orders, 0))
   or (a.dimension = 'category' and a.orders < coalesce(e.orders, 0))
