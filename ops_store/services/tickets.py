"""Customer service: support tickets with response-time targets.

Every public function checks the caller's permission (``crm.read`` / ``crm.write``) first. A
principal bound to a merchant only reaches tickets tied to that merchant (through their order);
list functions filter on that merchant. Timestamps are timezone-aware UTC; ``at`` / ``as_of``
parameters let callers (and tests) set the clock. The communication log is in
``ops_store.services.communications``, the shared checks in ``ops_store.services.crm_common``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, literal, or_, select
from sqlalchemy.orm import Session

from ops_store.db import Store
from ops_store.errors import IllegalTransition, InvalidInput
from ops_store.models import Customer, Merchant, Ticket, TicketMessage
from ops_store.models.crm import TICKET_PRIORITIES, TICKET_STATUSES
from ops_store.security import access
from ops_store.services.common import get_or_404
from ops_store.services.crm_common import (
    authorize,
    choice,
    customer_order,
    int_in_range,
    live_customer,
    text,
    timestamp,
)
from ops_store.types import UTCDateTime, utcnow

AUTHOR_KINDS = ("customer", "agent")


@dataclass(frozen=True)
class Target:
    """Response-time targets of one priority, measured from the ticket's creation."""

    first_response: timedelta
    resolution: timedelta


# The one table of response-time targets (METRICS: a breach is a time over the target).
TARGETS: dict[str, Target] = {
    "urgent": Target(timedelta(hours=1), timedelta(hours=8)),
    "high": Target(timedelta(hours=4), timedelta(hours=24)),
    "normal": Target(timedelta(hours=8), timedelta(hours=48)),
    "low": Target(timedelta(hours=24), timedelta(hours=120)),
}

# new -> open (an agent answered or picked it up) -> pending (waiting on the customer) -> resolved
# -> closed; a resolved ticket can be reopened. Closed is final.
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"open", "pending", "resolved"}),
    "open": frozenset({"pending", "resolved"}),
    "pending": frozenset({"open", "resolved"}),
    "resolved": frozenset({"open", "closed"}),
    "closed": frozenset(),
}


def open_ticket(
    store: Store, customer_id: int, category: str, subject: str, message: str, priority: str = "normal",
    order_id: int | None = None, *, at: datetime | None = None,
) -> dict[str, Any]:
    """Open a ticket with the customer's first message. The merchant is the order's (if any); the
    response-time targets of the priority set its due times. Needs ``tickets.open`` (staff, a
    channel key with that scope, or the customer themself on the self-service site)."""
    access.require("tickets.open")
    category_t = text(category, "category", 50)
    subject_t = text(subject, "subject", 200)
    body = text(message, "message", 10_000)
    priority = choice(priority, "priority", TICKET_PRIORITIES)
    created = timestamp(at, "at")
    target = TARGETS[priority]

    def work(session: Session) -> int:
        access.require_own(customer_id, "customer", customer_id, "customer_id")
        customer = live_customer(session, customer_id)
        order = customer_order(session, customer_id, order_id)
        merchant_id = order.merchant_id if order else None
        authorize("tickets.open", merchant_id)
        ticket = Ticket(
            customer_id=customer_id, order_id=order_id, merchant_id=merchant_id, category=category_t,
            priority=priority, status="new", subject=subject_t, created_at=created,
            first_response_due_at=created + target.first_response, resolution_due_at=created + target.resolution,
        )
        session.add(ticket)
        session.flush()
        session.add(TicketMessage(ticket_id=ticket.id, author_kind="customer", author=customer.customer_ref[:100],
                                  body=body, created_at=created))
        return ticket.id

    return _view(store, store.run_write(work), created)


def _lock_ticket(session: Session, ticket_id: int, permission: str = "crm.write") -> Ticket:
    ticket = get_or_404(session, Ticket, ticket_id, "ticket", lock=True)
    access.require_own(ticket.customer_id, "ticket", ticket_id, "ticket_id")
    authorize(permission, ticket.merchant_id)
    return ticket


def _not_before_creation(ticket: Ticket, when: datetime) -> None:
    if when < ticket.created_at:
        raise InvalidInput(f"at is before ticket {ticket.id} was opened ({ticket.created_at.isoformat()})",
                           field="at")


