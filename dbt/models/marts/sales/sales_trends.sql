{{ config(contract={"enforced": true}) }}
{%- set dimensions = ['category', 'channel', 'region'] -%}
-- Period (ISO week or calendar month) x dimension ('category', 'channel' or 'region') x its value:
-- orders, units, net revenue and growth against the previous period of the same kind. Net revenue is
-- built as fct_daily_sales builds it (sales on the order day, refunds of returned lines on the day paid),
-- so each dimension's values add up to fct_daily_sales for the period.
with data_periods as (
    select * from {{ ref('int_sales_periods') }}
),

lines as (
    select
        l.order_line_id,
        l.order_id,
        l.placed_on,
        l.is_cancelled,
        l.units,
        l.gross_sales - l.discounts as net_sales,
        p.category,
        l.channel,
        -- customers without a region (or erased) are kept under 'unknown' so totals still add up
        coalesce(c.region, 'unknown') as region
    from {{ ref('fct_order_lines') }} as l
    join {{ ref('dim_products') }} as p on p.product_id = l.product_id
    left join {{ ref('dim_customers') }} as c on c.customer_id = l.customer_id
),

-- one row per sale (on the order day) and per refund of a returned line (on the day paid, negative)
revenue_events as (
    select
        placed_on as day,
        case when not is_cancelled then order_id end as order_id,
        units,
        net_sales as net_revenue,
        category,
        channel,
        region
    from lines
    union all
    select
        r.refunded_on as day,
        cast(null as bigint) as order_id,
        0 as units,
        -r.refund_amount as net_revenue,
        l.category,
        l.channel,
        l.region
    from {{ ref('int_refunds_paid') }} as r
    join lines as l on l.order_line_id = r.order_line_id
),

-- the same events once per dimension
dimensional_events as (
    {%- for dim in dimensions %}
    select '{{ dim }}' as dimension, {{ dim }} as dimension_value, day, order_id, units, net_revenue
    from revenue_events
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

-- every value seen in every period, so quiet periods show zeros and growth compares neighbours
grid as (
    select p.period_type, p.period_start, p.period_end, p.is_partial_period, v.dimension, v.dimension_value
    from data_periods as p
    cross join (select distinct dimension, dimension_value from dimensional_events) as v
),

-- each event in its week and its month, added up per period and value (an order with lines in
-- two categories counts once in each)
period_totals as (
    {{ sum_by_period('dimensional_events', ['dimension', 'dimension_value'],
                     ['count(distinct order_id) as orders', 'sum(units) as units',
                      'sum(net_revenue) as net_revenue']) }}
),

measured as (
    select
        g.period_type,
        g.period_start,
        g.period_end,
        g.is_partial_period,
        g.dimension,
        g.dimension_value,
        coalesce(t.orders, 0) as orders,
        coalesce(t.units, 0) as units,
        coalesce(t.net_revenue, 0) as net_revenue
    from grid as g
    left join period_totals as t
        on t.period_type = g.period_type
        and t.period_start = g.period_start
        and t.dimension = g.dimension
        and t.dimension_value = g.dimension_value
),

with_previous as (
    select
        *,
        lag(orders) over (partition by period_type, dimension, dimension_value order by period_start) as prev_orders,
        lag(net_revenue) over (partition by period_type, dimension, dimension_value order by period_start)
            as prev_net_revenue
    from measured
)

select
    period_type,
    period_start,
    period_end,
    is_partial_period,
    dimension,
    dimension_value,
    cast(orders as integer) as orders,
    cast(units as integer) as units,
    cast(net_revenue as decimal(14, 2)) as net_revenue,
    cast(prev_orders as integer) as prev_orders,
    cast(prev_net_revenue as decimal(14, 2)) as prev_net_revenue,
    cast(orders as double) / nullif(prev_orders, 0) - 1 as orders_growth,
    cast(net_revenue as double) / nullif(cast(prev_net_revenue as double), 0) - 1 as net_revenue_growth
from with_previous
