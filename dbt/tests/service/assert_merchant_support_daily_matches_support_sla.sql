-- merchant_support_daily and support_sla judge the same tickets (int_tickets_judged): per week of
-- creation, merchant_support_daily's counts and sums over merchants and days, plus those of the
-- tickets without a merchant (which it leaves out), equal support_sla's over statuses, priorities
-- and categories (its averages times their counts for the sums of hours and ratings). Within a row
-- the parts never exceed their whole. Returns the mismatches.
{{ config(meta={'dagster': {'ref': {'name': 'merchant_support_daily'}}}) }}
with merchant_tickets as (
    select
        cast({{ dbt.date_trunc('week', 'created_on') }} as date) as week_start,
        tickets, responded_tickets, resolved_tickets, first_response_hours_sum, resolution_hours_sum,
        first_response_breaches, resolution_breaches, rated_tickets, satisfaction_sum, satisfied_ratings
    from {{ ref('merchant_support_daily') }}
),
tickets_without_merchant as (
    select
        cast({{ dbt.date_trunc('week', 'created_at') }} as date) as week_start,
        1 as tickets,
        case when first_response_at is not null then 1 else 0 end as responded_tickets,
        case when resolved_at is not null then 1 else 0 end as resolved_tickets,
        coalesce(first_response_hours, 0) as first_response_hours_sum,
        coalesce(resolution_hours, 0) as resolution_hours_sum,
        case when is_first_response_breached then 1 else 0 end as first_response_breaches,
        case when is_resolution_breached then 1 else 0 end as resolution_breaches,
        case when satisfaction is not null then 1 else 0 end as rated_tickets,
        coalesce(satisfaction, 0) as satisfaction_sum,
        case when satisfaction >= 4 then 1 else 0 end as satisfied_ratings
    from {{ ref('int_tickets_judged') }}
    where merchant_id is null
),
weeks as (
    select
        week_start,
        sum(tickets) as tickets,
        sum(responded_tickets) as responded_tickets,
        sum(resolved_tickets) as resolved_tickets,
        sum(first_response_hours_sum) as first_response_hours_sum,
        sum(resolution_hours_sum) as resolution_hours_sum,
        sum(first_response_breaches) as first_response_breaches,
        sum(resolution_breaches) as resolution_breaches,
        sum(rated_tickets) as rated_tickets,
        sum(satisfaction_sum) as satisfaction_sum,
        sum(satisfied_ratings) as satisfied_ratings
    from (
        select * from merchant_tickets
        union all
        select * from tickets_without_merchant
    ) as all_tickets
    group by week_start
),
sla_weeks as (
    select
        week_start,
        sum(tickets) as tickets,
        sum(responded_tickets) as responded_tickets,
        sum(resolved_tickets) as resolved_tickets,
        sum(coalesce(avg_first_response_hours * responded_tickets, 0)) as first_response_hours_sum,
        sum(coalesce(avg_resolution_hours * resolved_tickets, 0)) as resolution_hours_sum,
        sum(first_response_breaches) as first_response_breaches,
        sum(resolution_breaches) as resolution_breaches,
        sum(rated_tickets) as rated_tickets,
        sum(coalesce(avg_satisfaction * rated_tickets, 0)) as satisfaction_sum,
        sum(coalesce(csat_rate * rated_tickets, 0)) as satisfied_ratings
    from {{ ref('support_sla') }}
    group by week_start
)
select 'week' as problem, coalesce(w.week_start, s.week_start) as week_start, w.tickets, s.tickets as expected
from weeks as w
full outer join sla_weeks as s on s.week_start = w.week_start
where w.week_start is null or s.week_start is null
   or w.tickets <> s.tickets
   or w.responded_tickets <> s.responded_tickets
   or w.resolved_tickets <> s.resolved_tickets
   or w.first_response_breaches <> s.first_response_breaches
   or w.resolution_breaches <> s.resolution_breaches
   or w.rated_tickets <> s.rated_tickets
   or abs(w.first_response_hours_sum - s.first_response_hours_sum) > 1e-6 * greatest(1, abs(s.first_response_hours_sum))
   or abs(w.resolution_hours_sum - s.resolution_hours_sum) > 1e-6 * greatest(1, abs(s.resolution_hours_sum))
   or abs(w.satisfaction_sum - s.satisfaction_sum) > 1e-6 * greatest(1, abs(s.satisfaction_sum))
   or abs(w.satisfied_ratings - s.satisfied_ratings) > 1e-6 * greatest(1, abs(s.satisfied_ratings))
union all
select 'row', created_on, tickets, null
from {{ ref('merchant_support_daily') }}
where tickets <= 0
   or responded_tickets > tickets
   or resolved_tickets > tickets
   or first_response_breaches > tickets
   or resolution_breaches > tickets
   or rated_tickets > tickets
   or satisfied_ratings > rated_tickets
   or satisfaction_sum < rated_tickets or satisfaction_sum > 5 * rated_tickets
   or first_response_hours_sum < 0 or resolution_hours_sum < 0
