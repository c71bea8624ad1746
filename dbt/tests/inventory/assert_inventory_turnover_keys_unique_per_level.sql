-- One row per key at each level, and each level fills exactly its own dimensions.
with keyed as (
    select
        level, month_start, merchant_id, product_id, warehouse_id,
        count(*) over (partition by level, month_start, merchant_id, product_id, warehouse_id) as rows_with_key
    from {{ ref('inventory_turnover') }}
)

select *
from keyed
where rows_with_key > 1
   -- warehouse_id may be null here: sales never tied to a warehouse (history imported without stock)
   or (level = 'product_warehouse' and product_id is null)
   or (level = 'product' and (product_id is null or warehouse_id is not null))
   or (level = 'merchant' and (product_id is not null or warehouse_id is not null))
