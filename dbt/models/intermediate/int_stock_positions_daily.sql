-- Day x product x warehouse: the stock position at the end of each day, rebuilt from the ledger.
-- Rows run every day from the pair's first movement (or reservation) to the last day with orders
-- or movements in the warehouse; days without movements carry the position forward.
--
--   on_hand        cumulative sum of the signed ledger quantities (METRICS: on hand).
--   reserved       units of reservations held at the end of the day. Reservations only keep their
--                  current status, so history is reconstructed: a reservation is held from its
--                  created_at until its updated_at when it is consumed (shipped: updated_at is the
--                  sale movement's time) or released (order cancelled); an active one is still
--                  held. Approximation: a terminal reservation touched again later would count
--                  as held until that later update.
--   avg_unit_cost  weighted average unit cost in force at the end of the day (per product, all
--                  warehouses, like the store's valuation). Outflows leave at the average in force
--                  and inflows add their own cost, so the value of the stock is the running sum of
--                  quantity x unit_cost over the product's ledger and the average is that value /
--                  the running units (exact up to the store's rounding to 1/10000). With no units
--                  left, the last movement's unit cost. On the current (last) day the store's own
--                  stock_valuations figure is used, so today's stock value matches the store's.
-- Set-based on purpose (a date spine joined to per-day deltas, then running sums): a large shop
-- has products x warehouses x days rows here.
with movements as (
    select
        stock_movement_id,
        product_id,
        warehouse_id,
        cast(created_at as date) as day,
        created_at,
        quantity,
        unit_cost
    from {{ ref('stg_store__stock_movements') }}
),

reservations as (
    select
        product_id,
        warehouse_id,
        quantity,
        status,
        cast(created_at as date) as reserved_on,
        -- a consumed or released reservation stopped holding stock at its last update
        case when status in ('consumed', 'released') then cast(coalesce(updated_at, created_at) as date) end
            as ended_on
    from {{ ref('stg_store__reservations') }}
),

-- the last day of the positions: the last order day, or a later movement day
last_day as (
    select max(day) as last_day
    from (
        select max(placed_on) as day from {{ ref('fct_orders') }}
        union all
        select max(day) from movements
    ) as ends
),

-- +units on the day a reservation was taken, -units on the day it ended
reservation_changes as (
    select product_id, warehouse_id, reserved_on as day, quantity as reserved_change
    from reservations
    union all
    select product_id, warehouse_id, ended_on as day, -quantity as reserved_change
    from reservations
    where ended_on is not null
),

pair_movements_daily as (
    select
        product_id,
        warehouse_id,
        day,
        sum(case when quantity > 0 then quantity else 0 end) as units_in,
        sum(case when quantity < 0 then -quantity else 0 end) as units_out,
        sum(quantity) as net_units
    from movements
    group by product_id, warehouse_id, day
),

pair_reservations_daily as (
    select product_id, warehouse_id, day, sum(reserved_change) as reserved_change
    from reservation_changes
    group by product_id, warehouse_id, day
),

pairs as (
    select product_id, warehouse_id, min(day) as first_day
    from (
        select product_id, warehouse_id, day from pair_movements_daily
        union all
        select product_id, warehouse_id, day from pair_reservations_daily
    ) as activity
    group by product_id, warehouse_id
),

calendar as (
    select cast(t.d as date) as day
    from (select min(first_day) as first_day from pairs) as b
    cross join last_day
    cross join generate_series(b.first_day, last_day.last_day, interval 1 day) as t(d)
),

pair_days as (
    select p.product_id, p.warehouse_id, c.day
    from pairs as p
    join calendar as c on c.day >= p.first_day
),

pair_positions as (
    select
        d.day,
        d.product_id,
        d.warehouse_id,
        coalesce(m.units_in, 0) as units_in,
        coalesce(m.units_out, 0) as units_out,
        sum(coalesce(m.net_units, 0)) over (
            partition by d.product_id, d.warehouse_id order by d.day rows between unbounded preceding and current row
        ) as on_hand,
        sum(coalesce(r.reserved_change, 0)) over (
            partition by d.product_id, d.warehouse_id order by d.day rows between unbounded preceding and current row
        ) as reserved
    from pair_days as d
    left join pair_movements_daily as m
        on m.product_id = d.product_id and m.warehouse_id = d.warehouse_id and m.day = d.day
    left join pair_reservations_daily as r
        on r.product_id = d.product_id and r.warehouse_id = d.warehouse_id and r.day = d.day
),

-- weighted average cost: per product over all its warehouses
last_movement_of_day as (
    select product_id, day, unit_cost
    from (
        select
            product_id,
            day,
            unit_cost,
            row_number() over (
                partition by product_id, day order by created_at desc, stock_movement_id desc
            ) as rn
        from movements
    ) as ranked
    where rn = 1
),

product_value_daily as (
    select product_id, day, sum(quantity * unit_cost) as value_change, sum(quantity) as unit_change
    from movements
    group by product_id, day
),

product_days as (
    select p.product_id, c.day
    from (select product_id, min(day) as first_day from movements group by product_id) as p
    join calendar as c on c.day >= p.first_day
),

product_running_value as (
    select
        d.product_id,
        d.day,
        sum(coalesce(v.value_change, 0)) over w as running_value,
        sum(coalesce(v.unit_change, 0)) over w as running_units,
        l.unit_cost as last_unit_cost_of_day,
        -- groups of days that share the latest movement (carry the last unit cost forward)
        count(l.unit_cost) over w as movement_day_group
    from product_days as d
    left join product_value_daily as v on v.product_id = d.product_id and v.day = d.day
    left join last_movement_of_day as l on l.product_id = d.product_id and l.day = d.day
    window w as (partition by d.product_id order by d.day rows between unbounded preceding and current row)
),

product_avg_cost as (
    select
        r.product_id,
        r.day,
        case
            when r.day = last_day.last_day and val.avg_unit_cost is not null then val.avg_unit_cost
            when r.running_units > 0 then r.running_value / r.running_units
            else max(r.last_unit_cost_of_day) over (partition by r.product_id, r.movement_day_group)
        end as avg_unit_cost
    from product_running_value as r
    cross join last_day
    left join {{ ref('stg_store__stock_valuations') }} as val on val.product_id = r.product_id
)

select
    p.day,
    p.product_id,
    p.warehouse_id,
    cast(p.units_in as bigint) as units_in,
    cast(p.units_out as bigint) as units_out,
    cast(p.on_hand as bigint) as on_hand,
    cast(p.reserved as bigint) as reserved,
    cast(coalesce(c.avg_unit_cost, 0) as decimal(14, 4)) as avg_unit_cost
from pair_positions as p
left join product_avg_cost as c on c.product_id = p.product_id and c.day = p.day
