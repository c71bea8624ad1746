{{ config(contract={"enforced": true}) }}
-- Cohort retention over all merchants' orders (METRICS: Customers / Cohort retention); the SQL is
-- macros/customer_metrics.sql, shared with merchant_customer_cohorts.
{{ customer_cohorts_sql(partition_by=[]) }}
