select
    id as campaign_member_id,
    campaign_id,
    customer_id,
    grp,
    contacted_at,
    created_at
from {{ source('store', 'campaign_members') }}
