select
    id as ticket_message_id,
    ticket_id,
    author_kind,
    created_at
from {{ source('store', 'ticket_messages') }}
