-- Every unit ordered (orders not cancelled) is in demand_daily exactly once, per product and day,
-- whichever warehouses it was split over.
{{ config(meta={'dagster': {'ref': {'name': 'demand_daily'}}}) }}
with ordered as (
    select product_id, placed_on as day, sum(units) as units
    from {{ ref('fct_order_lines') }}
    where not is_cancelled and placed_on < {{ as_of_day() }}
    group by all
),

demand as (
    select product_id, day, sum(units) as units
    from {{ ref('demand_daily') }}
    where units > 0
    group by all
)

select coalesce(o.product_id, d.product_id) as product_id, coalesce(o.day, d.day) as day,
       o.units as ordered, d.units as in_demand
from ordered as o
full outer join demand as d on d.product_id = o.product_id and d.day = o.day
where abs(coalesce(o.units, 0) - coalesce(d.units, 0)) > 1e-6
