-- Marts that roll up sales agree with fct_orders: lines sum to their order, and the daily sales
-- (refunds on the day paid) sum to the same total net revenue, COGS and units.
{{ config(meta={'dagster': {'ref': {'name': 'fct_orders'}}}) }}
with orders as (
    select sum(net_revenue) as net_revenue, sum(cogs) as cogs, sum(units) as units, sum(gross_sales) as gross
    from {{ ref('fct_orders') }}
),
daily as (
    select sum(net_revenue) as net_revenue, sum(cogs) as cogs, sum(units) as units, sum(gross_sales) as gross
    from {{ ref('fct_daily_sales') }}
),
line_vs_order as (
    select o.order_id
    from {{ ref('fct_orders') }} as o
    join (select order_id, sum(gross_sales) as gross, sum(discounts) as discounts, sum(cogs) as cogs
          from {{ ref('fct_order_lines') }} group by all) as l using (order_id)
    where l.gross <> o.gross_sales or l.discounts <> o.discounts or l.cogs <> o.cogs
)
select 'daily sales differ from fct_orders' as problem from orders, daily
where orders.net_revenue <> daily.net_revenue or orders.cogs <> daily.cogs or orders.units <> daily.units
   or orders.gross <> daily.gross
union all
select 'order ' || order_id || ': lines differ from the order' from line_vs_order
