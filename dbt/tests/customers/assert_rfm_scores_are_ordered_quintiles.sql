-- Scores are quintiles of the rank, 5 best: a better score never holds a worse value (higher
-- recency_days, fewer orders, less revenue) than a lower score, and the five groups differ in
-- size by at most one customer (what ntile(5) gives).
with r as (
    select r_score as score, min(recency_days) as best, max(recency_days) as worst, count(*) as customers
    from {{ ref('customer_rfm') }} group by r_score
),
f as (
    select f_score as score, max(frequency) as best, min(frequency) as worst, count(*) as customers
    from {{ ref('customer_rfm') }} group by f_score
),
m as (
    select m_score as score, max(monetary) as best, min(monetary) as worst, count(*) as customers
    from {{ ref('customer_rfm') }} group by m_score
),
order_violations as (
    select 'recency' as measure, lo.score from r as lo join r as hi on hi.score = lo.score + 1 where hi.worst > lo.best
    union all
    select 'frequency', lo.score from f as lo join f as hi on hi.score = lo.score + 1 where hi.worst < lo.best
    union all
    select 'monetary', lo.score from m as lo join m as hi on hi.score = lo.score + 1 where hi.worst < lo.best
),
size_violations as (
    select 'recency sizes' as measure, cast(null as integer) as score from r having max(customers) - min(customers) > 1
    union all
    select 'frequency sizes', null from f having max(customers) - min(customers) > 1
    union all
    select 'monetary sizes', null from m having max(customers) - min(customers) > 1
)
select * from order_violations
union all
select * from size_violations
