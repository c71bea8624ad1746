{{ config(contract={"enforced": true}) }}
-- Carrier x week of shipping. Every figure belongs to the shipments handed to the carrier that
-- week (week of shipped_at), whenever they were delivered: a shipment is counted once.
with shipments as (
    select
        shipment_id,
        carrier_id,
        status,
        promised_on,
        shipped_at,
        delivered_at,
        -- a shipment not yet picked up has no shipped_at; it belongs to the week it was created
        cast({{ dbt.date_trunc('week', 'coalesce(shipped_at, created_at)') }} as date) as week_start
    from {{ ref('stg_store__shipments') }}
),

-- tracking statuses: label_created, picked_up, in_transit, out_for_delivery, delivered, exception;
-- 'exception' (e.g. "delayed in the carrier's network") is the only exception-like one
exception_events as (
    select shipment_id, count(*) as exception_events
    from {{ ref('stg_store__tracking_events') }}
    where status = 'exception'
    group by shipment_id
),

shipment_facts as (
    select
        s.carrier_id,
        s.week_start,
        s.shipment_id,
        s.delivered_at is not null as is_delivered,
        -- on time: delivered (UTC day) on or before the promised day
        s.delivered_at is not null and cast(s.delivered_at as date) <= s.promised_on as is_on_time,
        case when s.delivered_at is not null and s.shipped_at is not null
             then {{ dbt.datediff('s.shipped_at', 's.delivered_at', 'second') }} / 86400.0 end as delivery_days,
        coalesce(e.exception_events, 0) as exception_events
    from shipments as s
    left join exception_events as e on e.shipment_id = s.shipment_id
)

select
    f.carrier_id,
    c.code as carrier_code,
    c.name as carrier_name,
    f.week_start,
    cast(count(*) as integer) as shipments,
    cast(sum(case when f.is_delivered then 1 else 0 end) as integer) as delivered,
    cast(sum(case when f.is_delivered then 0 else 1 end) as integer) as not_delivered,
    cast(avg(f.delivery_days) as double) as avg_delivery_days,
    cast(sum(case when f.is_on_time then 1 else 0 end) as integer) as delivered_on_time,
    cast(sum(case when f.is_on_time then 1 else 0 end) as double)
        / nullif(sum(case when f.is_delivered then 1 else 0 end), 0) as on_time_rate,
    cast(sum(f.exception_events) as integer) as exceptions,
    cast(sum(case when f.exception_events > 0 then 1 else 0 end) as integer) as shipments_with_exception,
    cast(sum(case when f.exception_events > 0 then 1 else 0 end) as double) / count(*) as exception_rate
from shipment_facts as f
join {{ ref('stg_store__carriers') }} as c on c.carrier_id = f.carrier_id
group by f.carrier_id, c.code, c.name, f.week_start
