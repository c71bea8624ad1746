-- campaign_performance: rates are proportions, the uplift lies inside its interval, every member
-- is counted in one group (so grp holds only 'target' and 'control', and nobody is in a campaign
-- twice), and attributed orders and revenue add up to fct_orders.
{{ config(meta={'dagster': {'ref': {'name': 'campaign_performance'}}}) }}
with c as (
    select * from {{ ref('campaign_performance') }}
),
members as (
    select campaign_id, count(*) as members, count(distinct customer_id) as customers
    from {{ ref('stg_store__campaign_members') }}
    group by campaign_id
),
attributed as (
    select count(*) as orders, sum(net_revenue) as revenue
    from {{ ref('fct_orders') }}
    where campaign_id is not null and not is_cancelled
)
select 'row' as problem, c.campaign_id
from c
left join members as m on m.campaign_id = c.campaign_id
where c.contacted_conversion_rate < 0 or c.contacted_conversion_rate > 1
   or c.control_conversion_rate < 0 or c.control_conversion_rate > 1
   or c.contacted_converted > c.contacted_customers
   or c.control_converted > c.control_customers
   or c.uplift_ci_low > c.uplift or c.uplift_ci_high < c.uplift
   or c.contacted_customers + c.control_customers <> coalesce(m.members, 0)
   or m.members <> m.customers
   or c.new_customers > c.attributed_orders
union all
select 'attributed totals', null
from attributed
where orders <> (select sum(attributed_orders) from c)
   or revenue <> (select sum(attributed_revenue) from c)
