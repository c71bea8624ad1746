-- P10 <= P50 <= P90, never negative, and 28 days per series starting the same day.
select product_id, warehouse_id, min(forecast_on) as first_on, count(*) as days
from {{ ref('demand_forecast') }}
group by all
having count(*) <> 28
    or bool_or(p10 < 0 or p10 > p50 or p50 > p90)
    or min(forecast_on) <> (select min(forecast_on) from {{ ref('demand_forecast') }})
