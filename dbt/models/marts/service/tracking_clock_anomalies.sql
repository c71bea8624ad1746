{{ config(contract={"enforced": true}) }}
-- Data quality: carriers' tracking events stamped before an earlier step of their parcel (a clock
-- behind, e.g. "delivered" two hours before "picked up"), one row per event, with the reason in
-- words. The parcels listed are flagged in int_shipments_tracked (has_clock_anomaly) and counted in
-- delivery_performance and merchant_delivery_daily (shipments_with_clock_anomaly); their delivery
-- time never counts below zero. The store keeps every event as the carrier sent it.
select
    a.tracking_event_id,
    a.shipment_id,
    s.order_id,
    o.merchant_id,
    s.carrier_id,
    c.code as carrier_code,
    s.tracking_number,
    a.status,
    a.occurred_at,
    a.earlier_status,
    a.earlier_at,
    a.seconds_early,
    a.status || ' stamped ' || cast(round(a.seconds_early / 3600.0, 1) as varchar) || ' h before '
        || a.earlier_status || ': the carrier''s clock is behind, or the event is misdated' as reason
from {{ ref('int_tracking_events_out_of_order') }} as a
join {{ ref('stg_store__shipments') }} as s on s.shipment_id = a.shipment_id
left join {{ ref('stg_store__orders') }} as o on o.order_id = s.order_id
left join {{ ref('stg_store__carriers') }} as c on c.carrier_id = s.carrier_id
