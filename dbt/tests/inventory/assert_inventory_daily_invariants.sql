-- Every day-end position is coherent: available = on_hand - reserved, nothing negative, no more
-- reserved than on hand (the store's own constraints), stock value at cost = on hand x average
-- cost (to the cent) and never negative, and a stock-out only for an active product.
select day, product_id, warehouse_id, on_hand, reserved, available, stock_value
from {{ ref('inventory_daily') }}
where available <> on_hand - reserved
   or on_hand < 0
   or reserved < 0
   or reserved > on_hand
   or stock_value < 0
   or abs(stock_value - on_hand * avg_unit_cost) > 0.005
   or (is_stock_out and not is_active_product)
   or (is_stock_out and available > 0)
