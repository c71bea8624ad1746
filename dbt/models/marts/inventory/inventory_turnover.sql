{{ config(contract={"enforced": true}) }}
{#- Weeks of history a product needs before its weekly demand variation means anything (XYZ). -#}
{%- set xyz_min_weeks = 8 -%}
-- Month x product x warehouse, rolled up to month x product and month x merchant (column level).
-- Stock figures come from inventory_daily, sales from fct_order_lines by the month of sale,
-- ABC/XYZ classes are as of the as-of day and repeated on every product row. The yml tells the
-- definitions; the comments here tell how.
with daily as (
    select * from {{ ref('inventory_daily') }}
),

order_lines as (
    select order_line_id, product_id, merchant_id, placed_on, units, cogs
    from {{ ref('fct_order_lines') }}
    where not is_cancelled
),

-- Which warehouse a sale came from: the warehouse of its sale movement(s) in the ledger; not
-- shipped yet, the warehouse holding its reservation; neither, the product's first warehouse.
-- A line split over warehouses is shared in proportion to the units each shipped (reserved).
line_warehouse_units as (
    select ref_id as order_line_id, warehouse_id, sum(-quantity) as units, 1 as source_priority
    from {{ ref('stg_store__stock_movements') }}
    where kind = 'sale' and ref_type = 'order_line'
    group by ref_id, warehouse_id
    union all
    select order_line_id, warehouse_id, sum(quantity) as units, 2 as source_priority
    from {{ ref('stg_store__reservations') }}
    where status <> 'released'
    group by order_line_id, warehouse_id
),

line_warehouse_share as (
    select
        order_line_id,
        warehouse_id,
        cast(units as decimal(18, 8)) / sum(units) over (partition by order_line_id) as share
    from (
        select *, min(source_priority) over (partition by order_line_id) as best_priority
        from line_warehouse_units
    ) as sources
    where source_priority = best_priority
),

product_first_warehouse as (
    select product_id, min(warehouse_id) as warehouse_id
    from daily
    group by product_id
),

sales_by_warehouse as (
    select
        cast({{ dbt.date_trunc('month', 'l.placed_on') }} as date) as month_start,
        l.placed_on,
        l.product_id,
        l.merchant_id,
        coalesce(s.warehouse_id, f.warehouse_id) as warehouse_id,
        l.units * coalesce(s.share, 1) as units,
        l.cogs * coalesce(s.share, 1) as cogs
    from order_lines as l
    left join line_warehouse_share as s on s.order_line_id = l.order_line_id
    left join product_first_warehouse as f on f.product_id = l.product_id
),

-- The months reported and how many days of each the data covers (the first and the current
-- month are partial): days before a pair's first movement count as no stock.
bounds as (
    select
        least(min(first_day), min(first_day_sold)) as first_day,
        greatest(max(last_day), max(last_day_sold)) as last_day
    from (
        select min(day) as first_day, max(day) as last_day, null as first_day_sold, null as last_day_sold
        from daily
        union all
        select null, null, min(placed_on), max(placed_on) from order_lines
    ) as ends
),

months as (
    select
        m.month_start,
        greatest(m.month_start, b.first_day) as period_start_on,
        least(cast({{ dbt.last_day('m.month_start', 'month') }} as date), b.last_day) as period_end_on
    from (
        select distinct cast({{ dbt.date_trunc('month', 'day') }} as date) as month_start from daily
        union
        select distinct month_start from sales_by_warehouse
    ) as m
    cross join bounds as b
),

periods as (
    select
        month_start,
        period_end_on,
        cast({{ dbt.datediff('period_start_on', 'period_end_on', 'day') }} + 1 as integer) as days_in_period
    from months
),

stock_monthly as (
    select
        m.month_start,
        d.product_id,
        d.warehouse_id,
        d.merchant_id,
        sum(d.stock_value) as stock_value_days,
        sum(case when d.is_stock_out then 1 else 0 end) as stock_out_days,
        sum(case when d.day = m.period_end_on then d.on_hand else 0 end) as on_hand_at_period_end,
        sum(case when d.day = m.period_end_on then d.stock_value else 0 end) as stock_value_at_period_end
    from daily as d
    join periods as m on m.month_start = cast({{ dbt.date_trunc('month', 'd.day') }} as date)
    group by m.month_start, d.product_id, d.warehouse_id, d.merchant_id
),

sales_monthly as (
    select month_start, product_id, warehouse_id, merchant_id, sum(units) as units_sold, sum(cogs) as cogs
    from sales_by_warehouse
    group by month_start, product_id, warehouse_id, merchant_id
),

product_warehouse_months as (
    select
        coalesce(st.month_start, sa.month_start) as month_start,
        coalesce(st.merchant_id, sa.merchant_id) as merchant_id,
        coalesce(st.product_id, sa.product_id) as product_id,
        coalesce(st.warehouse_id, sa.warehouse_id) as warehouse_id,
        coalesce(sa.units_sold, 0) as units_sold,
        coalesce(sa.cogs, 0) as cogs,
        coalesce(st.stock_value_days, 0) as stock_value_days,
        coalesce(st.on_hand_at_period_end, 0) as on_hand_at_period_end,
        coalesce(st.stock_value_at_period_end, 0) as stock_value_at_period_end,
        coalesce(st.stock_out_days, 0) as stock_out_days
    from stock_monthly as st
    full outer join sales_monthly as sa
        on sa.month_start = st.month_start
        and sa.product_id = st.product_id
        and sa.warehouse_id = st.warehouse_id
),

-- Additive figures roll up by summing; the ratios are computed afterwards from the sums.
levels as (
    select
        'product_warehouse' as level, month_start, merchant_id, product_id, warehouse_id,
        units_sold, cogs, stock_value_days, on_hand_at_period_end, stock_value_at_period_end, stock_out_days
    from product_warehouse_months
    union all
    select
        'product' as level, month_start, merchant_id, product_id, null as warehouse_id,
        sum(units_sold), sum(cogs), sum(stock_value_days), sum(on_hand_at_period_end),
        sum(stock_value_at_period_end), sum(stock_out_days)
    from product_warehouse_months
    group by month_start, merchant_id, product_id
    union all
    select
        'merchant' as level, month_start, merchant_id, null as product_id, null as warehouse_id,
        sum(units_sold), sum(cogs), sum(stock_value_days), sum(on_hand_at_period_end),
        sum(stock_value_at_period_end), sum(stock_out_days)
    from product_warehouse_months
    group by month_start, merchant_id
),

-- ABC / XYZ as of the as-of day ---------------------------------------------------------------
as_of as (
    select {{ as_of_day() }} as as_of_on
),

products as (
    select product_id, merchant_id from {{ ref('dim_products') }}
),

daily_sales as (
    select day, product_id, units, net_revenue from {{ ref('fct_daily_sales') }}
),

revenue_28d as (
    select p.product_id, p.merchant_id, coalesce(sum(s.net_revenue), 0) as net_revenue_28d
    from products as p
    cross join as_of as a
    left join daily_sales as s
        on s.product_id = p.product_id
        and s.day >= {{ dbt.dateadd('day', -28, 'a.as_of_on') }}
        and s.day < a.as_of_on
    group by p.product_id, p.merchant_id
),

-- within each merchant's assortment, best seller first (ties by product id)
revenue_ranked as (
    select
        product_id,
        net_revenue_28d,
        sum(case when net_revenue_28d > 0 then net_revenue_28d else 0 end)
            over (partition by merchant_id) as merchant_revenue_28d,
        coalesce(sum(net_revenue_28d) over (
            partition by merchant_id order by net_revenue_28d desc, product_id
            rows between unbounded preceding and 1 preceding
        ), 0) as revenue_ranked_above
    from revenue_28d
),

abc as (
    select
        product_id,
        net_revenue_28d,
        case
            when net_revenue_28d <= 0 then 'C'
            when revenue_ranked_above < 0.80 * merchant_revenue_28d then 'A'
            when revenue_ranked_above < 0.95 * merchant_revenue_28d then 'B'
            else 'C'
        end as abc_class
    from revenue_ranked
),

-- 26 weeks of 7 days ending the day before the as-of day; week 0 is the latest
weeks as (
    select
        w.week_index,
        cast({{ dbt.dateadd('day', '-7 * (w.week_index + 1)', 'a.as_of_on') }} as date) as week_start_on
    from generate_series(0, 25) as w(week_index)
    cross join as_of as a
),

product_first_day as (
    select product_id, min(first_day) as first_day
    from (
        select product_id, min(day) as first_day from daily group by product_id
        union all
        select product_id, min(day) as first_day from daily_sales group by product_id
    ) as firsts
    group by product_id
),

weekly_units_in_window as (
    select
        s.product_id,
        cast(floor(({{ dbt.datediff('s.day', 'a.as_of_on', 'day') }} - 1) / 7) as integer) as week_index,
        sum(s.units) as units
    from daily_sales as s
    cross join as_of as a
    where s.day >= {{ dbt.dateadd('day', -182, 'a.as_of_on') }} and s.day < a.as_of_on
    group by s.product_id, 2
),

-- only whole weeks the product was around for (stocked or sold) count, with 0 for no sales
product_weeks as (
    select p.product_id, w.week_index, coalesce(u.units, 0) as units
    from products as p
    join product_first_day as f on f.product_id = p.product_id
    join weeks as w on w.week_start_on >= f.first_day
    left join weekly_units_in_window as u on u.product_id = p.product_id and u.week_index = w.week_index
),

weekly_variation as (
    select
        product_id,
        count(*) as weeks_of_history,
        avg(cast(units as double)) as mean_weekly_units,
        stddev_pop(cast(units as double)) as stddev_weekly_units
    from product_weeks
    group by product_id
),

xyz as (
    select
        p.product_id,
        case when v.weeks_of_history >= {{ xyz_min_weeks }} and v.mean_weekly_units > 0
             then v.stddev_weekly_units / v.mean_weekly_units end as weekly_units_cv,
        case
            when v.weeks_of_history is null or v.weeks_of_history < {{ xyz_min_weeks }}
                 or v.mean_weekly_units = 0 then 'Z'
            when v.stddev_weekly_units / v.mean_weekly_units < 0.5 then 'X'
            when v.stddev_weekly_units / v.mean_weekly_units <= 1.0 then 'Y'
            else 'Z'
        end as xyz_class
    from products as p
    left join weekly_variation as v on v.product_id = p.product_id
),

final as (
    select
        l.level,
        l.month_start,
        p.period_end_on,
        p.days_in_period,
        l.merchant_id,
        l.product_id,
        l.warehouse_id,
        l.units_sold,
        l.cogs,
        l.stock_value_days / p.days_in_period as average_inventory_value,
        l.on_hand_at_period_end,
        l.stock_value_at_period_end,
        l.stock_out_days,
        a.as_of_on,
        abc.abc_class,
        abc.net_revenue_28d,
        xyz.xyz_class,
        xyz.weekly_units_cv
    from levels as l
    join periods as p on p.month_start = l.month_start
    cross join as_of as a
    left join abc on abc.product_id = l.product_id
    left join xyz on xyz.product_id = l.product_id
)

select
    cast(
        level || '|' || cast(month_start as varchar) || '|' || cast(merchant_id as varchar)
        || '|' || coalesce(cast(product_id as varchar), '*') || '|' || coalesce(cast(warehouse_id as varchar), '*')
        as varchar
    ) as turnover_key,
    cast(level as varchar) as level,
    month_start,
    period_end_on,
    days_in_period,
    cast(merchant_id as bigint) as merchant_id,
    cast(product_id as bigint) as product_id,
    cast(warehouse_id as bigint) as warehouse_id,
    cast(round(units_sold) as integer) as units_sold,
    cast(cogs as decimal(14, 2)) as cogs,
    cast(average_inventory_value as decimal(14, 2)) as average_inventory_value,
    cast(on_hand_at_period_end as integer) as on_hand_at_period_end,
    cast(stock_value_at_period_end as decimal(14, 2)) as stock_value_at_period_end,
    cast(case when average_inventory_value > 0 then cogs / average_inventory_value end as double)
        as turnover_ratio,
    cast(case when average_inventory_value > 0 and cogs <> 0
              then days_in_period / (cogs / average_inventory_value) end as double) as days_of_inventory,
    cast(case when units_sold + on_hand_at_period_end > 0
              then units_sold / (units_sold + on_hand_at_period_end) end as double) as sell_through_rate,
    cast(stock_out_days as integer) as stock_out_days,
    cast(
        average_inventory_value
        * ({{ var('storage_rate') }} + {{ var('insurance_rate') }} + {{ var('capital_rate') }})
        * days_in_period / 365
        as decimal(14, 2)
    ) as holding_cost,
    as_of_on as classified_as_of,
    cast(abc_class as varchar) as abc_class,
    cast(net_revenue_28d as decimal(14, 2)) as abc_net_revenue_28d,
    cast(xyz_class as varchar) as xyz_class,
    cast(weekly_units_cv as double) as xyz_weekly_units_cv
from final
