-- finance_daily's net revenue over all days and merchants equals fct_daily_sales' and fct_orders'
-- to the cent: refunds land on other days than their orders, but not in other totals. Its other
-- sales columns add up to fct_daily_sales' too (the day x merchant spine loses nothing).
{{ config(meta={'dagster': {'ref': {'name': 'finance_daily'}}}) }}
with finance as (
    select
        sum(net_revenue) as net_revenue,
        sum(gross_sales) as gross_sales,
        sum(discounts) as discounts,
        sum(refunds) as refunds,
        sum(cogs) as cogs,
        sum(gross_margin) as gross_margin
    from {{ ref('finance_daily') }}
),
daily_sales as (
    select
        sum(net_revenue) as net_revenue,
        sum(gross_sales) as gross_sales,
        sum(discounts) as discounts,
        sum(refunds) as refunds,
        sum(cogs) as cogs,
        sum(gross_margin) as gross_margin
    from {{ ref('fct_daily_sales') }}
),
orders as (
    select sum(net_revenue) as net_revenue from {{ ref('fct_orders') }}
)
select
    f.net_revenue as finance_net_revenue,
    d.net_revenue as daily_sales_net_revenue,
    o.net_revenue as orders_net_revenue
from finance as f
cross join daily_sales as d
cross join orders as o
where f.net_revenue <> d.net_revenue
   or f.net_revenue <> o.net_revenue
   or f.gross_sales <> d.gross_sales
   or f.discounts <> d.discounts
   or f.refunds <> d.refunds
   or f.cogs <> d.cogs
   or f.gross_margin <> d.gross_margin
