-- merchant_delivery_daily and delivery_performance count the same shipments (int_shipments_tracked):
-- summed over merchants and the days of each week, every count of merchant_delivery_daily equals
-- delivery_performance's for the carrier and week, and delivery_days_sum / delivery_days_count is
-- its avg_delivery_days. Within a row the parts never exceed their whole. Returns the mismatches.
{{ config(meta={'dagster': {'ref': {'name': 'merchant_delivery_daily'}}}) }}
with daily_by_week as (
    select
        carrier_id,
        cast({{ dbt.date_trunc('week', 'handed_on') }} as date) as week_start,
        sum(shipments) as shipments,
        sum(delivered) as delivered,
        sum(delivered_on_time) as delivered_on_time,
        sum(delivery_days_sum) as delivery_days_sum,
        sum(delivery_days_count) as delivery_days_count,
        sum(exceptions) as exceptions,
        sum(shipments_with_exception) as shipments_with_exception,
        sum(shipments_with_clock_anomaly) as shipments_with_clock_anomaly
    from {{ ref('merchant_delivery_daily') }}
    group by 1, 2
)
select
    'carrier x week' as problem,
    coalesce(d.carrier_id, p.carrier_id) as carrier_id,
    coalesce(d.week_start, p.week_start) as week_start,
    d.shipments,
    p.shipments as expected_shipments
from daily_by_week as d
full outer join {{ ref('delivery_performance') }} as p
    on p.carrier_id = d.carrier_id and p.week_start = d.week_start
where d.carrier_id is null or p.carrier_id is null
   or d.shipments <> p.shipments
   or d.delivered <> p.delivered
   or d.delivered_on_time <> p.delivered_on_time
   or d.exceptions <> p.exceptions
   or d.shipments_with_exception <> p.shipments_with_exception
   or d.shipments_with_clock_anomaly <> p.shipments_with_clock_anomaly
   or (d.delivery_days_count = 0) <> (p.avg_delivery_days is null)
   or abs(d.delivery_days_sum / nullif(d.delivery_days_count, 0) - p.avg_delivery_days) > 1e-9
union all
select 'row', carrier_id, handed_on, shipments, delivered
from {{ ref('merchant_delivery_daily') }}
where shipments <= 0
   or delivered > shipments
   or delivered_on_time > delivered
   or delivery_days_count > delivered
   or shipments_with_exception > shipments
   or shipments_with_exception > exceptions
   or shipments_with_clock_anomaly > shipments
   or delivery_days_sum < 0
