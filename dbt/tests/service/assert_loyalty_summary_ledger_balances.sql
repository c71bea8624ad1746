-- loyalty_summary follows the points ledger: over all tiers, outstanding points move each month by
-- issued - redeemed - expired; at the latest month they equal the accounts' balances; the liability
-- is outstanding points at the programme's point value; members are counted once.
{{ config(meta={'dagster': {'ref': {'name': 'loyalty_summary'}}}) }}
with months as (
    select
        month_start,
        sum(members) as members,
        sum(points_issued - points_redeemed - points_expired) as net_flow,
        sum(points_outstanding) as points_outstanding
    from {{ ref('loyalty_summary') }}
    group by month_start
),
moves as (
    select
        month_start,
        members,
        points_outstanding,
        points_outstanding - coalesce(lag(points_outstanding) over (order by month_start), 0) as change,
        net_flow
    from months
)
select 'flow' as problem, month_start, change as actual, net_flow as expected
from moves
where change <> net_flow
union all
select 'balance' as problem, month_start, points_outstanding,
       (select sum(balance) from {{ ref('stg_store__loyalty_accounts') }})
from moves
where month_start = (select max(month_start) from moves)
  and points_outstanding <> (select sum(balance) from {{ ref('stg_store__loyalty_accounts') }})
union all
select 'members' as problem, month_start, members, (select count(*) from {{ ref('stg_store__loyalty_accounts') }})
from moves
where month_start = (select max(month_start) from moves)
  and members <> (select count(*) from {{ ref('stg_store__loyalty_accounts') }})
union all
select 'liability' as problem, month_start, cast(points_liability as bigint), cast(points_outstanding as bigint)
from {{ ref('loyalty_summary') }}
where points_liability <> cast(points_outstanding * point_value as decimal(14, 2))
