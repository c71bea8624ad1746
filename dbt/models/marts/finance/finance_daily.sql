{{ config(contract={"enforced": true}) }}
{#- payment methods the store accepts (ck_payments_method_known): one captured and one refunded column each -#}
{%- set payment_methods = ['card', 'e_wallet', 'bank_transfer', 'cash_on_delivery'] -%}
-- Day x merchant: sales (from fct_daily_sales, so they agree with every other mart), shipping and
-- tax charged, money moved by the payment provider, purchase-order receipts and the stock's value
-- at cost at the day's end. Every day from the first order day to the last day with any activity
-- appears for every merchant, with zeros where nothing happened.
with daily_sales as (
    select
        day,
        merchant_id,
        sum(gross_sales) as gross_sales,
        sum(discounts) as discounts,
        sum(refunds) as refunds,
        sum(net_revenue) as net_revenue,
        sum(cogs) as cogs,
        sum(gross_margin) as gross_margin
    from {{ ref('fct_daily_sales') }}
    group by day, merchant_id
),

daily_orders as (
    select
        placed_on as day,
        merchant_id,
        count(distinct case when not is_cancelled then order_id end) as orders,
        sum(shipping_charged) as shipping_charged,
        sum(tax) as tax_charged
    from {{ ref('fct_orders') }}
    group by placed_on, merchant_id
),

-- approved provider transactions on the day they happened; 'capture' and 'sale' take money in,
-- 'refund' pays it back ('authorize' and 'void' move no money)
payment_moves as (
    select
        cast(t.created_at as date) as day,
        o.merchant_id,
        p.method,
        case when t.kind in ('capture', 'sale') then t.amount else 0 end as captured,
        case when t.kind = 'refund' then t.amount else 0 end as refunded
    from {{ ref('stg_store__payment_transactions') }} as t
    join {{ ref('stg_store__payments') }} as p on p.payment_id = t.payment_id
    join {{ ref('fct_orders') }} as o on o.order_id = p.order_id
    where t.outcome = 'approved' and t.kind in ('capture', 'sale', 'refund')
),

daily_payments as (
    select
        day,
        merchant_id,
        {%- for m in payment_methods %}
        sum(case when method = '{{ m }}' then captured else 0 end) as captured_{{ m }},
        {%- endfor %}
        sum(captured) as payments_captured,
        {%- for m in payment_methods %}
        sum(case when method = '{{ m }}' then refunded else 0 end) as refunded_{{ m }},
        {%- endfor %}
        sum(refunded) as payments_refunded
    from payment_moves
    group by day, merchant_id
),

-- stock movements with their merchant (receipts below; the last day with any activity)
movements as (
    select
        m.product_id,
        p.merchant_id,
        cast(m.created_at as date) as day,
        m.kind,
        m.ref_type,
        m.quantity,
        m.unit_cost
    from {{ ref('stg_store__stock_movements') }} as m
    join {{ ref('dim_products') }} as p on p.product_id = m.product_id
),

-- purchase-order receipts at the cost they were received at
daily_receipts as (
    select
        day,
        merchant_id,
        sum(quantity) as po_receipt_units,
        sum(quantity * unit_cost) as po_receipts_cost
    from movements
    where kind = 'receipt' and ref_type = 'purchase_order'
    group by day, merchant_id
),

last_activity as (
    select max(day) as last_day
    from (
        select max(day) as day from daily_sales
        union all
        select max(day) from daily_payments
        union all
        select max(day) from movements
    ) as ends
),

spine as (
    select d.date_day as day, mer.merchant_id
    from {{ ref('dim_dates') }} as d
    cross join {{ ref('dim_merchants') }} as mer
    where d.date_day <= (select last_day from last_activity)
),

-- stock at the day's end at cost: the inventory mart's figures, so inventory and finance agree
daily_stock as (
    select day, merchant_id, sum(on_hand) as stock_units, sum(stock_value) as stock_value
    from {{ ref('inventory_daily') }}
    group by day, merchant_id
)

select
    s.day,
    s.merchant_id,
    cast(coalesce(o.orders, 0) as integer) as orders,
    cast(coalesce(ds.gross_sales, 0) as decimal(14, 2)) as gross_sales,
    cast(coalesce(ds.discounts, 0) as decimal(14, 2)) as discounts,
    cast(coalesce(ds.refunds, 0) as decimal(14, 2)) as refunds,
    cast(coalesce(ds.net_revenue, 0) as decimal(14, 2)) as net_revenue,
    cast(coalesce(ds.cogs, 0) as decimal(14, 2)) as cogs,
    cast(coalesce(ds.gross_margin, 0) as decimal(14, 2)) as gross_margin,
    cast(coalesce(o.shipping_charged, 0) as decimal(14, 2)) as shipping_charged,
    cast(coalesce(o.tax_charged, 0) as decimal(14, 2)) as tax_charged,
    {%- for m in payment_methods %}
    cast(coalesce(p.captured_{{ m }}, 0) as decimal(14, 2)) as captured_{{ m }},
    {%- endfor %}
    cast(coalesce(p.payments_captured, 0) as decimal(14, 2)) as payments_captured,
    {%- for m in payment_methods %}
    cast(coalesce(p.refunded_{{ m }}, 0) as decimal(14, 2)) as refunded_{{ m }},
    {%- endfor %}
    cast(coalesce(p.payments_refunded, 0) as decimal(14, 2)) as payments_refunded,
    cast(coalesce(r.po_receipt_units, 0) as integer) as po_receipt_units,
    cast(coalesce(r.po_receipts_cost, 0) as decimal(14, 2)) as po_receipts_cost,
    cast(coalesce(st.stock_units, 0) as integer) as stock_units_end_of_day,
    cast(coalesce(st.stock_value, 0) as decimal(14, 2)) as stock_value_end_of_day
from spine as s
left join daily_sales as ds on ds.day = s.day and ds.merchant_id = s.merchant_id
left join daily_orders as o on o.day = s.day and o.merchant_id = s.merchant_id
left join daily_payments as p on p.day = s.day and p.merchant_id = s.merchant_id
left join daily_receipts as r on r.day = s.day and r.merchant_id = s.merchant_id
left join daily_stock as st on st.day = s.day and st.merchant_id = s.merchant_id
