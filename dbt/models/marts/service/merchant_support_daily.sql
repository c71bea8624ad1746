{{ config(contract={"enforced": true}) }}
-- Merchant x day of creation of support tickets: the per-ticket facts of int_tickets_judged (the
-- same as support_sla's) summed, so that any period's averages and rates are sums divided.
-- Tickets without a merchant are left out.
select
    merchant_id,
    created_on,
    cast(count(*) as integer) as tickets,
    cast(count(first_response_at) as integer) as responded_tickets,
    cast(count(resolved_at) as integer) as resolved_tickets,
    cast(coalesce(sum(first_response_hours), 0) as double) as first_response_hours_sum,
    cast(coalesce(sum(resolution_hours), 0) as double) as resolution_hours_sum,
    cast(sum(case when is_first_response_breached then 1 else 0 end) as integer) as first_response_breaches,
    cast(sum(case when is_resolution_breached then 1 else 0 end) as integer) as resolution_breaches,
    cast(count(satisfaction) as integer) as rated_tickets,
    cast(coalesce(sum(satisfaction), 0) as integer) as satisfaction_sum,
    -- CSAT in the usual sense counts ratings of 4 or 5
    cast(sum(case when satisfaction >= 4 then 1 else 0 end) as integer) as satisfied_ratings
from {{ ref('int_tickets_judged') }}
where merchant_id is not null
group by merchant_id, created_on
