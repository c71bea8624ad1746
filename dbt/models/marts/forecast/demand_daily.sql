{{ config(contract={"enforced": true}) }}
-- Day x product x warehouse: units ordered (the demand the forecasts learn from), whether the day
-- was censored by a stock-out, and the price, promotion and competitor context of the day.
-- Every day from the pair's first order or stock movement to the day before the as-of day.
--   warehouse  the warehouse the order's reservation drew on; for orders without a reservation
--              (imported history) the product's replenishment-policy warehouse, else the one
--              with most stock movements, else 0 = "not drawn from a warehouse".
--   censored   the pair started the day out of stock (available <= 0 at the previous day's end)
--              and sold nothing: the zero is lost demand, not zero demand, and models skip it.
with lines as (
    select order_line_id, product_id, merchant_id, placed_on, units, gross_sales, discounts, unit_price
    from {{ ref('fct_order_lines') }}
    where not is_cancelled
),

reserved_by_warehouse as (
    select order_line_id, warehouse_id, sum(quantity) as quantity
    from {{ ref('stg_store__reservations') }}
    group by all
),

line_reserved as (
    select order_line_id, sum(quantity) as quantity from reserved_by_warehouse group by all
),

policy_home as (
    select product_id, min(warehouse_id) as warehouse_id
    from {{ ref('stg_store__replenishment_policies') }}
    group by all
),

movement_home as (
    select product_id, arg_max(warehouse_id, movements) as warehouse_id
    from (
        select product_id, warehouse_id, count(*) as movements
        from {{ ref('stg_store__stock_movements') }}
        group by all
    ) as m
    group by all
),

-- a line's units split over the warehouses that reserved them, in proportion to the reservations
line_units as (
    select
        l.product_id,
        l.merchant_id,
        l.placed_on as day,
        coalesce(r.warehouse_id, ph.warehouse_id, mh.warehouse_id, 0) as warehouse_id,
        l.units * coalesce(r.quantity / nullif(t.quantity, 0), 1) as units,
        l.gross_sales * coalesce(r.quantity / nullif(t.quantity, 0), 1) as gross_sales,
        l.discounts * coalesce(r.quantity / nullif(t.quantity, 0), 1) as discounts
    from lines as l
    left join reserved_by_warehouse as r on r.order_line_id = l.order_line_id
    left join line_reserved as t on t.order_line_id = l.order_line_id
    left join policy_home as ph on ph.product_id = l.product_id
    left join movement_home as mh on mh.product_id = l.product_id
),

sold as (
    select product_id, warehouse_id, day, sum(units) as units, sum(gross_sales) as gross_sales,
           sum(discounts) as discounts
    from line_units
    group by all
),

positions as (
    select product_id, warehouse_id, day, on_hand - reserved as available
    from {{ ref('int_stock_positions_daily') }}
),

as_of as (
    select {{ as_of_day() }} as as_of_on
),

pairs as (
    select product_id, warehouse_id, min(day) as first_day
    from (
        select product_id, warehouse_id, day from sold
        union all
        select product_id, warehouse_id, day from positions
    ) as activity
    group by all
),

spine as (
    select p.product_id, p.warehouse_id, cast(d.d as date) as day
    from pairs as p
    cross join as_of as a
    cross join lateral generate_series(p.first_day, a.as_of_on - 1, interval 1 day) as d(d)
),

products as (
    select product_id, merchant_id, category, price, is_active from {{ ref('dim_products') }}
),

-- a campaign without a merchant is the whole shop's
campaign_days as (
    select distinct m.merchant_id, cast(d.d as date) as day
    from {{ ref('stg_store__campaigns') }} as c
    join {{ ref('dim_merchants') }} as m on m.merchant_id = coalesce(c.merchant_id, m.merchant_id)
    cross join lateral generate_series(c.starts_on, c.ends_on, interval 1 day) as d(d)
),

competitor as (
    select observed_on as day, product_id, price_index from {{ ref('competitor_price_index') }}
)

select
    s.day,
    s.product_id,
    cast(s.warehouse_id as integer) as warehouse_id,
    pr.merchant_id,
    pr.category,
    cast(coalesce(so.units, 0) as double) as units,
    coalesce(
        coalesce(pr.is_active, false) and coalesce(so.units, 0) = 0 and prev.available <= 0, false
    ) as is_censored,
    cast(so.gross_sales / nullif(so.units, 0) as decimal(14, 2)) as avg_unit_price,
    pr.price as list_price,
    cast(coalesce(so.discounts / nullif(so.gross_sales, 0), 0) as double) as discount_share,
    cd.merchant_id is not null as is_campaign_day,
    cast(c.price_index as double) as competitor_price_index
from spine as s
left join sold as so on so.product_id = s.product_id and so.warehouse_id = s.warehouse_id and so.day = s.day
left join positions as prev
    on prev.product_id = s.product_id and prev.warehouse_id = s.warehouse_id and prev.day = s.day - 1
left join products as pr on pr.product_id = s.product_id
left join campaign_days as cd on cd.merchant_id = pr.merchant_id and cd.day = s.day
left join competitor as c on c.product_id = s.product_id and c.day = s.day
