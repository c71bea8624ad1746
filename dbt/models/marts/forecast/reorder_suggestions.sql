{{ config(contract={"enforced": true}) }}
-- Product x warehouse with a demand forecast: what to order now (METRICS "Replenishment").
--   lead time         the replenishment policy's, else the merchant's (first) supplier's, else the
--                     var default_lead_time_days.
--   demand over lead  the P50 forecast summed over the lead time (beyond the 28 forecast days, at
--   time              the 28-day average).
--   safety stock      z(var service_level) x the standard deviation of the daily forecast error
--                     (backtest, ml.forecast_errors) x sqrt(lead time days).
--   suggested qty     reorder point + demand over the review period (var review_period_days, the
--                     P50 for the days after the lead time) - (on hand + on order - reserved),
--                     never below zero, rounded up to the order multiple.
--   stock-out date    the first forecast day on which available - cumulative P50 < 0.
with forecast as (
    select
        product_id,
        warehouse_id,
        forecast_on,
        p50,
        row_number() over (partition by product_id, warehouse_id order by forecast_on) as day_no,
        sum(p50) over (partition by product_id, warehouse_id order by forecast_on) as cumulative_p50
    from {{ ref('demand_forecast') }}
),

horizon as (
    select product_id, warehouse_id, count(*) as days, sum(p50) as p50_total, min(forecast_on) as first_on
    from forecast
    group by all
),

policies as (
    select * from {{ ref('stg_store__replenishment_policies') }}
),

supplier_lead as (
    select merchant_id, arg_min(lead_time_days, supplier_id) as lead_time_days
    from {{ ref('stg_store__suppliers') }}
    group by all
),

levels as (
    select * from {{ ref('stg_store__stock_levels') }}
),

on_order as (
    select * from {{ ref('int_stock_on_order') }}
),

products as (
    select product_id, merchant_id, sku, product_name, category, avg_unit_cost, currency
    from {{ ref('dim_products') }}
),

pairs as (
    select
        h.product_id,
        h.warehouse_id,
        pr.merchant_id,
        h.days,
        h.p50_total,
        coalesce(pol.lead_time_days, sl.lead_time_days, {{ var('default_lead_time_days') }}) as lead_time_days,
        coalesce(pol.order_multiple, 1) as order_multiple,
        coalesce(lv.on_hand, 0) as on_hand,
        coalesce(lv.reserved, 0) as reserved,
        coalesce(oo.on_order, 0) as on_order,
        coalesce(e.error_sd, 0) as error_sd
    from horizon as h
    join products as pr on pr.product_id = h.product_id
    left join policies as pol on pol.product_id = h.product_id and pol.warehouse_id = h.warehouse_id
    left join supplier_lead as sl on sl.merchant_id = pr.merchant_id
    left join levels as lv on lv.product_id = h.product_id and lv.warehouse_id = h.warehouse_id
    left join on_order as oo on oo.product_id = h.product_id and oo.warehouse_id = h.warehouse_id
    left join {{ source('ml', 'forecast_errors') }} as e
        on e.product_id = h.product_id and e.warehouse_id = h.warehouse_id
),

-- P50 summed over the first n forecast days, extrapolated at the horizon's daily mean past it
sums as (
    select
        p.product_id,
        p.warehouse_id,
        coalesce(sum(case when f.day_no <= p.lead_time_days then f.p50 end), 0) as lead_sum,
        coalesce(sum(case when f.day_no > p.lead_time_days
                           and f.day_no <= p.lead_time_days + {{ var('review_period_days') }} then f.p50 end), 0)
            as review_sum,
        min(case when p.on_hand - p.reserved - f.cumulative_p50 < 0 then f.forecast_on end) as projected_stock_out_on
    from pairs as p
    join forecast as f on f.product_id = p.product_id and f.warehouse_id = p.warehouse_id
    group by p.product_id, p.warehouse_id
),

windows as (
    select
        p.*,
        s.lead_sum + greatest(p.lead_time_days - p.days, 0) * p.p50_total / p.days as demand_over_lead_time,
        s.review_sum
            + greatest(p.lead_time_days + {{ var('review_period_days') }} - greatest(p.days, p.lead_time_days), 0)
              * p.p50_total / p.days as demand_over_review_period,
        s.projected_stock_out_on
    from pairs as p
    join sums as s on s.product_id = p.product_id and s.warehouse_id = p.warehouse_id
),

levels_needed as (
    select
        *,
        {{ normal_quantile(var('service_level')) }} * error_sd * sqrt(lead_time_days) as safety_stock
    from windows
),

suggested as (
    select
        *,
        demand_over_lead_time + safety_stock as reorder_point,
        demand_over_lead_time + safety_stock + demand_over_review_period - (on_hand + on_order - reserved) as shortfall
    from levels_needed
)

select
    s.product_id,
    cast(s.warehouse_id as integer) as warehouse_id,
    s.merchant_id,
    pr.sku,
    pr.product_name,
    pr.category,
    cast(s.on_hand as integer) as on_hand,
    cast(s.on_order as integer) as on_order,
    cast(s.reserved as integer) as reserved,
    cast(s.on_hand - s.reserved as integer) as available,
    cast(s.lead_time_days as integer) as lead_time_days,
    cast({{ var('service_level') }} as double) as service_level,
    cast(s.error_sd as double) as forecast_error_sd,
    cast(s.demand_over_lead_time as double) as demand_over_lead_time,
    cast(s.safety_stock as double) as safety_stock,
    cast(s.reorder_point as double) as reorder_point,
    cast(s.demand_over_review_period as double) as demand_over_review_period,
    s.projected_stock_out_on,
    s.on_hand + s.on_order - s.reserved <= s.reorder_point as needs_reorder,
    cast(case when s.shortfall <= 0 then 0
              else ceil(s.shortfall / s.order_multiple) * s.order_multiple end as integer) as suggested_qty,
    cast(s.order_multiple as integer) as order_multiple,
    pr.avg_unit_cost,
    cast(case when s.shortfall <= 0 then 0
              else ceil(s.shortfall / s.order_multiple) * s.order_multiple end * pr.avg_unit_cost
         as decimal(14, 2)) as suggested_value,
    pr.currency
from suggested as s
join products as pr on pr.product_id = s.product_id
