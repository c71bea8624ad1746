-- Each finance_daily row adds up: net revenue = gross sales - discounts - refunds, gross margin =
-- net revenue - COGS, the payment totals are the sums of their per-method columns, and stock is never
-- negative.
select day, merchant_id
from {{ ref('finance_daily') }}
where net_revenue <> gross_sales - discounts - refunds
   or gross_margin <> net_revenue - cogs
   or payments_captured <> captured_card + captured_e_wallet + captured_bank_transfer + captured_cash_on_delivery
   or payments_refunded <> refunded_card + refunded_e_wallet + refunded_bank_transfer + refunded_cash_on_delivery
   or stock_units_end_of_day < 0
   or stock_value_end_of_day < 0
   or po_receipt_units < 0
   or orders < 0
