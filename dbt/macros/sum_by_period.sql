{#-
    The rows of `relation` added up per calendar period of their `day` column: ISO weeks from Monday
    and months, cut as int_sales_periods (and dim_dates) cut them. Columns: period_type,
    period_start, the `keys`, then the `measures` (aggregate expressions with their aliases). The
    sales marts join this to their periods on equality, where a join on the day's range would
    compare every day with every period.
-#}
{% macro sum_by_period(relation, keys, measures) -%}
    {%- for period_type in ['week', 'month'] %}
    select
        '{{ period_type }}' as period_type,
        cast({{ dbt.date_trunc(period_type, 'day') }} as date) as period_start,
        {{ keys | join(', ') }},
        {{ measures | join(', ') }}
    from {{ relation }}
    group by all
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
{%- endmacro %}
