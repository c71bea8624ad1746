{{ config(contract={"enforced": true}) }}
-- Historical lifetime value per merchant x customer, from merchant_customer_rfm (the merchant's
-- own orders only); the SQL is macros/customer_metrics.sql, shared with customer_value.
{{ customer_value_sql(ref('merchant_customer_rfm'), partition_by=['merchant_id']) }}
