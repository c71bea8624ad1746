{{ config(contract={"enforced": true}) }}
-- Historical lifetime value per customer (METRICS: Customers / Historical lifetime value), as of
-- the same day as customer_rfm: orders not cancelled and placed before the as-of day.
with as_of as (
    select {{ as_of_day() }} as as_of_on
),
counted_orders as (
    select o.customer_id, o.order_id, o.placed_on, o.net_revenue
    from {{ ref('fct_orders') }} as o
    cross join as_of as a
    where not o.is_cancelled
      and o.placed_on < a.as_of_on
),
customer_orders as (
    select
        customer_id,
        min(placed_on) as first_order_on,
        max(placed_on) as last_order_on,
        count(distinct order_id) as orders,
        sum(net_revenue) as lifetime_value
    from counted_orders
    group by customer_id
),
with_tenure as (
    select
        c.*,
        a.as_of_on,
        -- tenure: days as a customer, from the first order day to the as-of day (>= 1 here,
        -- because only orders before the as-of day count)
        {{ dbt.datediff('c.first_order_on', 'a.as_of_on', 'day') }} as tenure_days
    from customer_orders as c
    cross join as_of as a
)
select
    t.customer_id,
    d.customer_ref,
    t.first_order_on,
    t.last_order_on,
    cast(t.orders as integer) as orders,
    cast(t.lifetime_value as decimal(14, 2)) as lifetime_value,
    cast(t.lifetime_value / t.orders as decimal(14, 2)) as average_order_value,
    cast(t.tenure_days as integer) as tenure_days,
    -- orders per year of tenure; undefined (null) for a tenure of 0 days
    cast(t.orders as double) * 365.0 / nullif(t.tenure_days, 0) as purchase_frequency_per_year,
    t.as_of_on
from with_tenure as t
left join {{ ref('dim_customers') }} as d on d.customer_id = t.customer_id
