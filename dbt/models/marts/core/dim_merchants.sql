{{ config(contract={"enforced": true}) }}
select
    merchant_id,
    code as merchant_code,
    name as merchant_name,
    currency,
    tax_rate,
    cast(created_at as date) as created_on
from {{ ref('stg_store__merchants') }}
