{{ config(contract={"enforced": true}) }}
-- Per merchant x week: customers by their RFM segment a week before (as of W - 7 days) and at the
-- week's start W (as of W), for the 26 Mondays W up to the as-of day. The RFM and segments are
-- merchant_customer_rfm's (macros/customer_metrics.sql, partition_by=['merchant_id']), evaluated
-- at the 27 Mondays at once: each Monday is its own as-of day (orders placed before it count,
-- scores are ranked among the merchant's customers of that day).
{%- set mondays -%}
    select cast({{ dbt.date_trunc('week', as_of_day()) }} as date) - 7 * cast(k as integer) as as_of_on
    from range(0, 27) as weeks_back (k)
{%- endset %}
with rfm as (
    {{ customer_rfm_sql(partition_by=['merchant_id'], as_of_days=mondays) }}
),

-- each customer's segment at a Monday next to the one a week earlier; a customer has an RFM row
-- from the first Monday after their first order at the merchant on, so a missing row a week
-- earlier means they had not ordered there before (from_segment null)
moves as (
    select
        merchant_id,
        customer_id,
        as_of_on as week_start,
        case when lag(as_of_on) over w = as_of_on - 7 then lag(rfm_segment) over w end as from_segment,
        rfm_segment as to_segment
    from rfm
    window w as (partition by merchant_id, customer_id order by as_of_on)
)

select
    merchant_id,
    week_start,
    from_segment,
    to_segment,
    cast(count(*) as integer) as customers
from moves
-- the oldest Monday is only the start of the first week
where week_start > (select min(as_of_on) from ({{ mondays }}) as oldest)
group by merchant_id, week_start, from_segment, to_segment
