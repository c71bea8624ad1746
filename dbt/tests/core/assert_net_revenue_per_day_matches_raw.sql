-- fct_orders' net revenue per day equals the store's own figures to the cent, computed straight
-- from raw: subtotal - discount of orders not cancelled, less approved refunds on their orders.
{{ config(meta={'dagster': {'ref': {'name': 'fct_orders'}}}) }}
with store_side as (
    select
        cast(o.placed_at as date) as day,
        sum(case when o.status <> 'cancelled' then o.subtotal - o.discount else 0 end) as sales,
        0 as refunds
    from {{ source('store', 'orders') }} as o
    group by all
    union all
    select cast(o.placed_at as date) as day, 0 as sales, sum(t.amount) as refunds
    from {{ source('store', 'payment_transactions') }} as t
    join {{ source('store', 'payments') }} as p on p.id = t.payment_id
    join {{ source('store', 'orders') }} as o on o.id = p.order_id
    where t.kind = 'refund' and t.outcome = 'approved'
    group by all
),
store_days as (
    select day, sum(sales) - sum(refunds) as net_revenue from store_side group by all
),
mart_days as (
    select placed_on as day, sum(net_revenue) as net_revenue from {{ ref('fct_orders') }} group by all
)
select coalesce(s.day, m.day) as day, s.net_revenue as store_net_revenue, m.net_revenue as mart_net_revenue
from store_days as s
full outer join mart_days as m on m.day = s.day
where coalesce(s.net_revenue, 0) <> coalesce(m.net_revenue, 0)
