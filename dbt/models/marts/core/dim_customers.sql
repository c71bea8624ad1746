{{ config(contract={"enforced": true}) }}
-- Customers by their pseudonymous id and reference; coarse attributes only, never personal data.
with first_orders as (
    select customer_id, min(placed_on) as first_order_on
    from {{ ref('fct_orders') }}
    where not is_cancelled
    group by all
)
select
    c.customer_id,
    c.customer_ref,
    c.region,
    c.country,
    cast(c.created_at as date) as created_on,
    f.first_order_on,
    coalesce(a.tier, 'none') as tier,
    c.erased_at is not null as is_erased
from {{ ref('stg_store__customers') }} as c
left join first_orders as f on f.customer_id = c.customer_id
left join {{ ref('stg_store__loyalty_accounts') }} as a on a.customer_id = c.customer_id
