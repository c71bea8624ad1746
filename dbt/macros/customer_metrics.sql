{#-
    The customer marts' SQL (METRICS.md, Customers), written once and built at two grains:
        customer_rfm / customer_cohorts / customer_value                 partition_by=[] (portal-wide)
        merchant_customer_rfm / _cohorts / _value                        partition_by=['merchant_id']
    partition_by lists columns of fct_orders that split the orders into independent partitions:
    every measure, ranking and cohort is computed from the partition's own orders only (ntile
    windows are "partition by" them, a customer's cohort is their first order month within the
    partition), and the partition columns lead the output, before the portal-wide columns. The
    as-of day (as_of_day()) and the latest order month that ends the cohort grid are the
    warehouse's, the same for every partition: they date the figures, they are not measures.
    With partition_by=[] the SQL is the portal-wide marts' as they were before the split.
    customer_rfm_sql can also be evaluated at several as-of days in one query (as_of_days, each day
    ranked on its own): merchant_segment_movement compares the segments of consecutive Mondays.
-#}

{#- "o.a, o.b, " for the partition columns (alias optional); "" when there are none. -#}
{% macro customer_metrics_keys(partition_by, alias=none) -%}
    {%- for col in partition_by -%}{{ alias ~ '.' if alias else '' }}{{ col }}, {% endfor -%}
{%- endmacro %}

{#- " and l.a = r.a and l.b = r.b" joining two aliases on the partition columns. -#}
{% macro customer_metrics_keys_join(partition_by, left, right) -%}
    {%- for col in partition_by %} and {{ left }}.{{ col }} = {{ right }}.{{ col }}{% endfor -%}
{%- endmacro %}

{#- "partition by a, b " for window functions; "" when there are none. -#}
{% macro customer_metrics_window(partition_by) -%}
    {%- if partition_by | length > 0 -%}partition by {{ partition_by | join(', ') }} {% endif -%}
{%- endmacro %}


{#-
    RFM per customer (per partition x customer) as of a day (METRICS: Customers / RFM and RFM
    segments). Only orders not cancelled and placed before the as-of day count; customers without
    one are left out.
    as_of_days: optional SQL select whose column as_of_on lists the as-of days (dates) to evaluate
    at, all in one query (merchant_segment_movement: 27 Mondays). Each as-of day is one more
    partition: its customers are counted, ranked and segmented on their own, exactly as with the
    var as_of set to that day, and as_of_on tells the rows apart. Left out (none), the only as-of
    day is as_of_day() (customer_rfm, merchant_customer_rfm).
-#}
{% macro customer_rfm_sql(partition_by=[], as_of_days=none) -%}
{%- set keys = [partition_by] if partition_by is string else partition_by | list -%}
{#- the partitions of the rankings: the partition columns and the as-of day -#}
{%- set ranked_by = keys + ['as_of_on'] -%}
with as_of as (
{%- if as_of_days is none %}
    select {{ as_of_day() }} as as_of_on
{%- else %}
    select distinct cast(as_of_on as date) as as_of_on
    from ({{ as_of_days }}) as as_of_days
{%- endif %}
),
-- orders not cancelled, per partition x customer x the first as-of day after the order day (the
-- order counts as of that day and every later one; an order on or after the last as-of day counts
-- nowhere). With many as-of days that is far less to add up than every order x every as-of day
-- after it. fct_orders has one row per order (order_id unique), so the distinct orders of a
-- customer's groups add up to the customer's distinct orders.
order_groups as (
    select
        {{ customer_metrics_keys(keys, 'o') }}o.customer_id,
        a.as_of_on as first_as_of_on,
        min(o.placed_on) as first_order_on,
        max(o.placed_on) as last_order_on,
        count(distinct o.order_id) as frequency,
        sum(o.net_revenue) as monetary
    from {{ ref('fct_orders') }} as o
    asof join as_of as a on o.placed_on < a.as_of_on
    where not o.is_cancelled
    group by {{ customer_metrics_keys(keys, 'o') }}o.customer_id, a.as_of_on
),
customer_orders as (
    select
        {{ customer_metrics_keys(keys, 'g') }}g.customer_id,
        a.as_of_on,
        min(g.first_order_on) as first_order_on,
        max(g.last_order_on) as last_order_on,
        sum(g.frequency) as frequency,
        sum(g.monetary) as monetary
    from order_groups as g
    join as_of as a on g.first_as_of_on <= a.as_of_on
    group by {{ customer_metrics_keys(keys, 'g') }}g.customer_id, a.as_of_on
),
measured as (
    select
        {{ customer_metrics_keys(keys, 'c') }}c.customer_id,
        c.first_order_on,
        c.last_order_on,
        {{ dbt.datediff('c.last_order_on', 'c.as_of_on', 'day') }} as recency_days,
        c.frequency,
        c.monetary,
        c.as_of_on
    from customer_orders as c
),
-- ntile(5) numbers the customers (of the partition) from worst to best, so the last fifth (the
-- best) scores 5. Ties: among equal values the lower customer_id counts as better (it sorts later
-- because of "customer_id desc"). ntile gives any remainder rows to the lowest tiles, so score 5
-- is never larger than score 1.
scored as (
    select
        *,
        ntile(5) over ({{ customer_metrics_window(ranked_by) }}order by recency_days desc, customer_id desc) as r_score,
        ntile(5) over ({{ customer_metrics_window(ranked_by) }}order by frequency asc, customer_id desc) as f_score,
        ntile(5) over ({{ customer_metrics_window(ranked_by) }}order by monetary asc, customer_id desc) as m_score
    from measured
),
-- The METRICS.md segment table as ranges of R and F. The ranges partition the 5 x 5 grid: a gap
-- would leave rfm_segment null and an overlap would duplicate the customer, and both are tested.
segment_rules as (
    select * from (
        values
            ('Champions', 5, 5, 4, 5),
            ('Loyal', 3, 4, 4, 5),
            ('Potential loyalist', 4, 5, 2, 3),
            ('New', 5, 5, 1, 1),
            ('Promising', 4, 4, 1, 1),
            ('Need attention', 3, 3, 3, 3),
            ('About to sleep', 3, 3, 1, 2),
            ('At risk', 1, 2, 3, 4),
            ('Cannot lose them', 1, 2, 5, 5),
            ('Hibernating', 1, 2, 1, 2)
    ) as t (segment, r_from, r_to, f_from, f_to)
),
-- the rules as the cells of the 5 x 5 grid they cover, joined to the scores by equality (faster than
-- the ranges on many rows; the same matches)
segment_cells as (
    select r.r_score, f.f_score, s.segment
    from segment_rules as s
    join range(1, 6) as r (r_score) on r.r_score between s.r_from and s.r_to
    join range(1, 6) as f (f_score) on f.f_score between s.f_from and s.f_to
)
select
    {{ customer_metrics_keys(keys, 's') }}s.customer_id,
    d.customer_ref,
    s.first_order_on,
    s.last_order_on,
    cast(s.recency_days as integer) as recency_days,
    cast(s.frequency as integer) as frequency,
    cast(s.monetary as decimal(14, 2)) as monetary,
    cast(s.r_score as integer) as r_score,
    cast(s.f_score as integer) as f_score,
    cast(s.m_score as integer) as m_score,
    r.segment as rfm_segment,
    s.as_of_on
from scored as s
left join segment_cells as r
    on r.r_score = s.r_score
   and r.f_score = s.f_score
left join {{ ref('dim_customers') }} as d on d.customer_id = s.customer_id
{%- endmacro %}


{#-
    Cohort retention (METRICS: Customers / Cohort retention): customers by the month of their first
    order not cancelled (in the partition) x months since that month (0, 1, 2, ... up to the latest
    order month of the warehouse).
-#}
{% macro customer_cohorts_sql(partition_by=[]) -%}
{%- set keys = [partition_by] if partition_by is string else partition_by | list -%}
with orders as (
    select
        {{ customer_metrics_keys(keys) }}customer_id,
        order_id,
        cast({{ dbt.date_trunc('month', 'placed_on') }} as date) as order_month,
        net_revenue
    from {{ ref('fct_orders') }}
    where not is_cancelled
),
cohort_of_customer as (
    select {{ customer_metrics_keys(keys) }}customer_id, min(order_month) as cohort_month
    from orders
    group by {{ customer_metrics_keys(keys) }}customer_id
),
cohorts as (
    select {{ customer_metrics_keys(keys) }}cohort_month, count(*) as cohort_size
    from cohort_of_customer
    group by {{ customer_metrics_keys(keys) }}cohort_month
),
-- the latest order month of all orders (not per partition): every cohort runs up to the same month
last_month as (
    select max(order_month) as last_order_month from orders
),
months as (
    select distinct month_start as activity_month
    from {{ ref('dim_dates') }}
),
-- every cohort gets a row for every month from its own up to the latest order month, so months
-- without any order show 0 rather than being missing
cohort_months as (
    select
        {{ customer_metrics_keys(keys, 'c') }}c.cohort_month,
        c.cohort_size,
        m.activity_month,
        {{ dbt.datediff('c.cohort_month', 'm.activity_month', 'month') }} as months_since
    from cohorts as c
    join months as m on m.activity_month >= c.cohort_month
    cross join last_month as l
    where m.activity_month <= l.last_order_month
),
activity as (
    select
        {{ customer_metrics_keys(keys, 'c') }}c.cohort_month,
        o.order_month as activity_month,
        count(distinct o.customer_id) as active_customers,
        count(distinct o.order_id) as orders,
        sum(o.net_revenue) as revenue
    from orders as o
    join cohort_of_customer as c on c.customer_id = o.customer_id{{ customer_metrics_keys_join(keys, 'c', 'o') }}
    group by {{ customer_metrics_keys(keys, 'c') }}c.cohort_month, o.order_month
)
select
    {{ customer_metrics_keys(keys, 'm') }}m.cohort_month,
    cast(m.months_since as integer) as months_since,
    m.activity_month,
    cast(m.cohort_size as integer) as cohort_size,
    cast(coalesce(a.active_customers, 0) as integer) as active_customers,
    cast(coalesce(a.active_customers, 0) as double) / m.cohort_size as retention_rate,
    cast(coalesce(a.orders, 0) as integer) as orders,
    cast(coalesce(a.revenue, 0) as decimal(14, 2)) as revenue
from cohort_months as m
left join activity as a
    on a.cohort_month = m.cohort_month
   and a.activity_month = m.activity_month{{ customer_metrics_keys_join(keys, 'a', 'm') }}
{%- endmacro %}


{#-
    Historical lifetime value per customer (per partition x customer) (METRICS: Customers /
    Historical lifetime value), on the same orders and as-of day as the RFM mart of the same grain,
    whose frequency and monetary are the orders and the lifetime value here. rfm: that mart's
    relation, ref('customer_rfm') or ref('merchant_customer_rfm'), passed by the model so the
    dependency shows in it (and unit tests can give it as an input).
-#}
{% macro customer_value_sql(rfm, partition_by=[]) -%}
{%- set keys = [partition_by] if partition_by is string else partition_by | list -%}
with with_tenure as (
    select
        r.*,
        -- tenure: days as a customer, from the first order day to the as-of day (>= 1 here,
        -- because only orders before the as-of day count)
        {{ dbt.datediff('r.first_order_on', 'r.as_of_on', 'day') }} as tenure_days
    from {{ rfm }} as r
)
select
    {{ customer_metrics_keys(keys) }}customer_id,
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
{%- endmacro %}
