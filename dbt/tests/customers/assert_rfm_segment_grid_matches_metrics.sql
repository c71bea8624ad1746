-- The METRICS.md segment table, copied here on its own: (1) it maps every (R, F) pair of the
-- 5 x 5 grid to exactly one segment, and (2) every customer in customer_rfm carries the segment
-- that table gives for their scores. Returns the offending pairs / customers.
with metrics_table as (
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
),
scores as (
    select * from (values (1), (2), (3), (4), (5)) as t (score)
),
grid as (
    select r.score as r_score, f.score as f_score, count(m.segment) as segments, min(m.segment) as segment
    from scores as r
    cross join scores as f
    left join metrics_table as m
        on r.score between m.r_from and m.r_to
       and f.score between m.f_from and m.f_to
    group by r.score, f.score
)
select 'grid pair' as problem, cast(null as bigint) as customer_id, r_score, f_score, segment
from grid
where segments <> 1
union all
select 'customer segment' as problem, c.customer_id, c.r_score, c.f_score, c.rfm_segment
from {{ ref('customer_rfm') }} as c
left join grid as g on g.r_score = c.r_score and g.f_score = c.f_score
where g.segment is null or c.rfm_segment is null or c.rfm_segment <> g.segment
