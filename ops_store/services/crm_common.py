"""Checks shared by the customer-service modules (communications, tickets, feedback): the
caller's permission for a record tied to a merchant, cleaned input, and the customer, order and
ticket a record refers to.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ops_store.errors import InvalidInput, NotFound
from ops_store.models import Customer, Order, Ticket
from ops_store.security import access
from ops_store.security.access import PermissionDenied
from ops_store.services.common import get_or_404
from ops_store.types import utcnow


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
        if access.customer_scope() is not None or access.merchant_scope() not in (None, order.merchant_id):
            # a customer or another merchant may not learn that the order exists
            raise NotFound(f"order {order_id} does not exist", field="order_id")
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
