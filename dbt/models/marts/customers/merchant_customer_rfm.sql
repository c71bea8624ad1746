{{ config(contract={"enforced": true}) }}
-- RFM per merchant x customer as of a day, from the merchant's own orders only (scores ranked
-- within the merchant); the SQL is macros/customer_metrics.sql, shared with customer_rfm.
{{ customer_rfm_sql(partition_by=['merchant_id']) }}
