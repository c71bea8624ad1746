-- Rates and counts stay within their bounds: sell-through in [0, 1], stock-out days within the
-- days of the period (per product x warehouse), days in period 1-31, stock values, holding cost
-- and stock at the period's end not negative, DIO only where there is a turnover.
select *
from {{ ref('inventory_turnover') }}
where sell_through_rate < 0 or sell_through_rate > 1
   or days_in_period < 1 or days_in_period > 31
   or stock_out_days < 0
   or (level = 'product_warehouse' and stock_out_days > days_in_period)
   or average_inventory_value < 0
   or holding_cost < 0
   or on_hand_at_period_end < 0
   or stock_value_at_period_end < 0
   or (days_of_inventory is not null and (turnover_ratio is null or turnover_ratio = 0))
   or (abc_class is not null and abc_class not in ('A', 'B', 'C'))
