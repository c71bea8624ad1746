{#- The incremental models' bookkeeping (docs/pipeline.md, "The dbt models").

Each incremental model stamps the rows it writes with built_at, the start of the build's
transaction. A model built on another incremental model takes the upstream rows stamped after its
own newest stamp: dbt builds a model after the models it reads, so everything an upstream build
wrote since this model's last successful build carries a later stamp (a failed or skipped build
leaves this model's stamps where they were, and the next build takes those rows too). -#}

{% macro built_at() -%}
    cast(current_timestamp as timestamp)
{%- endmacro %}

{#- True when the model runs incrementally on a table that already has `column`; false on the first
build, a full refresh, or a table from before the column existed (which is then written whole). -#}
{% macro incremental_on(column) -%}
    {{ return(is_incremental() and column in (adapter.get_columns_in_relation(this) | map(attribute='name') | list)) }}
{%- endmacro %}

{#- How far before the newest store stamp a model already holds it looks for changed rows: twice
the loads' overlap (ECOM_INGEST_OVERLAP_S), so a store row committed after rows stamped later
(what the loads' overlap re-reads) is not missed. -#}
{% macro store_lookback() -%}
    interval '{{ 2 * (env_var('ECOM_INGEST_OVERLAP_S', '300') | int) }} seconds'
{%- endmacro %}

{% macro built_since_this(alias) -%}
    {{ alias }}.built_at > (select coalesce(max(built_at), timestamp '1900-01-01') from {{ this }})
{%- endmacro %}
