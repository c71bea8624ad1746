"""Customer service: the communication log (emails, calls, chats and SMS with a customer).

Every public function checks the caller's permission (``crm.read`` / ``crm.write``) first. A
principal bound to a merchant only reaches communications tied to that merchant (through their
order or ticket); listing filters on that merchant. Timestamps are timezone-aware UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, aliased

from ops_store.db import Store
from ops_store.errors import InvalidInput
from ops_store.models import Communication, Customer, Order, Ticket
from ops_store.security import access
from ops_store.services.common import get_or_404
from ops_store.services.crm_common import (
    authorize,
    choice,
    customer_order,
    customer_ticket,
    linked_merchant,
    live_customer,
    text,
    timestamp,
)

DIRECTIONS = ("inbound", "outbound")
COMM_CHANNELS = ("email", "call", "chat", "sms")


def log_communication(
    store: Store, customer_id: int, direction: str, channel: str, subject: str | None, summary: str | None,
    agent: str | None, occurred_at: datetime | None = None, order_id: int | None = None,
    ticket_id: int | None = None,
) -> dict[str, Any]:
    """Record one email, call, chat or SMS with a customer (a subject or a summary is needed)."""
    access.require("crm.write")
    direction = choice(direction, "direction", DIRECTIONS)
    channel = choice(channel, "channel", COMM_CHANNELS)
    subject_t = text(subject, "subject", 200, required=False)
    summary_t = text(summary, "summary", 10_000, required=False)
    if subject_t is None and summary_t is None:
        raise InvalidInput("a communication needs a subject or a summary", field="subject")
    agent_t = text(agent, "agent", 100, required=False)
    when = timestamp(occurred_at, "occurred_at")

    def work(session: Session) -> int:
        live_customer(session, customer_id)
        order = customer_order(session, customer_id, order_id)
        ticket = customer_ticket(session, customer_id, ticket_id)
        authorize("crm.write", linked_merchant(order, ticket))
        comm = Communication(
            customer_id=customer_id, direction=direction, channel=channel, subject=subject_t, summary=summary_t,
            agent=agent_t, order_id=order_id, ticket_id=ticket_id, occurred_at=when,
        )
        session.add(comm)
        session.flush()
        return comm.id

    comm_id = store.run_write(work)
    with store.read() as session:
        return _communication_dict(session.get(Communication, comm_id))  # type: ignore[arg-type]


def _communication_dict(c: Communication) -> dict[str, Any]:
    return {
        "communication_id": c.id, "customer_id": c.customer_id, "occurred_at": c.occurred_at,
        "direction": c.direction, "channel": c.channel, "subject": c.subject, "summary": c.summary,
        "agent": c.agent, "order_id": c.order_id, "ticket_id": c.ticket_id, "created_at": c.created_at,
    }


def list_communications(store: Store, customer_id: int, *, limit: int = 200) -> list[dict[str, Any]]:
    """A customer's communications, newest first (for a merchant: those tied to its orders)."""
    access.require("crm.read")
    scope = access.merchant_scope()
    with store.read() as session:
        get_or_404(session, Customer, customer_id, "customer")
        query = select(Communication).where(Communication.customer_id == customer_id)
        if scope is not None:
            order, ticket = aliased(Order), aliased(Ticket)
            query = (
                query.outerjoin(order, order.id == Communication.order_id)
                .outerjoin(ticket, ticket.id == Communication.ticket_id)
                .where(or_(order.merchant_id == scope, ticket.merchant_id == scope))
            )
        rows = session.scalars(query.order_by(Communication.occurred_at.desc(), Communication.id.desc()).limit(limit))
        return [_communication_dict(c) for c in rows]
