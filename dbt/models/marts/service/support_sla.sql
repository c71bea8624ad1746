{{ config(contract={"enforced": true}) }}
-- Created week x status x priority x category of support tickets: response and resolution times
-- from creation, SLA breaches against the ticket's own due times (set from its priority's targets),
-- and satisfaction. The per-ticket facts are int_tickets_judged's (shared with
-- merchant_support_daily).
with ticket_facts as (
    select
        *,
        cast({{ dbt.date_trunc('week', 'created_at') }} as date) as week_start
    from {{ ref('int_tickets_judged') }}
)

select
    week_start,
    status,
    priority,
    category,
    cast(count(*) as integer) as tickets,
    cast(count(first_response_at) as integer) as responded_tickets,
    cast(count(resolved_at) as integer) as resolved_tickets,
    cast(avg(first_response_hours) as double) as avg_first_response_hours,
    cast(max(first_response_hours) as double) as max_first_response_hours,
    cast(avg(resolution_hours) as double) as avg_resolution_hours,
    cast(max(resolution_hours) as double) as max_resolution_hours,
    cast(sum(case when is_first_response_breached then 1 else 0 end) as integer) as first_response_breaches,
    cast(sum(case when is_first_response_breached then 1 else 0 end) as double) / count(*)
        as first_response_breach_rate,
    cast(sum(case when is_resolution_breached then 1 else 0 end) as integer) as resolution_breaches,
    cast(sum(case when is_resolution_breached then 1 else 0 end) as double) / count(*) as resolution_breach_rate,
    cast(count(satisfaction) as integer) as rated_tickets,
    cast(avg(satisfaction) as double) as avg_satisfaction,
    -- CSAT in the usual sense: share of ratings that are 4 or 5
    cast(sum(case when satisfaction >= 4 then 1 else 0 end) as double) / nullif(count(satisfaction), 0)
        as csat_rate
from ticket_facts
group by week_start, status, priority, category
