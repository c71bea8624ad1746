{{ config(contract={"enforced": true}) }}
-- Month x loyalty tier. Members and their points are put in the tier they held at the month's end;
-- the month's flows are the points ledger's entries of that month, split into issued, redeemed and
-- expired so that issued - redeemed - expired is exactly the ledger's (the balances') movement.
with entries as (
    select
        customer_id,
        cast({{ dbt.date_trunc('month', 'created_at') }} as date) as month_start,
        kind,
        points
    from {{ ref('stg_store__loyalty_entries') }}
),

months as (
    select distinct month_start
    from {{ ref('dim_dates') }}
    where month_start between (select min(month_start) from entries) and (select max(month_start) from entries)
),

-- an account exists from its first ledger entry (accounts carry no creation time)
members as (
    select a.customer_id, min(e.month_start) as first_month_start
    from {{ ref('stg_store__loyalty_accounts') }} as a
    join entries as e on e.customer_id = a.customer_id
    group by a.customer_id
),

member_months as (
    select
        m.customer_id,
        mo.month_start,
        {{ dbt.dateadd('month', 1, 'mo.month_start') }} as next_month_start
    from members as m
    join months as mo on mo.month_start >= m.first_month_start
),

-- tier history as intervals: each move's to_tier from its time until the next move, and before the
-- first move the tier it started from
tier_intervals as (
    select
        customer_id,
        to_tier as tier,
        changed_at as valid_from,
        lead(changed_at) over (partition by customer_id order by changed_at, loyalty_tier_change_id) as valid_to
    from {{ ref('stg_store__loyalty_tier_changes') }}
    union all
    select customer_id, from_tier as tier, cast(null as timestamp) as valid_from, changed_at as valid_to
    from (
        select
            customer_id,
            from_tier,
            changed_at,
            row_number() over (partition by customer_id order by changed_at, loyalty_tier_change_id) as move_no
        from {{ ref('stg_store__loyalty_tier_changes') }}
    ) as moves
    where move_no = 1
),

-- the tier at the month's end from that history; a member who never moved holds the account's tier
-- now ('none' when there is none)
member_month_tiers as (
    select
        mm.customer_id,
        mm.month_start,
        case when ti.customer_id is not null then coalesce(ti.tier, 'none')
             else coalesce(a.tier, 'none') end as tier
    from member_months as mm
    join {{ ref('stg_store__loyalty_accounts') }} as a on a.customer_id = mm.customer_id
    left join tier_intervals as ti
        on ti.customer_id = mm.customer_id
        and (ti.valid_from is null or ti.valid_from < mm.next_month_start)
        and (ti.valid_to is null or ti.valid_to >= mm.next_month_start)
),

-- each entry kind moves the balance by its signed points; reversals go back to where they came from:
-- a positive reverse returns points redeemed on a cancelled or returned order (less redeemed),
-- a negative reverse takes back points earned on a returned order (less issued); adjustments are
-- manual issues (+) or take-backs (-)
member_month_flows as (
    select
        customer_id,
        month_start,
        sum(case when kind in ('earn', 'adjust') or (kind = 'reverse' and points < 0) then points else 0 end)
            as points_issued,
        sum(case when kind = 'redeem' or (kind = 'reverse' and points > 0) then -points else 0 end)
            as points_redeemed,
        sum(case when kind = 'expire' then -points else 0 end) as points_expired,
        sum(points) as points_net
    from entries
    group by customer_id, month_start
),

member_month_balances as (
    select
        t.customer_id,
        t.month_start,
        t.tier,
        coalesce(f.points_issued, 0) as points_issued,
        coalesce(f.points_redeemed, 0) as points_redeemed,
        coalesce(f.points_expired, 0) as points_expired,
        sum(coalesce(f.points_net, 0)) over (
            partition by t.customer_id order by t.month_start rows between unbounded preceding and current row
        ) as points_outstanding
    from member_month_tiers as t
    left join member_month_flows as f on f.customer_id = t.customer_id and f.month_start = t.month_start
),

tiers as (
    select code as tier from {{ ref('stg_store__loyalty_tiers') }}
    union
    select distinct tier from member_month_tiers
),

programme as (
    -- one programme row (id 1) holds the rules
    select cast(max(point_value) as decimal(14, 4)) as point_value from {{ ref('stg_store__loyalty_programmes') }}
),

by_month_tier as (
    select
        month_start,
        tier,
        count(*) as members,
        sum(case when points_outstanding > 0 then 1 else 0 end) as members_with_points,
        sum(points_issued) as points_issued,
        sum(points_redeemed) as points_redeemed,
        sum(points_expired) as points_expired,
        sum(points_outstanding) as points_outstanding
    from member_month_balances
    group by month_start, tier
)

select
    m.month_start,
    t.tier,
    cast(coalesce(b.members, 0) as integer) as members,
    cast(coalesce(b.members_with_points, 0) as integer) as members_with_points,
    cast(coalesce(b.points_issued, 0) as bigint) as points_issued,
    cast(coalesce(b.points_redeemed, 0) as bigint) as points_redeemed,
    cast(coalesce(b.points_expired, 0) as bigint) as points_expired,
    cast(coalesce(b.points_outstanding, 0) as bigint) as points_outstanding,
    p.point_value,
    cast(coalesce(b.points_outstanding, 0) * p.point_value as decimal(14, 2)) as points_liability
from months as m
cross join tiers as t
cross join programme as p
left join by_month_tier as b on b.month_start = m.month_start and b.tier = t.tier
