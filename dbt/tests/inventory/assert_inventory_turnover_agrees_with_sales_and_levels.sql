-- Units and COGS by product and month equal fct_order_lines (the sales marts' numbers), and the
-- levels add up: product = sum of its warehouses, merchant = sum of its products.
{{ config(meta={'dagster': {'ref': {'name': 'inventory_turnover'}}}) }}
with sales as (
    select
        cast({{ dbt.date_trunc('month', 'placed_on') }} as date) as month_start,
        product_id,
        sum(units) as units,
        sum(cogs) as cogs
    from {{ ref('fct_order_lines') }}
    where not is_cancelled
    group by 1, 2
),

turnover as (
    select * from {{ ref('inventory_turnover') }}
),

product_vs_sales as (
    select coalesce(t.month_start, s.month_start) as month_start, coalesce(t.product_id, s.product_id) as product_id,
           'product level differs from fct_order_lines' as problem
    from (select * from turnover where level = 'product') as t
    full outer join (select * from sales where units <> 0 or cogs <> 0) as s
        on s.month_start = t.month_start and s.product_id = t.product_id
    where coalesce(t.units_sold, 0) <> coalesce(s.units, 0) or coalesce(t.cogs, 0) <> coalesce(s.cogs, 0)
),

warehouses_vs_product as (
    select p.month_start, p.product_id, 'warehouses do not add up to the product' as problem
    from (select * from turnover where level = 'product') as p
    join (
        select month_start, product_id, sum(units_sold) as units_sold, sum(cogs) as cogs,
               sum(stock_out_days) as stock_out_days, sum(on_hand_at_period_end) as on_hand_at_period_end,
               sum(average_inventory_value) as average_inventory_value, count(*) as n
        from turnover where level = 'product_warehouse' group by 1, 2
    ) as w on w.month_start = p.month_start and w.product_id = p.product_id
    where w.units_sold <> p.units_sold or abs(w.cogs - p.cogs) > 0.01 * w.n
       or w.stock_out_days <> p.stock_out_days or w.on_hand_at_period_end <> p.on_hand_at_period_end
       or abs(w.average_inventory_value - p.average_inventory_value) > 0.01 * w.n
),

products_vs_merchant as (
    select m.month_start, m.merchant_id as product_id, 'products do not add up to the merchant' as problem
    from (select * from turnover where level = 'merchant') as m
    join (
        select month_start, merchant_id, sum(units_sold) as units_sold, sum(cogs) as cogs,
               sum(stock_out_days) as stock_out_days, sum(average_inventory_value) as average_inventory_value,
               count(*) as n
        from turnover where level = 'product' group by 1, 2
    ) as p on p.month_start = m.month_start and p.merchant_id = m.merchant_id
    where p.units_sold <> m.units_sold or p.cogs <> m.cogs or p.stock_out_days <> m.stock_out_days
       or abs(p.average_inventory_value - m.average_inventory_value) > 0.01 * p.n
)

select * from product_vs_sales
union all
select * from warehouses_vs_product
union all
select * from products_vs_merchant
