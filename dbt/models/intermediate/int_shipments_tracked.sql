-- One row per shipment with what the delivery marts measure of it (METRICS: Service / On-time rate,
-- Delivery days): its order's merchant, the carrier, the day it was handed to the carrier, whether
-- (and whether on time) it was delivered, how long delivery took and its exception events.
-- Carriers' clocks can be behind: a parcel with an event stamped before an earlier step of its own
-- (int_tracking_events_out_of_order, listed in the tracking_clock_anomalies mart) or delivered
-- before it was shipped is flagged (has_clock_anomaly), and its delivery time is clamped at zero,
-- never negative (a negative duration would pull a carrier's average down, or below zero).
-- delivery_performance (carrier x week) and merchant_delivery_daily (merchant x carrier x day) both
-- aggregate these rows, so a shipment is counted once and the same way in both.
with shipments as (
    select
        shipment_id,
        order_id,
        carrier_id,
        promised_on,
        shipped_at,
        delivered_at,
        -- a shipment not yet picked up has no shipped_at; it belongs to the day it was created
        cast(coalesce(shipped_at, created_at) as date) as handed_on
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

out_of_order as (
    select shipment_id, count(*) as out_of_order_events
    from {{ ref('int_tracking_events_out_of_order') }}
    group by shipment_id
)

select
    s.shipment_id,
    s.order_id,
    o.merchant_id,
    s.carrier_id,
    s.handed_on,
    s.promised_on,
    s.delivered_at is not null as is_delivered,
    -- on time: delivered (UTC day) on or before the promised day
    s.delivered_at is not null and cast(s.delivered_at as date) <= s.promised_on as is_on_time,
    cast(case when s.delivered_at is not null and s.shipped_at is not null
              then greatest({{ dbt.datediff('s.shipped_at', 's.delivered_at', 'second') }}, 0) / 86400.0 end
         as double) as delivery_days,
    cast(coalesce(e.exception_events, 0) as integer) as exception_events,
    cast(coalesce(q.out_of_order_events, 0) as integer) as out_of_order_events,
    coalesce(q.out_of_order_events, 0) > 0 or coalesce(s.delivered_at < s.shipped_at, false) as has_clock_anomaly
from shipments as s
left join {{ ref('stg_store__orders') }} as o on o.order_id = s.order_id
left join exception_events as e on e.shipment_id = s.shipment_id
left join out_of_order as q on q.shipment_id = s.shipment_id
