{{ config(contract={"enforced": true}) }}
-- Carrier x week of shipping. Every figure belongs to the shipments handed to the carrier that
-- week (week of shipped_at), whenever they were delivered: a shipment is counted once. The
-- per-shipment facts are int_shipments_tracked's (shared with merchant_delivery_daily).
with shipment_facts as (
    select
        carrier_id,
        -- the week of the day handed to the carrier (shipped_at, created_at while not yet picked up)
        cast({{ dbt.date_trunc('week', 'handed_on') }} as date) as week_start,
        shipment_id,
        is_delivered,
        is_on_time,
        delivery_days,
        exception_events,
        has_clock_anomaly
    from {{ ref('int_shipments_tracked') }}
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
    cast(sum(case when f.exception_events > 0 then 1 else 0 end) as double) / count(*) as exception_rate,
    cast(sum(case when f.has_clock_anomaly then 1 else 0 end) as integer) as shipments_with_clock_anomaly
from shipment_facts as f
join {{ ref('stg_store__carriers') }} as c on c.carrier_id = f.carrier_id
group by f.carrier_id, c.code, c.name, f.week_start
