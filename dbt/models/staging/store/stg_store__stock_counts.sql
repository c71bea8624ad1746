select
    id as stock_count_id,
    warehouse_id,
    status,
    actor,
    created_at,
    posted_at,
    updated_at
from {{ source('store', 'stock_counts') }}
