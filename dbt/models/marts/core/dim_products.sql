{{ config(contract={"enforced": true}) }}
select
    p.product_id,
    p.merchant_id,
    p.sku,
    p.name as product_name,
    p.category,
    p.price,
    p.unit_cost as list_unit_cost,
    cast(coalesce(v.avg_unit_cost, p.unit_cost) as decimal(14, 4)) as avg_unit_cost,
    p.currency,
    p.active as is_active,
    cast(p.created_at as date) as created_on
from {{ ref('stg_store__products') }} as p
left join {{ ref('stg_store__stock_valuations') }} as v on v.product_id = p.product_id
