{{ config(contract={"enforced": true}) }}
-- "Recommended for you": per customer, the top products from the item-neighbour model (score 0:
-- filled up with the most popular products the customer has not bought). Beside each, what the
-- rules were checked against: units available now, the customer's earlier orders of it, and
-- whether customers buy it repeatedly (decided by the scoring asset, which applies the rule).
with stock as (
    select product_id, sum(on_hand - reserved) as available
    from {{ ref('stg_store__stock_levels') }}
    group by all
),

bought as (
    select customer_id, product_id, count(distinct order_id) as orders
    from {{ ref('fct_order_lines') }}
    where not is_cancelled and customer_id is not null
    group by all
)

select
    r.customer_id,
    r.product_id,
    cast(r.rank as integer) as rank,
    cast(r.score as double) as score,
    cast(case when r.score > 0 then 'item_neighbours' else 'popular_fill' end as varchar) as source,
    p.merchant_id,
    p.sku,
    p.product_name,
    p.category,
    p.is_active,
    cast(coalesce(s.available, 0) as integer) as available,
    cast(coalesce(b.orders, 0) as integer) as customer_orders_of_product,
    r.is_repeat_product
from {{ source('ml', 'customer_recommendations') }} as r
join {{ ref('dim_products') }} as p on p.product_id = r.product_id
left join stock as s on s.product_id = r.product_id
left join bought as b on b.customer_id = r.customer_id and b.product_id = r.product_id
