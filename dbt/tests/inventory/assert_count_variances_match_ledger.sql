-- Count variances are counted - expected, and each count's variances are what the ledger booked
-- as count_correction movements (ref_type 'count', ref_id = the count) for that product.
{{ config(meta={'dagster': {'ref': {'name': 'count_variances'}}}) }}
with lines as (
    select * from {{ ref('count_variances') }}
),

corrections as (
    select ref_id as stock_count_id, product_id, sum(quantity) as corrected_qty
    from {{ ref('stg_store__stock_movements') }}
    where kind = 'count_correction' and ref_type = 'count'
    group by 1, 2
)

select
    coalesce(l.stock_count_id, c.stock_count_id) as stock_count_id,
    coalesce(l.product_id, c.product_id) as product_id,
    l.variance_qty,
    c.corrected_qty
from (select * from lines where variance_qty <> 0) as l
full outer join corrections as c on c.stock_count_id = l.stock_count_id and c.product_id = l.product_id
where coalesce(l.variance_qty, 0) <> coalesce(c.corrected_qty, 0)
union all
select stock_count_id, product_id, variance_qty, counted_qty - expected_qty
from lines
where variance_qty <> counted_qty - expected_qty
