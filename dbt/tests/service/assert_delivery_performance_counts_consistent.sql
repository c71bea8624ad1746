-- delivery_performance counts every shipment exactly once and its parts never exceed their whole:
-- on time <= delivered <= shipments, delivered + not delivered = shipments, and the exception events
-- add up to those in the tracking feed.
{{ config(meta={'dagster': {'ref': {'name': 'delivery_performance'}}}) }}
with totals as (
    select sum(shipments) as shipments, sum(exceptions) as exceptions
    from {{ ref('delivery_performance') }}
),
feed as (
    select
        (select count(*) from {{ ref('stg_store__shipments') }}) as shipments,
        (select count(*) from {{ ref('stg_store__tracking_events') }} where status = 'exception') as exceptions
)
select 'totals' as problem, t.shipments, f.shipments as expected_shipments, t.exceptions, f.exceptions as expected
from totals as t cross join feed as f
where t.shipments <> f.shipments or t.exceptions <> f.exceptions
union all
select 'row' as problem, shipments, delivered, delivered_on_time, not_delivered
from {{ ref('delivery_performance') }}
where delivered_on_time > delivered
   or delivered + not_delivered <> shipments
   or shipments_with_exception > shipments
   or shipments_with_clock_anomaly > shipments
   or (delivered > 0 and avg_delivery_days < 0)
