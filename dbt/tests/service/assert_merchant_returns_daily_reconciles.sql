-- merchant_returns_daily agrees with its sources and with returns_analysis. Every return request
-- is counted once (requests and units requested add up to the store's return requests). Per
-- merchant and reason, accepted units, received units and refunds paid equal returns_analysis's
-- units returned, units received and refunded value summed over months of sale and the merchant's
-- products (the store sells a merchant's order lines from its own catalogue only, so the order's
-- merchant is the product's). Within a row the parts never exceed their whole. Returns the mismatches.
{{ config(meta={'dagster': {'ref': {'name': 'merchant_returns_daily'}}}) }}
with daily as (
    select
        merchant_id,
        reason,
        sum(units_accepted) as units_accepted,
        sum(units_received) as units_received,
        sum(refunds_paid) as refunds_paid
    from {{ ref('merchant_returns_daily') }}
    group by merchant_id, reason
),
by_month_of_sale as (
    select
        p.merchant_id,
        a.reason,
        sum(a.units_returned) as units_accepted,
        sum(a.units_received) as units_received,
        sum(a.refunded_value) as refunds_paid
    from {{ ref('returns_analysis') }} as a
    join {{ ref('dim_products') }} as p on p.product_id = a.product_id
    group by p.merchant_id, a.reason
),
totals as (
    select sum(return_requests) as return_requests, sum(units_requested) as units_requested
    from {{ ref('merchant_returns_daily') }}
),
store as (
    select count(*) as return_requests, sum(quantity) as units_requested
    from {{ ref('stg_store__return_requests') }}
)
select
    'merchant x reason' as problem,
    coalesce(d.merchant_id, m.merchant_id) as merchant_id,
    coalesce(d.reason, m.reason) as reason,
    d.units_accepted,
    m.units_accepted as expected
from daily as d
full outer join by_month_of_sale as m on m.merchant_id = d.merchant_id and m.reason = d.reason
-- returns_analysis has a 0 row for every reason of every product-month; merchant_returns_daily only
-- has reasons with requests
where coalesce(d.units_accepted, 0) <> coalesce(m.units_accepted, 0)
   or coalesce(d.units_received, 0) <> coalesce(m.units_received, 0)
   or coalesce(d.refunds_paid, 0) <> coalesce(m.refunds_paid, 0)
union all
select 'totals', null, null, t.units_requested, s.units_requested
from totals as t
cross join store as s
where coalesce(t.return_requests, 0) <> s.return_requests
   or coalesce(t.units_requested, 0) <> coalesce(s.units_requested, 0)
union all
select 'row', merchant_id, reason, units_accepted, units_requested
from {{ ref('merchant_returns_daily') }}
where return_requests <= 0
   or units_accepted > units_requested
   or units_received > units_accepted
   or refunds_paid < 0
