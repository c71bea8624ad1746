-- Published with the scores it judges: built after them, so a pipeline run builds every mart on
-- the models' output in one dbt step (Dagster runs a dbt step per hop between dbt and Python
-- assets; an extra step costs dbt's start-up, 7 to 8 s).
-- depends_on: {{ source('ml', 'customer_segments') }}
{{ config(contract={"enforced": true}) }}
-- One row per behavioural segment: size, spend, frequency, recency, favourite categories, in words.
select
    cast(segment_id as integer) as segment_id,
    segment_name,
    cast(customers as bigint) as customers,
    cast(share_of_customers as double) as share_of_customers,
    cast(median_recency_days as double) as median_recency_days,
    cast(median_frequency as double) as median_frequency,
    cast(median_monetary as double) as median_monetary,
    cast(total_monetary as double) as total_monetary,
    cast(avg_order_value as double) as avg_order_value,
    favourite_categories,
    description,
    as_of_on,
    cast(k as integer) as segments_chosen
from {{ source('ml', 'segment_descriptions') }}