def _move(ticket: Ticket, target: str, when: datetime) -> None:
    """Move the ticket to ``target`` or raise IllegalTransition naming the allowed next states."""
    if target not in TRANSITIONS.get(ticket.status, frozenset()):
        allowed = ", ".join(sorted(TRANSITIONS.get(ticket.status, ()))) or "none (final state)"
        raise IllegalTransition(
            f"ticket {ticket.id} is {ticket.status}; it cannot become {target} (allowed next: {allowed})",
            field="status", details={"ticket_id": ticket.id, "from": ticket.status, "to": target},
        )
    _not_before_creation(ticket, when)
    if ticket.resolved_at is not None and when < ticket.resolved_at:
        raise InvalidInput(f"at is before ticket {ticket.id} was resolved ({ticket.resolved_at.isoformat()})",
                           field="at")
    if target == "resolved":
        ticket.resolved_at = when
    elif target == "open" and ticket.status == "resolved":  # reopened: the resolution clock runs again
        ticket.resolved_at = None
    elif target == "closed":
        ticket.closed_at = when
    ticket.status = target


def _change(store: Store, ticket_id: int, when: datetime, change: Callable[[Session, Ticket], None],
            permission: str = "crm.write") -> dict[str, Any]:
    def work(session: Session) -> None:
        change(session, _lock_ticket(session, ticket_id, permission))

    store.run_write(work)
    return _view(store, ticket_id, when)


def add_message(
    store: Store, ticket_id: int, author_kind: str, author: str, body: str, *, at: datetime | None = None,
) -> dict[str, Any]:
    """Add a message. The first agent message is the first response (a new ticket becomes open);
    a customer's message on a pending or resolved ticket opens it again. Closed tickets take none.
    Agents' messages need ``crm.write``; the customer's need ``tickets.open``."""
    author_kind = choice(author_kind, "author_kind", AUTHOR_KINDS)
    permission = "crm.write" if author_kind == "agent" else "tickets.open"
    access.require(permission)
    author_t = text(author, "author", 100)
    body_t = text(body, "body", 10_000)
    when = timestamp(at, "at")

    def change(session: Session, ticket: Ticket) -> None:
        if ticket.status == "closed":
            raise IllegalTransition(f"ticket {ticket.id} is closed; open a new ticket", field="status")
        _not_before_creation(ticket, when)
        if author_kind == "agent":
            if ticket.first_response_at is None:
                ticket.first_response_at = when
            if ticket.status == "new":
                _move(ticket, "open", when)
        elif ticket.status in ("pending", "resolved"):
            _move(ticket, "open", when)
        ticket.updated_at = utcnow()  # new activity, even when no other field changed
        session.add(TicketMessage(ticket_id=ticket.id, author_kind=author_kind, author=author_t, body=body_t,
                                  created_at=when))

    return _change(store, ticket_id, when, change, permission)


def set_status(store: Store, ticket_id: int, status: str, *, at: datetime | None = None) -> dict[str, Any]:
    """Move a ticket along its legal paths (see TRANSITIONS); anything else is IllegalTransition."""
    access.require("crm.write")
    status = choice(status, "status", TICKET_STATUSES)
    when = timestamp(at, "at")
    return _change(store, ticket_id, when, lambda _s, t: _move(t, status, when))


def assign(store: Store, ticket_id: int, assignee: str) -> dict[str, Any]:
    access.require("crm.write")
    name = text(assignee, "assignee", 100)

    def change(_session: Session, ticket: Ticket) -> None:
        if ticket.status == "closed":
            raise IllegalTransition(f"ticket {ticket.id} is closed; it cannot be assigned", field="status")
        ticket.assignee = name

    return _change(store, ticket_id, utcnow(), change)


def resolve(store: Store, ticket_id: int, *, at: datetime | None = None) -> dict[str, Any]:
    return set_status(store, ticket_id, "resolved", at=at)


def reopen(store: Store, ticket_id: int, *, at: datetime | None = None) -> dict[str, Any]:
    """A resolved ticket back to open; its resolution time runs again from creation."""
    access.require("crm.write")
    when = timestamp(at, "at")

    def change(_session: Session, ticket: Ticket) -> None:
        if ticket.status != "resolved":
            raise IllegalTransition(f"ticket {ticket.id} is {ticket.status}; only a resolved ticket reopens",
                                    field="status")
        _move(ticket, "open", when)

    return _change(store, ticket_id, when, change)


def close(store: Store, ticket_id: int, satisfaction: int | None = None, *, at: datetime | None = None,
          ) -> dict[str, Any]:
    """Close a resolved ticket, with the customer's satisfaction (1-5) when given."""
    access.require("crm.write")
    score = None if satisfaction is None else int_in_range(satisfaction, "satisfaction", 1, 5)
    when = timestamp(at, "at")

    def change(_session: Session, ticket: Ticket) -> None:
        _move(ticket, "closed", when)
        if score is not None:
            ticket.satisfaction = score

    return _change(store, ticket_id, when, change)


# --------------------------------------------------------------------------- reading, with breaches


