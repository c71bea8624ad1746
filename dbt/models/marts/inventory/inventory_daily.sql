{{ config(contract={"enforced": true}) }}
-- Day x product x warehouse: the stock position at the end of the day, valued at the weighted
-- average unit cost in force (int_stock_positions_daily tells how each figure is rebuilt).
with positions as (
    select * from {{ ref('int_stock_positions_daily') }}
),

products as (
    select product_id, merchant_id, is_active from {{ ref('dim_products') }}
)

select
    p.day,
    p.product_id,
    p.warehouse_id,
    pr.merchant_id,
    cast(p.on_hand as integer) as on_hand,
    cast(p.reserved as integer) as reserved,
    cast(p.on_hand - p.reserved as integer) as available,
    p.avg_unit_cost,
    cast(p.on_hand * p.avg_unit_cost as decimal(14, 2)) as stock_value,
    -- the product's current active flag (the store keeps no history of it)
    coalesce(pr.is_active, false) as is_active_product,
    coalesce(pr.is_active, false) and p.on_hand - p.reserved <= 0 as is_stock_out
from positions as p
left join products as pr on pr.product_id = p.product_id
