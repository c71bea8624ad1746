{{ config(contract={"enforced": true}) }}
-- Every day from the first order to 28 days after the last (forecast horizons land on it too).
with bounds as (
    select min(cast(placed_at as date)) as first_day, max(cast(placed_at as date)) + 28 as last_day
    from {{ ref('stg_store__orders') }}
),
days as (
    select cast(d as date) as date_day
    from bounds, generate_series(bounds.first_day, bounds.last_day, interval 1 day) as t(d)
)
select
    date_day,
    cast(extract(year from date_day) as integer) as year,
    cast(extract(quarter from date_day) as integer) as quarter,
    cast(extract(month from date_day) as integer) as month,
    cast({{ dbt.date_trunc('month', 'date_day') }} as date) as month_start,
    cast({{ dbt.date_trunc('week', 'date_day') }} as date) as week_start,
    cast(extract(isodow from date_day) as integer) as day_of_week,
    dayname(date_day) as day_name,
    extract(isodow from date_day) in (6, 7) as is_weekend
from days
