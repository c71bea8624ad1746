-- customer_value and customer_rfm measure the same customers and orders as of the same day:
-- orders = frequency and lifetime value = monetary for every customer, nobody in only one.
select coalesce(v.customer_id, r.customer_id) as customer_id, v.orders, r.frequency, v.lifetime_value, r.monetary
from {{ ref('customer_value') }} as v
full outer join {{ ref('customer_rfm') }} as r on r.customer_id = v.customer_id
where v.customer_id is null
   or r.customer_id is null
   or v.orders <> r.frequency
   or v.lifetime_value <> r.monetary
   or v.as_of_on <> r.as_of_on
   or v.first_order_on <> r.first_order_on
   or v.last_order_on <> r.last_order_on
