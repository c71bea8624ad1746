-- Tracking events stamped before an earlier step of their own parcel: a carrier's clock behind (a
-- scanner two hours slow), or events replayed with wrong times. One row per such event, with the
-- earlier step it precedes (the latest one, when it precedes several) and by how much.
-- Steps in order: label_created, picked_up, in_transit, out_for_delivery, delivered; 'exception'
-- is a notice, not a step, and is left out. A step may repeat (a failed delivery goes back in
-- transit): an event is out of order only when it is stamped before the FIRST time an earlier step
-- happened, so a genuine second attempt is not flagged.
with steps as (
    select
        tracking_event_id,
        shipment_id,
        status,
        occurred_at,
        case status
            when 'label_created' then 1
            when 'picked_up' then 2
            when 'in_transit' then 3
            when 'out_for_delivery' then 4
            when 'delivered' then 5
        end as step
    from {{ ref('stg_store__tracking_events') }}
    where status <> 'exception'
),

-- each parcel's first time at every step but the last, side by side (one row per parcel)
first_steps as (
    select
        shipment_id,
        min(occurred_at) filter (where step = 1) as first_1,
        min(occurred_at) filter (where step = 2) as first_2,
        min(occurred_at) filter (where step = 3) as first_3,
        min(occurred_at) filter (where step = 4) as first_4
    from steps
    group by shipment_id
),

-- the few events stamped before the first time of an earlier step: found with one equality join
-- (every event against every step of its parcel would be five times the events)
out_of_order as (
    select e.tracking_event_id, e.shipment_id, e.status, e.occurred_at, e.step
    from steps as e
    join first_steps as f on f.shipment_id = e.shipment_id
    where (e.step > 1 and e.occurred_at < f.first_1)
        or (e.step > 2 and e.occurred_at < f.first_2)
        or (e.step > 3 and e.occurred_at < f.first_3)
        or (e.step > 4 and e.occurred_at < f.first_4)
),

first_times as (
    select shipment_id, step, status, min(occurred_at) as first_at
    from steps
    where shipment_id in (select shipment_id from out_of_order)
    group by shipment_id, step, status
),

preceded as (
    select
        e.tracking_event_id,
        e.shipment_id,
        e.status,
        e.occurred_at,
        f.status as earlier_status,
        f.first_at as earlier_at,
        row_number() over (partition by e.tracking_event_id order by f.first_at desc, f.step desc) as n
    from out_of_order as e
    join first_times as f
        on f.shipment_id = e.shipment_id and f.step < e.step and f.first_at > e.occurred_at
)

select
    tracking_event_id,
    shipment_id,
    status,
    occurred_at,
    earlier_status,
    earlier_at,
    cast({{ dbt.datediff('occurred_at', 'earlier_at', 'second') }} as bigint) as seconds_early
from preceded
where n = 1
