{{ config(contract={"enforced": true}) }}
-- Historical lifetime value per customer (METRICS: Customers / Historical lifetime value), on the
-- same orders and as-of day as customer_rfm, whose frequency and monetary are the orders and the
-- lifetime value here.
with with_tenure as (
    select
        r.*,
        -- tenure: days as a customer, from the first order day to the as-of day (>= 1 here,
        -- because only orders before the as-of day count)
        {{ dbt.datediff('r.first_order_on', 'r.as_of_on', 'day') }} as tenure_days
    from {{ ref('customer_rfm') }} as r
)
select
    customer_id,
    customer_ref,
    first_order_on,
    last_order_on,
    cast(frequency as integer) as orders,
    cast(monetary as decimal(14, 2)) as lifetime_value,
    cast(monetary / frequency as decimal(14, 2)) as average_order_value,
    cast(tenure_days as integer) as tenure_days,
    -- orders per year of tenure; undefined (null) for a tenure of 0 days
    cast(frequency as double) * 365.0 / nullif(tenure_days, 0) as purchase_frequency_per_year,
    as_of_on
from with_tenure
