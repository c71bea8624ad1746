-- The per-merchant customer marts add up to the portal-wide ones, customer by customer: every
-- order belongs to one merchant, so a customer's orders (frequency) and net revenue (monetary,
-- lifetime value) summed over their merchants equal customer_rfm's / customer_value's, their
-- first and last order days are the earliest and latest over the merchants, both grains hold the
-- same customers and share the as-of day. Returns the customers where that fails.
{{ config(meta={'dagster': {'ref': {'name': 'merchant_customer_value'}}}) }}
with merchant_rfm as (
    select
        customer_id,
        sum(frequency) as frequency,
        sum(monetary) as monetary,
        min(first_order_on) as first_order_on,
        max(last_order_on) as last_order_on,
        min(as_of_on) as min_as_of_on,
        max(as_of_on) as max_as_of_on
    from {{ ref('merchant_customer_rfm') }}
    group by customer_id
),
merchant_value as (
    select
        customer_id,
        sum(orders) as orders,
        sum(lifetime_value) as lifetime_value,
        min(first_order_on) as first_order_on,
        max(last_order_on) as last_order_on,
        min(as_of_on) as min_as_of_on,
        max(as_of_on) as max_as_of_on
    from {{ ref('merchant_customer_value') }}
    group by customer_id
)
select 'rfm' as mart, coalesce(m.customer_id, p.customer_id) as customer_id,
       m.frequency as merchants_frequency, p.frequency as portal_frequency,
       m.monetary as merchants_monetary, p.monetary as portal_monetary
from merchant_rfm as m
full outer join {{ ref('customer_rfm') }} as p on p.customer_id = m.customer_id
where m.customer_id is null or p.customer_id is null
   or m.frequency <> p.frequency
   or m.monetary <> p.monetary
   or m.first_order_on <> p.first_order_on
   or m.last_order_on <> p.last_order_on
   or m.min_as_of_on <> p.as_of_on or m.max_as_of_on <> p.as_of_on
union all
select 'value', coalesce(m.customer_id, p.customer_id),
       m.orders, p.orders,
       m.lifetime_value, p.lifetime_value
from merchant_value as m
full outer join {{ ref('customer_value') }} as p on p.customer_id = m.customer_id
where m.customer_id is null or p.customer_id is null
   or m.orders <> p.orders
   or m.lifetime_value <> p.lifetime_value
   or m.first_order_on <> p.first_order_on
   or m.last_order_on <> p.last_order_on
   or m.min_as_of_on <> p.as_of_on or m.max_as_of_on <> p.as_of_on
