{{ config(contract={"enforced": true}) }}
-- Every customer's behavioural segment (k-means), with the segment's plain-words profile.
select
    s.customer_id,
    cast(s.segment_id as integer) as segment_id,
    d.segment_name,
    d.description as segment_description,
    d.as_of_on,
    r.recency_days,
    r.frequency,
    r.monetary,
    r.rfm_segment
from {{ source('ml', 'customer_segments') }} as s
join {{ source('ml', 'segment_descriptions') }} as d on d.segment_id = s.segment_id
left join {{ ref('customer_rfm') }} as r on r.customer_id = s.customer_id