def sla(ticket: Ticket, as_of: datetime) -> dict[str, Any]:
    """Times taken against the targets. The first-response clock stops at the first agent message
    (or at resolution when there was none), the resolution clock at resolution; a clock still
    running counts up to ``as_of``. Breached: the time exceeds the target of the priority."""
    first_end = ticket.first_response_at or ticket.resolved_at or as_of
    resolution_end = ticket.resolved_at or as_of
    return {
        "first_response_seconds": int((first_end - ticket.created_at).total_seconds()),
        "first_response_breached": first_end > ticket.first_response_due_at,
        "resolution_seconds": int((resolution_end - ticket.created_at).total_seconds()),
        "resolution_breached": resolution_end > ticket.resolution_due_at,
    }


def _breached(as_of: datetime) -> ColumnElement[bool]:
    """The SQL twin of ``sla``: either clock over its due time at ``as_of``."""
    now = literal(as_of, UTCDateTime())
    first_end = func.coalesce(Ticket.first_response_at, Ticket.resolved_at, now)
    resolution_end = func.coalesce(Ticket.resolved_at, now)
    return or_(first_end > Ticket.first_response_due_at, resolution_end > Ticket.resolution_due_at)


def _summary(ticket: Ticket, customer_ref: str | None, merchant: str | None, as_of: datetime) -> dict[str, Any]:
    return {
        "ticket_id": ticket.id, "status": ticket.status, "priority": ticket.priority,
        "category": ticket.category, "subject": ticket.subject, "customer_id": ticket.customer_id,
        "customer_ref": customer_ref, "order_id": ticket.order_id, "merchant": merchant,
        "assignee": ticket.assignee, "created_at": ticket.created_at,
        "first_response_due_at": ticket.first_response_due_at, "first_response_at": ticket.first_response_at,
        "resolution_due_at": ticket.resolution_due_at, "resolved_at": ticket.resolved_at,
        "closed_at": ticket.closed_at, "satisfaction": ticket.satisfaction, "updated_at": ticket.updated_at,
        **sla(ticket, as_of),
    }


def _view(store: Store, ticket_id: int, as_of: datetime) -> dict[str, Any]:
    with store.read() as session:
        ticket = get_or_404(session, Ticket, ticket_id, "ticket")
        access.require_own(ticket.customer_id, "ticket", ticket_id, "ticket_id")
        authorize("crm.read", ticket.merchant_id)
        customer = session.get(Customer, ticket.customer_id)
        merchant = session.get(Merchant, ticket.merchant_id) if ticket.merchant_id else None
        view = _summary(ticket, customer.customer_ref if customer else None, merchant.code if merchant else None,
                        as_of)
        target = TARGETS[ticket.priority]
        view["first_response_target_hours"] = target.first_response.total_seconds() / 3600
        view["resolution_target_hours"] = target.resolution.total_seconds() / 3600
        view["as_of"] = as_of
        messages = session.scalars(select(TicketMessage).where(TicketMessage.ticket_id == ticket.id)
                                   .order_by(TicketMessage.created_at, TicketMessage.id))
        view["messages"] = [
            {"message_id": m.id, "at": m.created_at, "author_kind": m.author_kind, "author": m.author,
             "body": m.body}
            for m in messages
        ]
        return view


def ticket_view(store: Store, ticket_id: int, *, as_of: datetime | None = None) -> dict[str, Any]:
    """A ticket with its messages and its breach flags at ``as_of`` (default now)."""
    access.require("crm.read")
    return _view(store, ticket_id, timestamp(as_of, "as_of"))


def list_tickets(
    store: Store, status: str | None = None, breached_only: bool = False, as_of: datetime | None = None, *,
    customer_id: int | None = None, priority: str | None = None, limit: int = 200,
) -> list[dict[str, Any]]:
    """Tickets, soonest resolution target first; ``breached_only`` keeps those over a target at
    ``as_of`` (default now). A merchant sees only tickets on its orders."""
    access.require("crm.read")
    when = timestamp(as_of, "as_of")
    query = (
        select(Ticket, Customer.customer_ref, Merchant.code)
        .join(Customer, Customer.id == Ticket.customer_id)
        .outerjoin(Merchant, Merchant.id == Ticket.merchant_id)
    )
    if status is not None:
        query = query.where(Ticket.status == choice(status, "status", TICKET_STATUSES))
    if priority is not None:
        query = query.where(Ticket.priority == choice(priority, "priority", TICKET_PRIORITIES))
    if customer_id is not None:
        query = query.where(Ticket.customer_id == customer_id)
    scope = access.merchant_scope()
    if scope is not None:
        query = query.where(Ticket.merchant_id == scope)
    if access.customer_scope() is not None:
        query = query.where(Ticket.customer_id == access.customer_scope())
    if breached_only:
        query = query.where(_breached(when))
    query = query.order_by(Ticket.resolution_due_at, Ticket.id).limit(limit)
    with store.read() as session:
        return [_summary(t, ref, code, when) for t, ref, code in session.execute(query)]
