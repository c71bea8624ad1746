{{ config(contract={"enforced": true}) }}
-- One row per campaign (METRICS: Marketing / Campaign uplift, Incremental revenue, Return on
-- spend, ROAS). Members are split by grp: 'target' = contacted (treatment, kept as assigned
-- whether or not the contact went out), 'control' = held out. Customers are linked by customer_id.
with campaigns as (
    select * from {{ ref('stg_store__campaigns') }}
),
members as (
    select * from {{ ref('stg_store__campaign_members') }}
),
orders as (
    select * from {{ ref('fct_orders') }}
    where not is_cancelled
),
-- each member's orders not cancelled placed within the campaign window (starts_on..ends_on,
-- both days included), whatever their attribution: the uplift compares all buying behaviour.
-- Orders join members on the customer (a hash join) and the window filters after: the same
-- conditions in a left join's ON made DuckDB compare every member with every order (a nested
-- loop join: 134 s at a million orders).
member_windows as (
    select m.campaign_id, m.customer_id, m.grp, c.starts_on, c.ends_on, c.merchant_id
    from members as m
    join campaigns as c on c.campaign_id = m.campaign_id
),
window_totals as (
    select
        w.campaign_id,
        w.customer_id,
        count(distinct o.order_id) as window_orders,
        sum(o.net_revenue) as window_revenue
    from member_windows as w
    join orders as o on o.customer_id = w.customer_id
    where o.placed_on between w.starts_on and w.ends_on
      -- a merchant's campaign is judged on that merchant's orders only
      and (w.merchant_id is null or o.merchant_id = w.merchant_id)
    group by w.campaign_id, w.customer_id
),
-- one row per member ((campaign_id, customer_id) is unique in the store)
member_outcomes as (
    select
        w.campaign_id,
        w.customer_id,
        w.grp,
        coalesce(t.window_orders, 0) as window_orders,
        coalesce(t.window_revenue, 0) as window_revenue
    from member_windows as w
    left join window_totals as t on t.campaign_id = w.campaign_id and t.customer_id = w.customer_id
),
groups as (
    select
        campaign_id,
        sum(case when grp = 'target' then 1 else 0 end) as contacted_customers,
        sum(case when grp = 'control' then 1 else 0 end) as control_customers,
        sum(case when grp = 'target' and window_orders > 0 then 1 else 0 end) as contacted_converted,
        sum(case when grp = 'control' and window_orders > 0 then 1 else 0 end) as control_converted,
        sum(case when grp = 'target' then window_revenue else 0 end) as contacted_revenue,
        sum(case when grp = 'control' then window_revenue else 0 end) as control_revenue
    from member_outcomes
    group by campaign_id
),
-- orders attributed to the campaign (through its coupon, see fct_orders), whenever placed
attributed as (
    select
        campaign_id,
        count(distinct order_id) as attributed_orders,
        sum(net_revenue) as attributed_revenue,
        sum(gross_margin) as attributed_gross_margin,
        sum(case when is_first_order then 1 else 0 end) as new_customers
    from orders
    where campaign_id is not null
    group by campaign_id
),
rates as (
    select
        c.campaign_id,
        c.code,
        c.name,
        c.merchant_id,
        c.channel,
        c.starts_on,
        c.ends_on,
        c.spend,
        coalesce(g.contacted_customers, 0) as contacted_customers,
        coalesce(g.control_customers, 0) as control_customers,
        coalesce(g.contacted_converted, 0) as contacted_converted,
        coalesce(g.control_converted, 0) as control_converted,
        coalesce(a.attributed_orders, 0) as attributed_orders,
        coalesce(a.attributed_revenue, 0) as attributed_revenue,
        coalesce(a.new_customers, 0) as new_customers,
        cast(g.contacted_converted as double) / nullif(g.contacted_customers, 0) as p1,
        cast(g.control_converted as double) / nullif(g.control_customers, 0) as p2,
        cast(g.contacted_revenue as double) / nullif(g.contacted_customers, 0) as revenue_per_contacted,
        cast(g.control_revenue as double) / nullif(g.control_customers, 0) as revenue_per_control,
        -- margin ratio of the campaign's own orders turns incremental revenue into margin
        cast(a.attributed_gross_margin as double) / nullif(a.attributed_revenue, 0) as margin_ratio
    from campaigns as c
    left join groups as g on g.campaign_id = c.campaign_id
    left join attributed as a on a.campaign_id = c.campaign_id
),
uplift as (
    select
        *,
        p1 - p2 as uplift_raw,
        -- 95% CI half-width for a difference of two proportions (normal approximation)
        1.96 * sqrt(
            p1 * (1 - p1) / nullif(contacted_customers, 0) + p2 * (1 - p2) / nullif(control_customers, 0)
        ) as ci_half_width,
        (revenue_per_contacted - revenue_per_control) * contacted_customers as incremental_revenue_raw
    from rates
)
select
    campaign_id,
    code as campaign_code,
    name as campaign_name,
    merchant_id,
    channel,
    starts_on,
    ends_on,
    cast(contacted_customers as integer) as contacted_customers,
    cast(control_customers as integer) as control_customers,
    cast(contacted_converted as integer) as contacted_converted,
    cast(control_converted as integer) as control_converted,
    round(p1, 4) as contacted_conversion_rate,
    round(p2, 4) as control_conversion_rate,
    round(uplift_raw, 4) as uplift,
    round(uplift_raw - ci_half_width, 4) as uplift_ci_low,
    round(uplift_raw + ci_half_width, 4) as uplift_ci_high,
    -- the normal approximation holds when each group has at least 5 converters and 5 who did not
    contacted_converted >= 5 and contacted_customers - contacted_converted >= 5
        and control_converted >= 5 and control_customers - control_converted >= 5 as is_uplift_ci_reliable,
    cast(revenue_per_contacted as decimal(14, 2)) as revenue_per_contacted,
    cast(revenue_per_control as decimal(14, 2)) as revenue_per_control,
    cast(incremental_revenue_raw as decimal(14, 2)) as incremental_revenue,
    round(margin_ratio, 4) as margin_ratio,
    cast(incremental_revenue_raw * margin_ratio as decimal(14, 2)) as incremental_gross_margin,
    cast(attributed_orders as integer) as attributed_orders,
    cast(attributed_revenue as decimal(14, 2)) as attributed_revenue,
    cast(new_customers as integer) as new_customers,
    cast(spend as decimal(14, 2)) as spend,
    round((incremental_revenue_raw * margin_ratio - spend) / nullif(spend, 0), 4) as return_on_spend,
    round(attributed_revenue / nullif(spend, 0), 4) as roas
from uplift
