-- product_performance's flags and growth follow their definitions: at most ten best sellers per
-- merchant and period, all with net revenue; stock without sales is also a slow mover; growth is
-- null exactly when there is no non-zero previous value; ranks run 1..n within merchant and period.
with per_group as (
    select
        merchant_id,
        period_type,
        period_start,
        count(*) as products,
        sum(case when is_best_seller then 1 else 0 end) as best_sellers,
        max(net_revenue_rank) as max_rank,
        max(units_rank) as max_units_rank
    from {{ ref('product_performance') }}
    group by merchant_id, period_type, period_start
)
select 'group' as problem, merchant_id, period_type, period_start, null as product_id
from per_group
where best_sellers > 10 or max_rank <> products or max_units_rank <> products
union all
select 'row' as problem, merchant_id, period_type, period_start, product_id
from {{ ref('product_performance') }}
where (is_best_seller and (net_revenue <= 0 or net_revenue_rank > 10))
   or (has_stock_no_sales and not is_slow_mover)
   or (has_stock_no_sales <> (units = 0 and on_hand_end > 0))
   or ((net_revenue_growth is null) <> (coalesce(prev_net_revenue, 0) = 0))
   or ((units_growth is null) <> (coalesce(prev_units, 0) = 0))
   or on_hand_end < 0
