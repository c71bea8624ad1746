{{ config(contract={"enforced": true}) }}
-- Created week x status x priority x category of support tickets: response and resolution times
-- from creation, SLA breaches against the ticket's own due times (set from its priority's targets),
-- and satisfaction.
with as_of as (
    -- the moment open tickets are judged at: the as_of var (a day) or the day after the latest order day,
    -- both taken at midnight UTC (the project's "as of" convention)
    select
        {% if var('as_of', none) %}
        cast('{{ var("as_of") }}' as timestamp) as as_of_at
        {% else %}
        cast(max(placed_on) + 1 as timestamp) as as_of_at
        from {{ ref('fct_orders') }}
        {% endif %}
),

-- the latest CSAT answer a customer gave about a ticket (surveys of kind 'csat', score 1-5;
-- 'nps' surveys, 0-10, are about the shop rather than the ticket and are left out)
ticket_csat as (
    select ticket_id, score
    from (
        select
            ticket_id,
            score,
            row_number() over (partition by ticket_id order by created_at desc, survey_response_id desc) as recency
        from {{ ref('stg_store__survey_responses') }}
        where kind = 'csat' and ticket_id is not null
    ) as ranked
    where recency = 1
),

tickets as (
    select
        t.ticket_id,
        cast({{ dbt.date_trunc('week', 't.created_at') }} as date) as week_start,
        t.status,
        t.priority,
        t.category,
        t.created_at,
        t.first_response_at,
        t.first_response_due_at,
        -- a ticket closed without a separate resolution step is resolved when closed
        coalesce(t.resolved_at, t.closed_at) as resolved_at,
        t.resolution_due_at,
        -- the survey answer when there is one, else the rating stored on the ticket (both 1-5)
        coalesce(s.score, t.satisfaction) as satisfaction,
        a.as_of_at
    from {{ ref('stg_store__tickets') }} as t
    cross join as_of as a
    left join ticket_csat as s on s.ticket_id = t.ticket_id
),

ticket_facts as (
    select
        *,
        case when first_response_at is not null
             then {{ dbt.datediff('created_at', 'first_response_at', 'second') }} / 3600.0 end
            as first_response_hours,
        case when resolved_at is not null
             then {{ dbt.datediff('created_at', 'resolved_at', 'second') }} / 3600.0 end as resolution_hours,
        -- a breach: done after the due time, or not done and already past it at the as-of moment
        coalesce(first_response_at, as_of_at) > first_response_due_at as is_first_response_breached,
        coalesce(resolved_at, as_of_at) > resolution_due_at as is_resolution_breached
    from tickets
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
