-- int_sessions takes one channel, device and customer_ref per session; that is only right when
-- the clickstream never gives one of its sessions two of them.
{{ config(meta={'dagster': {'ref': {'name': 'int_sessions'}}}) }}
select s.session_id, count(distinct e.channel) as channels, count(distinct e.device) as devices,
       count(distinct e.customer_ref) as customer_refs
from {{ ref('int_sessions') }} as s
join {{ ref('stg_events__events') }} as e on e.session_id = s.session_id
group by s.session_id
having count(distinct e.channel) > 1 or count(distinct e.device) > 1 or count(distinct e.customer_ref) > 1
