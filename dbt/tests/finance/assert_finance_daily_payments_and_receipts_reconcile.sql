-- finance_daily's money and goods movements agree with their sources: approved captures (and sales)
-- and refunds of the payment provider, and purchase-order receipts at cost in the stock ledger, from
-- the first day of the mart on (the mart starts at the first order day).
{{ config(meta={'dagster': {'ref': {'name': 'finance_daily'}}}) }}
with finance as (
    select
        sum(payments_captured) as captured,
        sum(payments_refunded) as refunded,
        sum(po_receipt_units) as receipt_units,
        sum(po_receipts_cost) as receipts_cost
    from {{ ref('finance_daily') }}
),
provider as (
    select
        sum(case when kind in ('capture', 'sale') then amount else 0 end) as captured,
        sum(case when kind = 'refund' then amount else 0 end) as refunded
    from {{ ref('stg_store__payment_transactions') }}
    where outcome = 'approved'
),
ledger as (
    select sum(quantity) as receipt_units, sum(quantity * unit_cost) as receipts_cost
    from {{ ref('stg_store__stock_movements') }}
    where kind = 'receipt' and ref_type = 'purchase_order'
      and cast(created_at as date) >= (select min(day) from {{ ref('finance_daily') }})
)
select f.*, p.captured as provider_captured, p.refunded as provider_refunded,
       l.receipt_units as ledger_receipt_units, l.receipts_cost as ledger_receipts_cost
from finance as f
cross join provider as p
cross join ledger as l
where f.captured <> p.captured
   or f.refunded <> p.refunded
   or f.receipt_units <> l.receipt_units
   -- each day's receipts are rounded to the cent, so allow half a cent per day
   or abs(f.receipts_cost - l.receipts_cost) > 0.005 * (select count(*) from {{ ref('finance_daily') }})
