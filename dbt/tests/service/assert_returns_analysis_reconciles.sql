-- returns_analysis agrees with its sources: refunded value sums to the refunds paid for returns, units
-- returned to the accepted returns' quantity, and units sold (one value per month x product) to
-- fct_order_lines' units; no reason row returns more than was sold.
{{ config(meta={'dagster': {'ref': {'name': 'returns_analysis'}}}) }}
with mart as (
    select sum(refunded_value) as refunded_value, sum(units_returned) as units_returned
    from {{ ref('returns_analysis') }}
),
mart_sold as (
    select sum(units_sold) as units_sold
    from (select distinct month_start, product_id, units_sold from {{ ref('returns_analysis') }}) as per_product
),
sources as (
    select
        (select sum(refund_amount) from {{ ref('int_refunds_paid') }} where return_request_id is not null)
            as refunded_value,
        (select sum(quantity) from {{ ref('stg_store__return_requests') }}
         where status in ('approved', 'received', 'refunded')) as units_returned,
        (select sum(units) from {{ ref('fct_order_lines') }}) as units_sold
)
select 'totals' as problem
from mart as m cross join mart_sold as ms cross join sources as s
where coalesce(m.refunded_value, 0) <> coalesce(s.refunded_value, 0)
   or coalesce(m.units_returned, 0) <> coalesce(s.units_returned, 0)
   or coalesce(ms.units_sold, 0) <> coalesce(s.units_sold, 0)
union all
select 'row' as problem
from {{ ref('returns_analysis') }}
where units_returned > units_sold or units_received > units_returned
