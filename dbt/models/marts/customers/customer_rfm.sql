{{ config(contract={"enforced": true}) }}
-- RFM per customer as of a day, over all merchants' orders (METRICS: Customers / RFM and RFM
-- segments); the SQL is macros/customer_metrics.sql, shared with merchant_customer_rfm.
{{ customer_rfm_sql(partition_by=[]) }}
