{#-
    The "as of" day of point-in-time marts (RFM, ABC/XYZ, ...): the dbt var as_of (YYYY-MM-DD)
    when set, else the day after the latest order day in fct_orders (so the last full day of
    orders is inside every "last N days before the as-of day" window). Returns a SQL date
    expression; the fallback is a scalar subquery, so use it where an expression is allowed, e.g.
        cross join (select {{ as_of_day() }} as as_of_on) as a
    The model always depends on fct_orders (the DAG does not change with --vars); unit tests of a
    model that uses this macro give ref('fct_orders') as an input (rows: [] is fine when the test
    sets as_of through overrides: vars).
-#}
{% macro as_of_day() -%}
    {%- set orders = ref('fct_orders') -%}
    {%- set as_of = var('as_of', none) -%}
    {%- if as_of is not none and (as_of | string | trim) not in ('', 'None', 'none', 'null') -%}
        cast('{{ as_of | string | trim }}' as date)
    {%- else -%}
        (select cast({{ dbt.dateadd('day', 1, 'max(placed_on)') }} as date) from {{ orders }})
    {%- endif -%}
{%- endmacro %}
