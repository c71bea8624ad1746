{{ config(contract={"enforced": true}) }}
-- Merchant x carrier x day handed to the carrier: the shipments of int_shipments_tracked (the same
-- facts as delivery_performance) summed, so that any period's rates are sums divided.
select
    s.merchant_id,
    s.carrier_id,
    c.code as carrier_code,
    c.name as carrier_name,
    s.handed_on,
    cast(count(*) as integer) as shipments,
    cast(sum(case when s.is_delivered then 1 else 0 end) as integer) as delivered,
    cast(sum(case when s.is_on_time then 1 else 0 end) as integer) as delivered_on_time,
    cast(coalesce(sum(s.delivery_days), 0) as double) as delivery_days_sum,
    cast(count(s.delivery_days) as integer) as delivery_days_count,
    cast(sum(s.exception_events) as integer) as exceptions,
    cast(sum(case when s.exception_events > 0 then 1 else 0 end) as integer) as shipments_with_exception,
    cast(sum(case when s.has_clock_anomaly then 1 else 0 end) as integer) as shipments_with_clock_anomaly
from {{ ref('int_shipments_tracked') }} as s
join {{ ref('stg_store__carriers') }} as c on c.carrier_id = s.carrier_id
group by s.merchant_id, s.carrier_id, c.code, c.name, s.handed_on
