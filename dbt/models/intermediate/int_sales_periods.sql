-- Calendar periods (ISO weeks from Monday, months) that hold sales data, with their nominal first
-- and last day; a period is partial when the data starts or stops inside it. Shared by the sales
-- marts (product_performance, sales_trends) so both cut time the same way.
with bounds as (
    -- periods run from the first to the last day with sales or refunds
    select min(day) as first_day, max(day) as last_day from {{ ref('fct_daily_sales') }}
),

periods as (
    -- calendar periods (ISO weeks from Monday, months), with their nominal first and last day
    {%- for period_type in ['week', 'month'] %}
    select distinct
        '{{ period_type }}' as period_type,
        {{ period_type }}_start as period_start,
        cast({{ dbt.dateadd('day', -1, dbt.dateadd(period_type, 1, period_type ~ '_start')) }} as date) as period_end
    from {{ ref('dim_dates') }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

-- periods that hold data; a period is partial when data starts or stops inside it
data_periods as (
    select
        p.period_type,
        p.period_start,
        p.period_end,
        p.period_start < b.first_day or p.period_end > b.last_day as is_partial_period,
        b.first_day as data_first_day,
        b.last_day as data_last_day
    from periods as p
    cross join bounds as b
    where p.period_end >= b.first_day and p.period_start <= b.last_day
)

select
    period_type,
    period_start,
    period_end,
    is_partial_period,
    data_first_day,
    data_last_day
from data_periods
