-- One row per order line with its order, product and cost. Money of cancelled orders is zeroed
-- (METRICS: sales count orders not cancelled); the line itself stays for the record.
with lines as (
    select * from {{ ref('stg_store__order_lines') }}
),
orders as (
    select * from {{ ref('stg_store__orders') }}
),
products as (
    select * from {{ ref('stg_store__products') }}
),
valuations as (
    select * from {{ ref('stg_store__stock_valuations') }}
)
select
    l.order_line_id,
    l.order_id,
    l.line_no,
    l.product_id,
    l.sku,
    p.name as product_name,
    p.category,
    o.merchant_id,
    o.customer_id,
    o.channel,
    o.status as order_status,
    o.status = 'cancelled' as is_cancelled,
    o.placed_at,
    cast(o.placed_at as date) as placed_on,
    o.currency,
    o.campaign_id,
    o.coupon_id,
    l.unit_price,
    -- cost at the time of sale (set when the goods left); before shipping, the current average
    cast(coalesce(l.unit_cost, v.avg_unit_cost, p.unit_cost) as decimal(14, 4)) as unit_cost,
    case when o.status = 'cancelled' then 0 else l.quantity end as units,
    cast(case when o.status = 'cancelled' then 0 else l.quantity * l.unit_price end as decimal(14, 2)) as gross_sales,
    cast(case when o.status = 'cancelled' then 0 else l.discount end as decimal(14, 2)) as discounts,
    cast(case when o.status = 'cancelled' then 0 else l.line_total end as decimal(14, 2)) as net_sales
from lines as l
join orders as o on o.order_id = l.order_id
join products as p on p.product_id = l.product_id
left join valuations as v on v.product_id = l.product_id
