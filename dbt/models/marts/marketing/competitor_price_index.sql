{{ config(contract={"enforced": true}) }}
-- Day x product price index against competitors (METRICS: Marketing and market / Price index).
-- Our price on a day is reconstructed from our own sales, because the product record only holds
-- today's list price: the unit price charged on our latest order line of the product placed on
-- or before that day (the latest line of a day sets that day's closing price; a cancelled order
-- still shows the price offered). Before the product's first sale, the first sale's price;
-- a product never sold falls back to its current list price (our_price_basis says which).
with competitor_prices as (
    select observed_on, competitor, sku, price, is_promo
    from {{ ref('stg_competitors__prices') }}
),
products as (
    select product_id, merchant_id, sku, price as list_price
    from {{ ref('dim_products') }}
),
sale_lines as (
    select
        product_id,
        placed_on,
        unit_price,
        row_number() over (
            partition by product_id, placed_on order by placed_at desc, order_line_id desc
        ) as nth_from_day_end
    from {{ ref('int_order_lines_enriched') }}
),
-- one closing price per product and day with sales, and each product's first one
closing_prices as (
    select product_id, placed_on as day, unit_price
    from sale_lines
    where nth_from_day_end = 1
),
first_prices as (
    select product_id, unit_price as first_price
    from (
        select product_id, unit_price, row_number() over (partition by product_id order by day) as nth
        from closing_prices
    ) as ranked
    where nth = 1
),
competitor_days as (
    select
        c.observed_on,
        p.product_id,
        p.merchant_id,
        p.sku,
        p.list_price,
        count(*) as competitor_count,
        min(c.price) as competitor_min_price,
        -- at 3 decimals: DuckDB keeps the input's scale, and a median of two cents can end in a half
        percentile_cont(0.5) within group (order by cast(c.price as decimal(14, 3))) as competitor_median_price,
        sum(case when c.is_promo then 1 else 0 end) as competitors_on_promo
    from competitor_prices as c
    join products as p on p.sku = c.sku
    group by c.observed_on, p.product_id, p.merchant_id, p.sku, p.list_price
),
-- the latest closing price on or before each observed day: observations and sale days in one
-- ordered stream per product, the price carried forward (a sale day sorts before an observation
-- of the same day, so that day's closing price applies)
stream as (
    select product_id, observed_on as day, 1 as is_observation, cast(null as decimal(12, 2)) as unit_price
    from competitor_days
    union all
    select product_id, day, 0 as is_observation, unit_price
    from closing_prices
),
carried as (
    select
        product_id,
        day,
        is_observation,
        last_value(unit_price ignore nulls) over (
            partition by product_id order by day, is_observation rows between unbounded preceding and current row
        ) as latest_price
    from stream
),
priced as (
    select
        d.*,
        coalesce(c.latest_price, f.first_price, d.list_price) as our_price,
        case when coalesce(c.latest_price, f.first_price) is null then 'list_price' else 'sale_price' end
            as our_price_basis
    from competitor_days as d
    join carried as c on c.product_id = d.product_id and c.day = d.observed_on and c.is_observation = 1
    left join first_prices as f on f.product_id = d.product_id
)
select
    observed_on,
    product_id,
    merchant_id,
    sku,
    cast(our_price as decimal(14, 2)) as our_price,
    our_price_basis,
    cast(competitor_count as integer) as competitor_count,
    cast(competitor_min_price as decimal(14, 2)) as competitor_min_price,
    cast(competitor_median_price as decimal(14, 3)) as competitor_median_price,
    cast(our_price as double) / nullif(cast(competitor_median_price as double), 0) * 100 as price_index,
    competitor_min_price < our_price as is_undercut,
    cast(competitors_on_promo as integer) as competitors_on_promo
from priced
