"""The order state machine. Every change is checked here and recorded as an order event."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ops_store.errors import IllegalTransition
from ops_store.models import Order, OrderEvent

# placed -> paid -> allocated -> shipped -> delivered -> completed, with the side exits.
# placed -> allocated is only for cash on delivery (checked by the orders service).
TRANSITIONS: dict[str, frozenset[str]] = {
    "placed": frozenset({"paid", "allocated", "cancelled"}),
    "paid": frozenset({"allocated", "cancelled"}),
    "allocated": frozenset({"shipped", "cancelled"}),
    "shipped": frozenset({"delivered"}),
    "delivered": frozenset({"completed", "returned", "refunded"}),
    "completed": frozenset({"returned", "refunded"}),
    "returned": frozenset({"refunded"}),
    "cancelled": frozenset(),
    "refunded": frozenset(),
}


def can_move(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


def move(session: Session, order: Order, target: str, *, actor: str, note: str | None = None) -> None:
    """Move ``order`` to ``target`` or raise IllegalTransition naming the allowed next states."""
    if not can_move(order.status, target):
        allowed = ", ".join(sorted(TRANSITIONS.get(order.status, ()))) or "none (final state)"
        raise IllegalTransition(
            f"order {order.id} is {order.status}; it cannot become {target} (allowed next: {allowed})",
            field="status",
            details={"order_id": order.id, "from": order.status, "to": target},
        )
    session.add(OrderEvent(order_id=order.id, from_status=order.status, to_status=target, actor=actor, note=note))
    order.status = target
