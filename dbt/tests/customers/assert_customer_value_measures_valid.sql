-- AOV is lifetime value / orders to the cent, tenure reaches from the first order to the as-of
-- day, and the yearly purchase frequency is orders x 365 / tenure.
select customer_id, orders, lifetime_value, average_order_value, tenure_days, purchase_frequency_per_year
from {{ ref('customer_value') }}
where orders < 1
   or abs(average_order_value * orders - lifetime_value) > 0.01 * orders
   or tenure_days < 1
   or tenure_days <> {{ dbt.datediff('first_order_on', 'as_of_on', 'day') }}
   or abs(purchase_frequency_per_year - orders * 365.0 / tenure_days) > 1e-9
