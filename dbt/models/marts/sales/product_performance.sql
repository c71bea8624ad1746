{{ config(contract={"enforced": true}) }}
-- Period (ISO week or calendar month) x product: units and net revenue (from fct_daily_sales: sales on
-- the order day, refunds on the day paid), ranks within the merchant and period, growth against the
-- previous period of the same kind, and best-seller / slow-mover flags. Every product that exists by a
-- period's end has a row for it, with or without sales, so stock without sales shows up.
with data_periods as (
    select * from {{ ref('int_sales_periods') }}
),

daily_sales as (
    select day, product_id, sum(units) as units, sum(net_revenue) as net_revenue
    from {{ ref('fct_daily_sales') }}
    group by day, product_id
),

-- a product exists from its creation, or from its first sale if that came first (imported history)
products_started as (
    select
        d.product_id,
        d.merchant_id,
        least(d.created_on, coalesce(f.first_sale_on, d.created_on)) as started_on
    from {{ ref('dim_products') }} as d
    left join (select product_id, min(day) as first_sale_on from daily_sales group by product_id) as f
        on f.product_id = d.product_id
),

-- every product in every period from the one it started in
product_periods as (
    select
        p.period_type,
        p.period_start,
        p.period_end,
        p.is_partial_period,
        p.data_last_day,
        d.product_id,
        d.merchant_id
    from data_periods as p
    join products_started as d on d.started_on <= p.period_end
),

-- sales added up per period by the day's own week and month
period_sales as (
    {{ sum_by_period('daily_sales', ['product_id'], ['sum(units) as units', 'sum(net_revenue) as net_revenue']) }}
),

-- each product's on hand after each day with movements: the ledger's running sum
stock_by_day as (
    select
        product_id,
        day,
        sum(sum(quantity)) over (partition by product_id order by day) as on_hand
    from (
        select product_id, cast(created_at as date) as day, quantity
        from {{ ref('stg_store__stock_movements') }}
        where created_at is not null
    ) as m
    group by product_id, day
),

-- on hand at the period's end (or at the last data day, for the running period): the running sum
-- of the last day with movements up to then
stock_at_period_end as (
    select
        pp.period_type,
        pp.period_start,
        pp.product_id,
        k.on_hand
    from product_periods as pp
    asof join stock_by_day as k
        on k.product_id = pp.product_id
        and k.day <= least(pp.period_end, pp.data_last_day)
),

measured as (
    select
        pp.period_type,
        pp.period_start,
        pp.period_end,
        pp.is_partial_period,
        pp.product_id,
        pp.merchant_id,
        cast(coalesce(s.units, 0) as integer) as units,
        cast(coalesce(s.net_revenue, 0) as decimal(14, 2)) as net_revenue,
        cast(coalesce(k.on_hand, 0) as integer) as on_hand_end
    from product_periods as pp
    left join period_sales as s
        on s.period_type = pp.period_type and s.period_start = pp.period_start and s.product_id = pp.product_id
    left join stock_at_period_end as k
        on k.period_type = pp.period_type and k.period_start = pp.period_start and k.product_id = pp.product_id
),

ranked as (
    select
        *,
        -- ties broken by product id so ranks (and the top 10) are deterministic
        row_number() over (
            partition by merchant_id, period_type, period_start order by net_revenue desc, product_id
        ) as net_revenue_rank,
        row_number() over (
            partition by merchant_id, period_type, period_start order by units desc, product_id
        ) as units_rank,
        lag(net_revenue) over (partition by product_id, period_type order by period_start) as prev_net_revenue,
        lag(units) over (partition by product_id, period_type order by period_start) as prev_units
    from measured
),

-- deciles by net revenue among the merchant's products that sold in the period (1 = lowest)
sellers_deciles as (
    select
        period_type,
        period_start,
        product_id,
        ntile(10) over (
            partition by merchant_id, period_type, period_start order by net_revenue, product_id
        ) as net_revenue_decile
    from measured
    where units > 0
)

select
    r.period_type,
    r.period_start,
    r.period_end,
    r.is_partial_period,
    r.product_id,
    r.merchant_id,
    r.units,
    r.net_revenue,
    cast(r.net_revenue_rank as integer) as net_revenue_rank,
    cast(r.units_rank as integer) as units_rank,
    cast(r.prev_units as integer) as prev_units,
    cast(r.prev_net_revenue as decimal(14, 2)) as prev_net_revenue,
    cast(r.units as double) / nullif(r.prev_units, 0) - 1 as units_growth,
    cast(r.net_revenue as double) / nullif(cast(r.prev_net_revenue as double), 0) - 1 as net_revenue_growth,
    r.on_hand_end,
    r.net_revenue_rank <= 10 and r.net_revenue > 0 as is_best_seller,
    coalesce(d.net_revenue_decile = 1, false) or (r.units = 0 and r.on_hand_end > 0) as is_slow_mover,
    r.units = 0 and r.on_hand_end > 0 as has_stock_no_sales
from ranked as r
left join sellers_deciles as d
    on d.period_type = r.period_type and d.period_start = r.period_start and d.product_id = r.product_id
