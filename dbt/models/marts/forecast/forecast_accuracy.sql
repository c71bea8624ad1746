-- Published with the scores it judges: built after them, so a pipeline run builds every mart on
-- the models' output in one dbt step (Dagster runs a dbt step per hop between dbt and Python
-- assets; an extra step costs dbt's start-up, 7 to 8 s).
-- depends_on: {{ source('ml', 'demand_forecast') }}
{{ config(contract={"enforced": true}) }}
-- The demand model against its baselines: one row per model and backtest origin, and one row per
-- model over all origins pooled (scope 'overall', origin_on null): WAPE and bias from the summed
-- units, MASE and coverage weighted by the days scored.
with backtest as (
    select * from {{ source('ml', 'forecast_backtest') }}
),

per_origin as (
    select
        model,
        cast('origin' as varchar) as scope,
        origin_on,
        horizon_days,
        series,
        days_scored,
        actual_units,
        forecast_units,
        wape,
        mase,
        bias,
        coverage
    from backtest
),

overall as (
    select
        model,
        cast('overall' as varchar) as scope,
        cast(null as date) as origin_on,
        max(horizon_days) as horizon_days,
        max(series) as series,
        sum(days_scored) as days_scored,
        sum(actual_units) as actual_units,
        sum(forecast_units) as forecast_units,
        sum(abs_error_units) / nullif(sum(actual_units), 0) as wape,
        sum(mase * days_scored) / nullif(sum(days_scored), 0) as mase,
        (sum(forecast_units) - sum(actual_units)) / nullif(sum(actual_units), 0) as bias,
        sum(coverage * days_scored) / nullif(sum(case when coverage is not null then days_scored end), 0) as coverage
    from backtest
    group by model
),

unioned as (
    select * from per_origin
    union all
    select * from overall
),

baseline_wape as (
    select scope, origin_on, min(wape) as best_baseline_wape
    from unioned
    where model in ('seasonal_naive', 'moving_average_28')
    group by all
)

select
    u.model,
    u.scope,
    u.origin_on,
    cast(u.horizon_days as integer) as horizon_days,
    cast(u.series as integer) as series,
    cast(u.days_scored as bigint) as days_scored,
    cast(u.actual_units as double) as actual_units,
    cast(u.forecast_units as double) as forecast_units,
    cast(u.wape as double) as wape,
    cast(u.mase as double) as mase,
    cast(u.bias as double) as bias,
    cast(u.coverage as double) as coverage,
    u.model not in ('seasonal_naive', 'moving_average_28') as is_candidate,
    cast(case when u.model not in ('seasonal_naive', 'moving_average_28')
              then u.wape < b.best_baseline_wape end as boolean) as beats_every_baseline
from unioned as u
left join baseline_wape as b on b.scope = u.scope and b.origin_on is not distinct from u.origin_on
