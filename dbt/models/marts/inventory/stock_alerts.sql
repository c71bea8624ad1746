{{ config(contract={"enforced": true}) }}
-- Product x warehouse needing replenishment now: every low-stock alert open in the store, plus
-- every active product whose available stock is at or below its reorder point or safety stock
-- without an open alert (the store opens alerts only on stock changes it posts itself; bulk
-- imports and the simulator write the ledger directly). Stock is the store's current balance.
with policies as (
    select * from {{ ref('stg_store__replenishment_policies') }}
),

levels as (
    select * from {{ ref('stg_store__stock_levels') }}
),

open_alerts as (
    select * from {{ ref('stg_store__stock_alerts') }}
    where status = 'open'
),

products as (
    select product_id, merchant_id, sku, product_name, avg_unit_cost, is_active
    from {{ ref('dim_products') }}
),

on_order as (
    select * from {{ ref('int_stock_on_order') }}
),

-- every pair with a policy or an open alert (an alert may outlive its policy)
pairs as (
    select product_id, warehouse_id from policies
    union
    select product_id, warehouse_id from open_alerts
),

positions as (
    select
        k.product_id,
        k.warehouse_id,
        coalesce(lv.on_hand, 0) as on_hand,
        coalesce(lv.reserved, 0) as reserved,
        coalesce(lv.on_hand, 0) - coalesce(lv.reserved, 0) as available,
        coalesce(oo.on_order, 0) as on_order,
        pol.reorder_point,
        coalesce(pol.safety_stock, 0) as safety_stock,
        coalesce(pol.reorder_qty, 0) as reorder_qty,
        coalesce(pol.order_multiple, 1) as order_multiple,
        pol.lead_time_days
    from pairs as k
    left join policies as pol on pol.product_id = k.product_id and pol.warehouse_id = k.warehouse_id
    left join levels as lv on lv.product_id = k.product_id and lv.warehouse_id = k.warehouse_id
    left join on_order as oo on oo.product_id = k.product_id and oo.warehouse_id = k.warehouse_id
),

-- the first day of the current unbroken run of day-ends at or below the (current) threshold
daily_positions as (
    select
        d.product_id,
        d.warehouse_id,
        d.day,
        d.on_hand - d.reserved <= greatest(p.reorder_point, p.safety_stock) as is_low
    from {{ ref('int_stock_positions_daily') }} as d
    join positions as p on p.product_id = d.product_id and p.warehouse_id = d.warehouse_id
),

low_since as (
    select
        product_id,
        warehouse_id,
        min(case when is_low and day > coalesce(last_ok_day, cast('1900-01-01' as date)) then day end)
            as low_since_on
    from (
        select *, max(case when not is_low then day end) over (partition by product_id, warehouse_id) as last_ok_day
        from daily_positions
    ) as runs
    group by product_id, warehouse_id
),

items as (
    select
        p.product_id,
        p.warehouse_id,
        a.stock_alert_id,
        a.opened_at,
        p.on_hand,
        p.reserved,
        p.available,
        p.on_order,
        -- without a policy, the reorder point the alert was opened at
        coalesce(p.reorder_point, a.reorder_point) as reorder_point,
        p.safety_stock,
        p.reorder_qty,
        p.order_multiple,
        p.lead_time_days
    from positions as p
    left join open_alerts as a on a.product_id = p.product_id and a.warehouse_id = p.warehouse_id
    left join products as pr on pr.product_id = p.product_id
    where a.stock_alert_id is not null
       or (pr.is_active and p.available <= greatest(p.reorder_point, p.safety_stock))
),

suggested as (
    select
        *,
        -- METRICS: reorder point + demand over the review period (the policy's reorder quantity
        -- until forecasts exist) - (on hand + on order - reserved), never below zero, rounded up
        -- to the order multiple; the same formula as the store's alert service
        case
            when reorder_point + reorder_qty - (on_hand + on_order - reserved) <= 0 then 0
            else cast(ceil(cast(reorder_point + reorder_qty - (on_hand + on_order - reserved) as double)
                           / order_multiple) as integer) * order_multiple
        end as suggested_qty
    from items
)

select
    s.product_id,
    s.warehouse_id,
    pr.merchant_id,
    pr.sku,
    pr.product_name,
    cast(case when s.stock_alert_id is not null then 'store_alert' else 'stock_level' end as varchar) as alert_source,
    s.stock_alert_id,
    s.opened_at,
    ls.low_since_on,
    cast(s.on_hand as integer) as on_hand,
    cast(s.reserved as integer) as reserved,
    cast(s.available as integer) as available,
    cast(s.on_order as integer) as on_order,
    cast(s.reorder_point as integer) as reorder_point,
    cast(s.safety_stock as integer) as safety_stock,
    coalesce(s.available <= s.safety_stock, false) as is_below_safety_stock,
    cast(s.lead_time_days as integer) as lead_time_days,
    cast(s.suggested_qty as integer) as suggested_qty,
    pr.avg_unit_cost,
    cast(s.suggested_qty * pr.avg_unit_cost as decimal(14, 2)) as suggested_value
from suggested as s
left join products as pr on pr.product_id = s.product_id
left join low_since as ls on ls.product_id = s.product_id and ls.warehouse_id = s.warehouse_id
