-- competitor_price_index: one row for every (day, sku) with competitor observations, min <= median,
-- undercut exactly when the minimum is below our price, promos within the competitors counted,
-- and the index is our price / median x 100.
{{ config(meta={'dagster': {'ref': {'name': 'competitor_price_index'}}}) }}
with p as (
    select * from {{ ref('competitor_price_index') }}
),
observed as (
    select count(*) as day_skus
    from (select distinct observed_on, sku from {{ ref('stg_competitors__prices') }}) as d
)
select 'row' as problem, observed_on, product_id
from p
where competitor_count < 1
   or competitor_min_price > competitor_median_price
   or is_undercut <> (competitor_min_price < our_price)
   or competitors_on_promo > competitor_count
   or our_price <= 0
   or abs(price_index - 100.0 * our_price / competitor_median_price) > 1e-6
union all
select 'coverage', null, null
from observed
where day_skus <> (select count(*) from p)
