-- Built after the catalog it refers to. This also puts the clickstream's models in the same dbt
-- invocation as the store's in a pipeline run (Dagster runs a dbt step per hop between dbt and
-- Python assets; an extra step costs dbt's start-up, 7 to 8 s).
-- depends_on: {{ source('store', 'products') }}
select
    event_id,
    session_id,
    customer_ref,
    device,
    channel,
    event_type,
    sku,
    order_ref,
    ts as occurred_at,
    event_on
from {{ source('landing', 'events') }}
