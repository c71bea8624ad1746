{{ config(contract={"enforced": true}) }}
-- One row per product of a posted stock count: counted - expected on hand at the moment of
-- posting (METRICS: count variance), in units and at the average cost the store booked the
-- correction with. Open and cancelled counts have no expected quantity yet and are left out.
with counts as (
    select * from {{ ref('stg_store__stock_counts') }}
    where status = 'posted'
),

lines as (
    select * from {{ ref('stg_store__stock_count_lines') }}
),

warehouses as (
    select warehouse_id, code from {{ ref('stg_store__warehouses') }}
),

products as (
    select product_id, merchant_id, sku from {{ ref('dim_products') }}
)

select
    l.stock_count_line_id,
    l.stock_count_id,
    c.warehouse_id,
    w.code as warehouse_code,
    l.product_id,
    p.merchant_id,
    p.sku,
    c.posted_at,
    cast(c.posted_at as date) as posted_on,
    cast(l.expected_qty as integer) as expected_qty,
    cast(l.counted_qty as integer) as counted_qty,
    cast(l.variance_qty as integer) as variance_qty,
    l.unit_cost,
    cast(coalesce(l.variance_value, l.variance_qty * l.unit_cost) as decimal(14, 2)) as variance_value,
    cast(abs(coalesce(l.variance_value, l.variance_qty * l.unit_cost)) as decimal(14, 2)) as abs_variance_value,
    -- the store records no reason per line: the direction of the difference is the reason class
    cast(case
        when l.variance_qty < 0 then 'shortage'
        when l.variance_qty > 0 then 'surplus'
        else 'match'
    end as varchar) as variance_reason
from lines as l
join counts as c on c.stock_count_id = l.stock_count_id
left join warehouses as w on w.warehouse_id = c.warehouse_id
left join products as p on p.product_id = l.product_id
