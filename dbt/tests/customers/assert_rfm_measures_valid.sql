-- Every customer in customer_rfm has at least one order, ordered before the as-of day, and a
-- single as-of day applies to the whole mart.
select customer_id, recency_days, frequency, first_order_on, last_order_on, as_of_on
from {{ ref('customer_rfm') }}
where frequency < 1
   or recency_days < 1
   or last_order_on >= as_of_on
   or first_order_on > last_order_on
   or as_of_on <> (select max(as_of_on) from {{ ref('customer_rfm') }})
