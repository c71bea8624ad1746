"""Returns: request per order line, approve or reject, receive (restock or write off), refund."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ops_store.db import Store
from ops_store.errors import IllegalTransition, InvalidInput, NotFound
from ops_store.models import OrderLine, ReturnRequest, Shipment, ShipmentLine
from ops_store.services import loyalty, order_states, payments
from ops_store.services.common import get_or_404, parse_positive_int, warehouse_by_code
from ops_store.services.ledger import lock_levels, lock_valuations, post_movement
from ops_store.services.orders import lock_order, visible_order

RETURNABLE_ORDER_STATUSES = ("delivered", "completed")
CENT = Decimal("0.01")


def _shipped_qty(session: Session, line_id: int) -> int:
    return int(session.scalar(
        select(func.coalesce(func.sum(ShipmentLine.quantity), 0)).where(ShipmentLine.order_line_id == line_id)
    ))


def _requested_qty(session: Session, line_id: int) -> int:
    return int(session.scalar(
        select(func.coalesce(func.sum(ReturnRequest.quantity), 0))
        .where(ReturnRequest.order_line_id == line_id, ReturnRequest.status != "rejected")
    ))


def request_return(
    store: Store, order_id: int, *, sku: str, qty: Any, reason: str, actor: str = "customer",
) -> dict[str, Any]:
    """Ask to return units of one delivered order line (no more than were shipped and not yet asked for)."""
    quantity = parse_positive_int(qty, "qty")
    if not (reason or "").strip():
        raise InvalidInput("a return needs a reason", field="reason")

    def work(session: Session) -> int:
        order = lock_order(session, order_id, "returns.request")
        if order.status not in RETURNABLE_ORDER_STATUSES:
            raise IllegalTransition(f"order {order_id} is {order.status}; only delivered or completed orders "
                                    "can be returned", field="status")
        line = session.scalar(select(OrderLine).where(OrderLine.order_id == order_id, OrderLine.sku == sku))
        if line is None:
            raise NotFound(f"order {order_id} has no line for SKU {sku!r}", field="sku")
        left = _shipped_qty(session, line.id) - _requested_qty(session, line.id)
        if quantity > left:
            raise InvalidInput(f"only {left} unit(s) of {sku} can still be returned on order {order_id}",
                               field="qty")
        request = ReturnRequest(order_id=order_id, order_line_id=line.id, quantity=quantity, reason=reason.strip(),
                                status="requested", actor=actor)
        session.add(request)
        session.flush()
        return request.id

    return return_view(store, store.run_write(work))


def _decide(store: Store, return_id: int, target: str, actor: str) -> dict[str, Any]:
    def work(session: Session) -> None:
        order_id = get_or_404(session, ReturnRequest, return_id, "return").order_id
        lock_order(session, order_id)  # the order first, as everywhere
        request = get_or_404(session, ReturnRequest, return_id, "return", lock=True)
        if request.status != "requested":
            raise IllegalTransition(f"return {return_id} is {request.status}; only requested returns can be "
                                    f"{target}", field="status")
        request.status = target
        request.actor = actor

    store.run_write(work)
    return return_view(store, return_id)


def approve_return(store: Store, return_id: int, *, actor: str = "system") -> dict[str, Any]:
    return _decide(store, return_id, "approved", actor)


def reject_return(store: Store, return_id: int, *, actor: str = "system") -> dict[str, Any]:
    return _decide(store, return_id, "rejected", actor)


def receive_return(
    store: Store, return_id: int, *, qty: Any, condition: str, disposition: str, warehouse: str | None = None,
    actor: str = "system",
) -> dict[str, Any]:
    """Goods came back and were inspected. ``restock`` puts them back on hand at the cost they left
    with; ``write_off`` keeps them out of stock. When everything shipped on the order has come back,
    the order becomes returned (and the loyalty points it earned are reversed)."""
    quantity = parse_positive_int(qty, "qty")
    if disposition not in ("restock", "write_off"):
        raise InvalidInput("disposition must be restock or write_off", field="disposition")

    def work(session: Session) -> None:
        request = get_or_404(session, ReturnRequest, return_id, "return")
        order = lock_order(session, request.order_id)
        session.refresh(request, with_for_update=True)
        if request.status != "approved":
            raise IllegalTransition(f"return {return_id} is {request.status}; approve it before receiving",
                                    field="status")
        if quantity > request.quantity:
            raise InvalidInput(f"received {quantity} but only {request.quantity} were approved", field="qty")
        line = session.get(OrderLine, request.order_line_id)
        assert line is not None
        if warehouse:
            wh_id = warehouse_by_code(session, warehouse).id
        else:  # back to the warehouse it left from
            wh_id = session.scalar(
                select(Shipment.warehouse_id).join(ShipmentLine, ShipmentLine.shipment_id == Shipment.id)
                .where(ShipmentLine.order_line_id == line.id).order_by(Shipment.id).limit(1)
            )
        request.received_qty = quantity
        request.condition = condition
        request.disposition = disposition
        request.warehouse_id = wh_id
        request.status = "received"
        request.actor = actor
        if disposition == "restock":
            valuation = lock_valuations(session, [line.product_id])[line.product_id]
            level = lock_levels(session, [(line.product_id, wh_id)])[(line.product_id, wh_id)]
            post_movement(
                session, level=level, valuation=valuation, kind="return", quantity=quantity,
                unit_cost=line.unit_cost, reason=f"return {return_id}: {request.reason}", ref_type="return",
                ref_id=request.id, actor=actor, sku=line.sku,
            )
        session.flush()
        if order.status in RETURNABLE_ORDER_STATUSES and _all_back(session, order.id):
            order_states.move(session, order, "returned", actor=actor, note=f"return {return_id}")
            loyalty.reverse_for_return(session, order, actor=actor)

    store.run_write(work)
    return return_view(store, return_id)


def _all_back(session: Session, order_id: int) -> bool:
    shipped = session.scalar(
        select(func.coalesce(func.sum(ShipmentLine.quantity), 0))
        .join(Shipment, Shipment.id == ShipmentLine.shipment_id).where(Shipment.order_id == order_id)
    )
    back = session.scalar(
        select(func.coalesce(func.sum(ReturnRequest.received_qty), 0))
        .where(ReturnRequest.order_id == order_id, ReturnRequest.status.in_(("received", "refunded")))
    )
    return bool(shipped) and back >= shipped


def refund_return(store: Store, return_id: int, *, amount: Any = None, actor: str = "system") -> dict[str, Any]:
    """Refund a received return through the order's payment. The default amount is what the
    customer paid for the units received (line total / quantity x units, after discount)."""
    with store.read() as session:
        request = get_or_404(session, ReturnRequest, return_id, "return")
        if request.status != "received":
            raise IllegalTransition(f"return {return_id} is {request.status}; only received returns are refunded",
                                    field="status")
        line = session.get(OrderLine, request.order_line_id)
        assert line is not None and request.received_qty is not None
        due = (line.line_total * request.received_qty / line.quantity).quantize(CENT, rounding=ROUND_HALF_UP)
        order_id = request.order_id
    value = due if amount is None else Decimal(str(amount))
    if value > due:
        raise InvalidInput(f"refund of {value} exceeds the {due} paid for the returned units", field="amount")
    payments.refund_payment(store, order_id, value, actor=actor, reason=f"return {return_id}",
                            reference=f"return:{return_id}")

    def work(session: Session) -> None:
        req = get_or_404(session, ReturnRequest, return_id, "return", lock=True)
        req.status = "refunded"
        req.refund_amount = value

    store.run_write(work)
    return return_view(store, return_id)


def return_view(store: Store, return_id: int) -> dict[str, Any]:
    with store.read() as session:
        r = get_or_404(session, ReturnRequest, return_id, "return")
        visible_order(session, r.order_id, "orders.read")
        line = session.get(OrderLine, r.order_line_id)
        return {
            "return_id": r.id, "order_id": r.order_id, "sku": line.sku if line else None, "qty": r.quantity,
            "reason": r.reason, "status": r.status, "received_qty": r.received_qty, "condition": r.condition,
            "disposition": r.disposition, "refund_amount": r.refund_amount, "created_at": r.created_at,
        }
