-- Published with the scores it judges: built after them, so a pipeline run builds every mart on
-- the models' output in one dbt step (Dagster runs a dbt step per hop between dbt and Python
-- assets; an extra step costs dbt's start-up, 7 to 8 s).
-- depends_on: {{ source('ml', 'churn_scores') }}
{{ config(contract={"enforced": true}) }}
-- The churn model against recency alone on the last cut-off whose 90 days are fully observed.
select
    cast(model as varchar) as model,
    train_cutoff_on,
    test_cutoff_on,
    cast(horizon_days as integer) as horizon_days,
    cast(customers as bigint) as customers,
    cast(churned as bigint) as churned,
    cast(roc_auc as double) as roc_auc,
    cast(brier as double) as brier,
    cast(log_loss as double) as log_loss,
    model <> 'recency_only' as is_candidate
from {{ source('ml', 'churn_evaluation') }}
