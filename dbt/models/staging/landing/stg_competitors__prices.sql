select
    observed_on,
    competitor,
    sku,
    price,
    promo as is_promo,
    source_file
from {{ source('landing', 'competitor_prices') }}
