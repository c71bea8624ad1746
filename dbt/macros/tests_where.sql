{#- A data test's `where` (dbt's get_where_subquery, overridden as dbt's docs describe) takes one
more form: `__rows_this_build__` tests only the rows an incremental model wrote in its newest build
(those stamped with its newest built_at, macros/incremental.sql), not the whole table again.
Enough for keys and references: a delete+insert build first deletes every row whose key it writes
again, and the rows it leaves alone were tested when they were written. A full refresh stamps
every row alike, so the nightly full build tests every row. -#}
{% macro get_where_subquery(relation) -%}
    {%- if config.get('where') == '__rows_this_build__' -%}
        {%- do return('(select * from ' ~ relation ~ ' where built_at = (select max(built_at) from '
                      ~ relation ~ ')) dbt_subquery') -%}
    {%- endif -%}
    {%- do return(dbt.default__get_where_subquery(relation)) -%}
{%- endmacro %}
