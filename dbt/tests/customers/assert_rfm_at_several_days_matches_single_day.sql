-- customer_rfm_sql evaluated at several as-of days at once (its as_of_days argument, what
-- merchant_segment_movement uses) gives, for the as-of day itself, exactly the rows of
-- merchant_customer_rfm and customer_rfm (evaluated at that one day), although another day (a
-- week earlier) is ranked in the same query. Returns the rows found on one side only.
{{ config(meta={'dagster': {'ref': {'name': 'merchant_customer_rfm'}}}) }}
{%- set two_days -%}
    select {{ as_of_day() }} as as_of_on
    union all
    select {{ as_of_day() }} - 7 as as_of_on
{%- endset %}
with merchant_several as (
    {{ customer_rfm_sql(partition_by=['merchant_id'], as_of_days=two_days) }}
),
portal_several as (
    {{ customer_rfm_sql(partition_by=[], as_of_days=two_days) }}
),
merchant_at_as_of as (
    select * from merchant_several where as_of_on = {{ as_of_day() }}
),
portal_at_as_of as (
    select * from portal_several where as_of_on = {{ as_of_day() }}
),
merchant_diff as (
    (select * from merchant_at_as_of except all select * from {{ ref('merchant_customer_rfm') }})
    union all
    (select * from {{ ref('merchant_customer_rfm') }} except all select * from merchant_at_as_of)
),
portal_diff as (
    (select * from portal_at_as_of except all select * from {{ ref('customer_rfm') }})
    union all
    (select * from {{ ref('customer_rfm') }} except all select * from portal_at_as_of)
)
select 'merchant_customer_rfm' as mart, merchant_id, customer_id, rfm_segment from merchant_diff
union all
select 'customer_rfm', null, customer_id, rfm_segment from portal_diff
