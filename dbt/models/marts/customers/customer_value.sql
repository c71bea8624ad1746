{{ config(contract={"enforced": true}) }}
-- Historical lifetime value per customer over all merchants' orders (METRICS: Customers /
-- Historical lifetime value), from customer_rfm; the SQL is macros/customer_metrics.sql, shared
-- with merchant_customer_value.
{{ customer_value_sql(ref('customer_rfm'), partition_by=[]) }}
