-- Published with the scores it judges: built after them, so a pipeline run builds every mart on
-- the models' output in one dbt step (Dagster runs a dbt step per hop between dbt and Python
-- assets; an extra step costs dbt's start-up, 7 to 8 s).
-- depends_on: {{ source('ml', 'customer_recommendations') }}
{{ config(contract={"enforced": true}) }}
-- The recommender against the popularity baseline on the same time split.
with evaluation as (
    select * from {{ source('ml', 'recommendation_evaluation') }}
),

baseline as (
    select ndcg_at_10 from evaluation where model = 'popularity'
)

select
    cast(e.model as varchar) as model,
    e.cutoff_on,
    cast(e.test_days as integer) as test_days,
    cast(e.customers_evaluated as bigint) as customers_evaluated,
    cast(e.precision_at_10 as double) as precision_at_10,
    cast(e.recall_at_10 as double) as recall_at_10,
    cast(e.ndcg_at_10 as double) as ndcg_at_10,
    cast(e.catalogue_coverage as double) as catalogue_coverage,
    cast(e.ndcg_at_10 / nullif(b.ndcg_at_10, 0) as double) as ndcg_vs_popularity,
    e.model <> 'popularity' as is_candidate,
    cast(e.planted_affinities as integer) as planted_affinities,
    cast(e.affinities_recovered as integer) as affinities_recovered
from evaluation as e
left join baseline as b on true
