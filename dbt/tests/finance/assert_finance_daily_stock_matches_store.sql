-- Warn only: the ledger, levels and valuations load one after another, so while orders flow a
-- load can catch them a few rows apart; the blocking checks on raw already reconcile each table.
{{ config(severity='warn', meta={'dagster': {'ref': {'name': 'finance_daily'}}}) }}
-- On the mart's last day, each merchant's stock recomputed from the ledger equals the store's own
-- state: units = sum of stock_levels.on_hand, value = on hand x stock_valuations.avg_unit_cost (the
-- moving average the store keeps), to the cent up to rounding: the mart rounds each product and
-- warehouse's value to the cent before summing, so half a cent per row may separate them.
with store as (
    select
        p.merchant_id,
        sum(l.on_hand) as on_hand,
        cast(sum(l.on_hand * v.avg_unit_cost) as decimal(14, 2)) as stock_value,
        count(*) as rows_rounded
    from {{ ref('stg_store__stock_levels') }} as l
    join {{ ref('dim_products') }} as p on p.product_id = l.product_id
    left join {{ ref('stg_store__stock_valuations') }} as v on v.product_id = l.product_id
    group by p.merchant_id
),
mart as (
    select merchant_id, stock_units_end_of_day, stock_value_end_of_day
    from {{ ref('finance_daily') }}
    where day = (select max(day) from {{ ref('finance_daily') }})
)
select
    coalesce(m.merchant_id, s.merchant_id) as merchant_id,
    m.stock_units_end_of_day,
    s.on_hand as store_on_hand,
    m.stock_value_end_of_day,
    s.stock_value as store_stock_value
from mart as m
full outer join store as s on s.merchant_id = m.merchant_id
where coalesce(m.stock_units_end_of_day, 0) <> coalesce(s.on_hand, 0)
   or abs(coalesce(m.stock_value_end_of_day, 0) - coalesce(s.stock_value, 0)) > 0.005 * s.rows_rounded
