{{ config(contract={"enforced": true}) }}
-- The next 28 days of demand per active product x warehouse, as the trained model scores them.
select
    f.forecast_on,
    f.product_id,
    cast(f.warehouse_id as integer) as warehouse_id,
    p.merchant_id,
    p.sku,
    p.product_name,
    p.category,
    cast(f.p10 as double) as p10,
    cast(f.p50 as double) as p50,
    cast(f.p90 as double) as p90,
    cast(f.model as varchar) as model
from {{ source('ml', 'demand_forecast') }} as f
join {{ ref('dim_products') }} as p on p.product_id = f.product_id
