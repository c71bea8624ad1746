{{ config(contract={"enforced": true}) }}
-- Cohort retention per merchant, from the merchant's own orders only (cohort = first order month
-- at that merchant); the SQL is macros/customer_metrics.sql, shared with customer_cohorts.
{{ customer_cohorts_sql(partition_by=['merchant_id']) }}
