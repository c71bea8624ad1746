-- Published with the scores it judges: built after them, so a pipeline run builds every mart on
-- the models' output in one dbt step (Dagster runs a dbt step per hop between dbt and Python
-- assets; an extra step costs dbt's start-up, 7 to 8 s).
-- depends_on: {{ source('ml', 'churn_scores') }}
{{ config(contract={"enforced": true}) }}
-- The churn model's calibration: customers in 10 equal-frequency bins of predicted probability,
-- the mean predicted probability against the share that did churn.
select
    cast(bin as integer) as bin,
    cast(mean_predicted as double) as mean_predicted,
    cast(observed_rate as double) as observed_rate,
    cast(customers as bigint) as customers
from {{ source('ml', 'churn_calibration') }}
