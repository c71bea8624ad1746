-- Never recommended: an inactive product, a product out of stock (at the last load), a product the
-- customer already bought unless customers buy it repeatedly.
select customer_id, product_id, is_active, available, customer_orders_of_product, is_repeat_product
from {{ ref('customer_recommendations') }}
where not is_active
   or available <= 0
   or (customer_orders_of_product > 0 and not is_repeat_product)
