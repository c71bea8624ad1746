-- Built after the catalog it refers to. This also puts the clickstream's models in the same dbt
-- invocation as the store's in a pipeline run (Dagster runs a dbt step per hop between dbt and
-- Python assets; an extra step costs dbt's start-up, 7 to 8 s).
-- depends_on: {{ source('store', 'products') }}
select
    observed_on,
    competitor,
    sku,
    price,
    promo as is_promo,
    source_file
from {{ source('landing', 'competitor_prices') }}
