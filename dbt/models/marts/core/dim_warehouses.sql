{{ config(contract={"enforced": true}) }}
-- The portal's warehouses (shared by every merchant): what the dashboards label stock and
-- forecasts with, so that no reader needs the staging layer.
select
    cast(warehouse_id as bigint) as warehouse_id,
    code as warehouse_code,
    name as warehouse_name,
    cast(priority as integer) as allocation_priority,
    active as is_active,
    cast(created_at as date) as created_on
from {{ ref('stg_store__warehouses') }}
