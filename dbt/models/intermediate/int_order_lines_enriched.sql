-- One row per order line with its order, product and cost. Money of cancelled orders is zeroed
-- (METRICS: sales count orders not cancelled); the line itself stays for the record.
--
-- Incremental: a run rewrites only the lines whose inputs changed since the last build: the line,
-- its order, its product, or (for a line not yet shipped, whose cost is the current average) its
-- product's valuation. Each row keeps the updated_at of those rows (the valuation's only while the
-- line is not shipped, as only then does it change the row). Candidates are the rows changed from
-- twice the loads' overlap (ECOM_INGEST_OVERLAP_S, 300 s) before the newest already built, so a
-- store row committed after rows stamped later (what the loads' overlap re-reads) is not missed;
-- of those, a line whose four stamps are the ones this table holds is left alone (without that,
-- every build would rewrite every line changed in the window until a newer change came). The
-- nightly full build rebuilds the table whole (--full-refresh). built_at, when the row was last
-- written, tells the incremental marts built on it (fct_order_lines) which rows are new.
{{ config(materialized='incremental', unique_key='order_line_id', incremental_strategy='delete+insert',
          on_schema_change='sync_all_columns') }}
{%- set incremental = incremental_on('built_at') %}
with lines as (
    select * from {{ ref('stg_store__order_lines') }}
),
orders as (
    select * from {{ ref('stg_store__orders') }}
),
products as (
    select * from {{ ref('stg_store__products') }}
),
valuations as (
    select * from {{ ref('stg_store__stock_valuations') }}
){% if incremental %},

since as (
    select
        coalesce(max(line_updated_at), timestamp '1900-01-01') - {{ store_lookback() }} as lines_at,
        coalesce(max(order_updated_at), timestamp '1900-01-01') - {{ store_lookback() }} as orders_at,
        coalesce(max(product_updated_at), timestamp '1900-01-01') - {{ store_lookback() }} as products_at,
        coalesce(max(valuation_updated_at), timestamp '1900-01-01') - {{ store_lookback() }} as valuations_at
    from {{ this }}
),

candidates as (
    select l.order_line_id from lines as l cross join since where l.updated_at > since.lines_at
    union
    select l.order_line_id
    from lines as l join orders as o on o.order_id = l.order_id cross join since
    where o.updated_at > since.orders_at
    union
    select l.order_line_id
    from lines as l join products as p on p.product_id = l.product_id cross join since
    where p.updated_at > since.products_at
    union
    select l.order_line_id
    from lines as l join valuations as v on v.product_id = l.product_id cross join since
    where l.unit_cost is null and v.updated_at > since.valuations_at
){% endif %}

select
    l.order_line_id,
    l.order_id,
    l.line_no,
    l.product_id,
    l.sku,
    p.name as product_name,
    p.category,
    o.merchant_id,
    o.customer_id,
    o.channel,
    o.status as order_status,
    o.status = 'cancelled' as is_cancelled,
    o.placed_at,
    cast(o.placed_at as date) as placed_on,
    o.currency,
    o.campaign_id,
    o.coupon_id,
    l.unit_price,
    -- cost at the time of sale (set when the goods left); before shipping, the current average
    cast(coalesce(l.unit_cost, v.avg_unit_cost, p.unit_cost) as decimal(14, 4)) as unit_cost,
    case when o.status = 'cancelled' then 0 else l.quantity end as units,
    cast(case when o.status = 'cancelled' then 0 else l.quantity * l.unit_price end as decimal(14, 2)) as gross_sales,
    cast(case when o.status = 'cancelled' then 0 else l.discount end as decimal(14, 2)) as discounts,
    cast(case when o.status = 'cancelled' then 0 else l.line_total end as decimal(14, 2)) as net_sales,
    -- what the incremental runs compare against (see the top)
    l.updated_at as line_updated_at,
    o.updated_at as order_updated_at,
    p.updated_at as product_updated_at,
    -- only where the cost is the valuation's: a shipped line's cost no longer follows it
    case when l.unit_cost is null then v.updated_at end as valuation_updated_at,
    {{ built_at() }} as built_at
from lines as l
join orders as o on o.order_id = l.order_id
join products as p on p.product_id = l.product_id
left join valuations as v on v.product_id = l.product_id
{%- if incremental %}
where l.order_line_id in (select order_line_id from candidates)
    and not exists (
        select 1 from {{ this }} as t
        where t.order_line_id = l.order_line_id and t.line_updated_at = l.updated_at
            and t.order_updated_at = o.updated_at and t.product_updated_at = p.updated_at
            and t.valuation_updated_at is not distinct from (case when l.unit_cost is null then v.updated_at end)
    )
{%- endif %}
