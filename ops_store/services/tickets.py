"""Customer service: the communication log and support tickets with response-time targets.

Every public function checks the caller's permission (``crm.read`` / ``crm.write``) first. A
principal bound to a merchant only reaches records tied to that merchant (a ticket through its
order, a communication through its order or ticket); list functions filter on that merchant.
Timestamps are timezone-aware UTC; ``at`` / ``as_of`` parameters let callers (and tests) set
the clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, literal, or_, select
from sqlalchemy.orm import Session, aliased

from ops_store.db import Store
from ops_store.errors import IllegalTransition, InvalidInput
from ops_store.models import Communication, Customer, Merchant, Order, Ticket, TicketMessage
from ops_store.models.crm import TICKET_PRIORITIES, TICKET_STATUSES
from ops_store.security import access
from ops_store.security.access import PermissionDenied
from ops_store.services.common import get_or_404
from ops_store.types import UTCDateTime, utcnow

DIRECTIONS = ("inbound", "outbound")
COMM_CHANNELS = ("email", "call", "chat", "sms")
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


# --------------------------------------------------------------------------- shared checks


def authorize(permission: str, merchant_id: int | None) -> None:
    """``permission`` for a record tied to ``merchant_id`` (None: tied to no merchant). A principal
    bound to a merchant is refused any record not tied to its own merchant."""
    who = access.require(permission, merchant_id=merchant_id)
    scope = access.merchant_scope()
    if scope is not None and merchant_id != scope:
        raise PermissionDenied(
            f"{who.name} ({who.role}) may not {permission.replace('.', ' ')} for this record: it is not tied "
            "to this merchant's orders or products",
            field="permission",
        )


def text(value: Any, field: str, max_len: int, *, required: bool = True) -> str | None:
    """A trimmed string of at most ``max_len`` characters; empty means absent."""
    if value is None:
        cleaned = ""
    elif isinstance(value, str):
        cleaned = value.strip()
    else:
        raise InvalidInput(f"{field} must be text", field=field)
    if not cleaned:
        if required:
            raise InvalidInput(f"{field} is required", field=field)
        return None
    if len(cleaned) > max_len:
        raise InvalidInput(f"{field} is longer than {max_len} characters", field=field)
    return cleaned


def choice(value: Any, field: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InvalidInput(f"{field} must be one of {', '.join(allowed)}", field=field)
    return value


def int_in_range(value: Any, field: str, low: int, high: int) -> int:
    """A whole number in [low, high]; booleans and fractions are refused."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value.strip())
    if number is None or not low <= number <= high:
        raise InvalidInput(f"{field} must be a whole number from {low} to {high}", field=field)
    return number


def timestamp(value: datetime | None, field: str) -> datetime:
    """The given time (timezone-aware) or now."""
    if value is None:
        return utcnow()
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidInput(f"{field} must be a timezone-aware time", field=field)
    return value


def live_customer(session: Session, customer_id: int, *, lock: bool = False) -> Customer:
    customer = get_or_404(session, Customer, customer_id, "customer", lock=lock)
    if customer.erased_at is not None:
        raise InvalidInput(f"customer {customer_id} was erased; nothing new is recorded for them",
                           field="customer_id")
    return customer


def customer_order(session: Session, customer_id: int, order_id: int | None) -> Order | None:
    """The order, which must be the customer's own."""
    if order_id is None:
        return None
    order = get_or_404(session, Order, order_id, "order")
    if order.customer_id != customer_id:
        raise InvalidInput(f"order {order_id} is not an order of customer {customer_id}", field="order_id")
    return order


def customer_ticket(session: Session, customer_id: int, ticket_id: int | None) -> Ticket | None:
    if ticket_id is None:
        return None
    ticket = get_or_404(session, Ticket, ticket_id, "ticket")
    if ticket.customer_id != customer_id:
        raise InvalidInput(f"ticket {ticket_id} is not a ticket of customer {customer_id}", field="ticket_id")
    return ticket


def linked_merchant(order: Order | None, ticket: Ticket | None) -> int | None:
    """The merchant a record is tied to through its order and/or ticket (they must agree)."""
    merchants = {m for m in (order.merchant_id if order else None, ticket.merchant_id if ticket else None) if m}
    if len(merchants) > 1:
        raise InvalidInput("the order and the ticket belong to different merchants", field="ticket_id")
    return merchants.pop() if merchants else None


# --------------------------------------------------------------------------- communication log


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


# --------------------------------------------------------------------------- tickets


def open_ticket(
    store: Store, customer_id: int, category: str, subject: str, message: str, priority: str = "normal",
    order_id: int | None = None, *, at: datetime | None = None,
) -> dict[str, Any]:
    """Open a ticket with the customer's first message. The merchant is the order's (if any); the
    response-time targets of the priority set its due times."""
    access.require("crm.write")
    category_t = text(category, "category", 50)
    subject_t = text(subject, "subject", 200)
    body = text(message, "message", 10_000)
    priority = choice(priority, "priority", TICKET_PRIORITIES)
    created = timestamp(at, "at")
    target = TARGETS[priority]

    def work(session: Session) -> int:
        customer = live_customer(session, customer_id)
        order = customer_order(session, customer_id, order_id)
        merchant_id = order.merchant_id if order else None
        authorize("crm.write", merchant_id)
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


def _lock_ticket(session: Session, ticket_id: int) -> Ticket:
    ticket = get_or_404(session, Ticket, ticket_id, "ticket", lock=True)
    authorize("crm.write", ticket.merchant_id)
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
            ) -> dict[str, Any]:
    def work(session: Session) -> None:
        change(session, _lock_ticket(session, ticket_id))

    store.run_write(work)
    return _view(store, ticket_id, when)


def add_message(
    store: Store, ticket_id: int, author_kind: str, author: str, body: str, *, at: datetime | None = None,
) -> dict[str, Any]:
    """Add a message. The first agent message is the first response (a new ticket becomes open);
    a customer's message on a pending or resolved ticket opens it again. Closed tickets take none."""
    access.require("crm.write")
    author_kind = choice(author_kind, "author_kind", AUTHOR_KINDS)
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

    return _change(store, ticket_id, when, change)


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
    if breached_only:
        query = query.where(_breached(when))
    query = query.order_by(Ticket.resolution_due_at, Ticket.id).limit(limit)
    with store.read() as session:
        return [_summary(t, ref, code, when) for t, ref, code in session.execute(query)]
