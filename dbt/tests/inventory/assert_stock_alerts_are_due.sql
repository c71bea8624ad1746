-- Every item is due (an alert open in the store, or available at or below the reorder point or
-- the safety stock), and the suggested quantity is never negative and a multiple of the
-- policy's order multiple.
{{ config(meta={'dagster': {'ref': {'name': 'stock_alerts'}}}) }}
select a.product_id, a.warehouse_id, a.alert_source, a.available, a.reorder_point, a.safety_stock, a.suggested_qty
from {{ ref('stock_alerts') }} as a
left join {{ ref('stg_store__replenishment_policies') }} as p
    on p.product_id = a.product_id and p.warehouse_id = a.warehouse_id
where (a.alert_source = 'stock_level' and a.available > greatest(a.reorder_point, a.safety_stock))
   or a.suggested_qty < 0
   or (p.order_multiple is not null and a.suggested_qty % p.order_multiple <> 0)
   or a.suggested_value < 0
