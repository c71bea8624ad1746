{{ config(contract={"enforced": true}) }}
-- RFM per customer as of a day (METRICS: Customers / RFM and RFM segments).
-- Only orders not cancelled and placed before the as-of day count; customers without one are
-- left out.
with as_of as (
    select {{ as_of_day() }} as as_of_on
),
counted_orders as (
    select o.customer_id, o.order_id, o.placed_on, o.net_revenue
    from {{ ref('fct_orders') }} as o
    cross join as_of as a
    where not o.is_cancelled
      and o.placed_on < a.as_of_on
),
customer_orders as (
    select
        customer_id,
        min(placed_on) as first_order_on,
        max(placed_on) as last_order_on,
        count(distinct order_id) as frequency,
        sum(net_revenue) as monetary
    from counted_orders
    group by customer_id
),
measured as (
    select
        c.customer_id,
        c.first_order_on,
        c.last_order_on,
        {{ dbt.datediff('c.last_order_on', 'a.as_of_on', 'day') }} as recency_days,
        c.frequency,
        c.monetary,
        a.as_of_on
    from customer_orders as c
    cross join as_of as a
),
-- ntile(5) numbers the customers from worst to best, so the last fifth (the best) scores 5.
-- Ties: among equal values the lower customer_id counts as better (it sorts later because of
-- "customer_id desc"). ntile gives any remainder rows to the lowest tiles, so score 5 is never
-- larger than score 1.
scored as (
    select
        *,
        ntile(5) over (order by recency_days desc, customer_id desc) as r_score,
        ntile(5) over (order by frequency asc, customer_id desc) as f_score,
        ntile(5) over (order by monetary asc, customer_id desc) as m_score
    from measured
),
-- The METRICS.md segment table as ranges of R and F. The ranges partition the 5 x 5 grid: a gap
-- would leave rfm_segment null and an overlap would duplicate the customer, and both are tested.
segment_rules as (
    select * from (
        values
            ('Champions', 5, 5, 4, 5),
            ('Loyal', 3, 4, 4, 5),
            ('Potential loyalist', 4, 5, 2, 3),
            ('New', 5, 5, 1, 1),
            ('Promising', 4, 4, 1, 1),
            ('Need attention', 3, 3, 3, 3),
            ('About to sleep', 3, 3, 1, 2),
            ('At risk', 1, 2, 3, 4),
            ('Cannot lose them', 1, 2, 5, 5),
            ('Hibernating', 1, 2, 1, 2)
    ) as t (segment, r_from, r_to, f_from, f_to)
)
select
    s.customer_id,
    d.customer_ref,
    s.first_order_on,
    s.last_order_on,
    cast(s.recency_days as integer) as recency_days,
    cast(s.frequency as integer) as frequency,
    cast(s.monetary as decimal(14, 2)) as monetary,
    cast(s.r_score as integer) as r_score,
    cast(s.f_score as integer) as f_score,
    cast(s.m_score as integer) as m_score,
    r.segment as rfm_segment,
    s.as_of_on
from scored as s
left join segment_rules as r
    on s.r_score between r.r_from and r.r_to
   and s.f_score between r.f_from and r.f_to
left join {{ ref('dim_customers') }} as d on d.customer_id = s.customer_id
