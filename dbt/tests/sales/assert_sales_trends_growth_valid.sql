-- sales_trends' growth is period / previous period - 1 and null exactly when the previous value is 0
-- or missing; counts are never negative.
select period_type, period_start, dimension, dimension_value
from {{ ref('sales_trends') }}
where ((net_revenue_growth is null) <> (coalesce(prev_net_revenue, 0) = 0))
   or ((orders_growth is null) <> (coalesce(prev_orders, 0) = 0))
   or abs(orders_growth - (cast(orders as double) / prev_orders - 1)) > 1e-9
   or orders < 0
   or units < 0
