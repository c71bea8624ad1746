-- One row per support ticket, judged as of the as-of moment (METRICS: Service / First-response
-- time, resolution time): its merchant (null for a ticket not about a merchant's order), creation
-- day, hours to first response and to resolution, SLA breaches against its own due times (set by
-- the store from its priority's targets) and its satisfaction rating. support_sla (week x status x
-- priority x category) and merchant_support_daily (merchant x day) both aggregate these rows.
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
        t.merchant_id,
        t.status,
        t.priority,
        t.category,
        t.created_at,
        cast(t.created_at as date) as created_on,
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
)

select
    ticket_id,
    merchant_id,
    status,
    priority,
    category,
    created_at,
    created_on,
    first_response_at,
    first_response_due_at,
    resolved_at,
    resolution_due_at,
    satisfaction,
    as_of_at,
    case when first_response_at is not null
         then {{ dbt.datediff('created_at', 'first_response_at', 'second') }} / 3600.0 end
        as first_response_hours,
    case when resolved_at is not null
         then {{ dbt.datediff('created_at', 'resolved_at', 'second') }} / 3600.0 end as resolution_hours,
    -- a breach: done after the due time, or not done and already past it at the as-of moment
    coalesce(first_response_at, as_of_at) > first_response_due_at as is_first_response_breached,
    coalesce(resolved_at, as_of_at) > resolution_due_at as is_resolution_breached
from tickets
