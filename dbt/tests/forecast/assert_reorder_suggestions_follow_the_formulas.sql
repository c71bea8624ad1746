-- METRICS "Replenishment": reorder point = demand over lead time + safety stock; the suggested
-- quantity covers reorder point + review-period demand - (on hand + on order - reserved), is a
-- multiple of the order multiple, and overshoots by less than one multiple; no suggestion
-- without a shortfall; the stock-out date is a forecast day.
{{ config(meta={'dagster': {'ref': {'name': 'reorder_suggestions'}}}) }}
select product_id, warehouse_id
from {{ ref('reorder_suggestions') }}
where abs(reorder_point - (demand_over_lead_time + safety_stock)) > 1e-6
   or suggested_qty < 0
   or suggested_qty % order_multiple <> 0
   or (suggested_qty > 0 and suggested_qty
       < reorder_point + demand_over_review_period - (on_hand + on_order - reserved) - 1e-6)
   or (suggested_qty > 0 and suggested_qty - order_multiple
       >= reorder_point + demand_over_review_period - (on_hand + on_order - reserved))
   or (suggested_qty = 0 and reorder_point + demand_over_review_period - (on_hand + on_order - reserved) > 0)
   or safety_stock < 0
   or available <> on_hand - reserved
   or (projected_stock_out_on is not null and projected_stock_out_on not in (
        select forecast_on from {{ ref('demand_forecast') }}))
