select
    id as survey_response_id,
    customer_id,
    kind,
    score,
    order_id,
    ticket_id,
    created_at
from {{ source('store', 'survey_responses') }}
