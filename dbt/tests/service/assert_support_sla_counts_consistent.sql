-- support_sla counts every ticket once, and breaches, responses and ratings never exceed the tickets.
{{ config(meta={'dagster': {'ref': {'name': 'support_sla'}}}) }}
select 'totals' as problem, sum(tickets) as tickets
from {{ ref('support_sla') }}
having sum(tickets) <> (select count(*) from {{ ref('stg_store__tickets') }})
union all
select 'row' as problem, tickets
from {{ ref('support_sla') }}
where first_response_breaches > tickets
   or resolution_breaches > tickets
   or responded_tickets > tickets
   or resolved_tickets > tickets
   or rated_tickets > tickets
   or avg_satisfaction < 1 or avg_satisfaction > 5
   or avg_first_response_hours < 0 or avg_resolution_hours < 0
