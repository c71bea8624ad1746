{{ config(contract={"enforced": true}) }}
-- Every customer's probability of placing no order in the next 90 days (METRICS "Churned"), with
-- the figures behind it.
select
    c.customer_id,
    cast(c.churn_probability as double) as churn_probability,
    cast(c.risk_band as varchar) as risk_band,
    cast(c.recency_days as integer) as recency_days,
    cast(c.frequency as integer) as frequency,
    cast(c.monetary as decimal(14, 2)) as monetary,
    cast(c.orders_per_year as double) as orders_per_year,
    cast(c.orders_last_90 as integer) as orders_last_90,
    r.rfm_segment,
    r.as_of_on
from {{ source('ml', 'churn_scores') }} as c
left join {{ ref('customer_rfm') }} as r on r.customer_id = c.customer_id
