-- Product x warehouse: units ordered from suppliers and not received yet (open and partially
-- received purchase orders), as the store's alert service counts them.
select po.warehouse_id, pol.product_id, sum(pol.qty_ordered - pol.qty_received) as on_order
from {{ ref('stg_store__purchase_order_lines') }} as pol
join {{ ref('stg_store__purchase_orders') }} as po on po.purchase_order_id = pol.purchase_order_id
where po.status in ('open', 'partially_received')
group by po.warehouse_id, pol.product_id
