{{ config(contract={"enforced": true}) }}
-- "Frequently bought together": per product, the products most often in the same orders.
select
    r.product_id,
    r.recommended_product_id,
    cast(r.rank as integer) as rank,
    cast(r.score as double) as score,
    cast(r.support as bigint) as support,
    cast(r.confidence as double) as confidence,
    p.merchant_id,
    p.sku,
    p.product_name,
    q.sku as recommended_sku,
    q.product_name as recommended_product_name
from {{ source('ml', 'product_pairs') }} as r
join {{ ref('dim_products') }} as p on p.product_id = r.product_id
join {{ ref('dim_products') }} as q on q.product_id = r.recommended_product_id
