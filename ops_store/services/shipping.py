"""Shipping: turn an allocated order's reservations into parcels and sales, then follow tracking."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ops_store.db import Store
from ops_store.errors import IllegalTransition, InvalidInput, NotFound
from ops_store.models import (
    Carrier,
    DeliveryOption,
    Order,
    OrderLine,
    Payment,
    Reservation,
    Shipment,
    ShipmentLine,
    TrackingEvent,
    Warehouse,
)
from ops_store.models.shipping import TRACKING_STATUSES
from ops_store.security import access
from ops_store.services import order_states, payments
from ops_store.services.ledger import lock_levels, lock_valuations, post_movement
from ops_store.services.orders import lock_order
from ops_store.shipping.carrier import LabelRequest, get_carrier
from ops_store.types import utcnow


def ship_order(store: Store, order_id: int, *, actor: str = "system") -> dict[str, Any]:
    """Ship an allocated order: an authorised card is captured first; then every reservation
    becomes a sale movement at the average cost, one parcel per warehouse, with a label from the
    delivery option's carrier. The order becomes shipped."""
    with store.read() as session:
        order = session.get(Order, order_id)
        if order is None or access.merchant_scope() not in (None, order.merchant_id):
            raise NotFound(f"order {order_id} does not exist", field="order_id")
        access.require("orders.write", merchant_id=order.merchant_id)
        if order.status != "allocated":
            raise IllegalTransition(f"order {order_id} is {order.status}; only allocated orders ship",
                                    field="status")
        payment = session.scalar(select(Payment).where(Payment.order_id == order_id))
        option = session.get(DeliveryOption, order.delivery_option_id)
        carrier = session.get(Carrier, option.carrier_id)  # type: ignore[union-attr]
        warehouse_ids = sorted({r.warehouse_id for r in session.scalars(
            select(Reservation).where(Reservation.order_id == order_id, Reservation.status == "active"))})
        wh_codes = dict(session.execute(select(Warehouse.id, Warehouse.code)).all())
    if payment is not None and payment.status == "authorized":
        payments.capture_payment(store, order_id, actor=actor)
    adapter = get_carrier(carrier.code)  # type: ignore[union-attr]
    labels = {
        wid: adapter.create_label(LabelRequest(order_id, wh_codes[wid], n + 1, option.kind))  # type: ignore[union-attr]
        for n, wid in enumerate(warehouse_ids)
    }

    def work(session: Session) -> None:
        order = lock_order(session, order_id)
        if order.status != "allocated":
            raise IllegalTransition(f"order {order_id} is {order.status}; only allocated orders ship",
                                    field="status")
        reservations = list(session.scalars(
            select(Reservation).where(Reservation.order_id == order_id, Reservation.status == "active")
            .order_by(Reservation.id)))
        valuations = lock_valuations(session, [r.product_id for r in reservations])
        levels = lock_levels(session, [(r.product_id, r.warehouse_id) for r in reservations], create=False)
        lines = {ol.id: ol for ol in session.scalars(select(OrderLine).where(OrderLine.order_id == order_id))}
        now = utcnow()
        by_warehouse: dict[int, list[Reservation]] = defaultdict(list)
        for r in reservations:
            by_warehouse[r.warehouse_id].append(r)
        for wid, group in sorted(by_warehouse.items()):
            shipment = Shipment(
                order_id=order_id, warehouse_id=wid, carrier_id=carrier.id,  # type: ignore[union-attr]
                tracking_number=labels[wid], status="label_created", promised_on=order.promised_on,
                shipped_at=now,
            )
            session.add(shipment)
            session.flush()
            session.add(TrackingEvent(shipment_id=shipment.id, status="label_created", occurred_at=now,
                                      location=wh_codes[wid], description="label created, parcel handed over"))
            for r in group:
                line = lines[r.order_line_id]
                movement = post_movement(
                    session, level=levels[(r.product_id, wid)], valuation=valuations[r.product_id], kind="sale",
                    quantity=-r.quantity, consumes_reservation=True, reason=f"order {order_id}",
                    ref_type="order_line", ref_id=line.id, actor=actor, sku=line.sku,
                )
                line.unit_cost = movement.unit_cost
                r.status = "consumed"
                session.add(ShipmentLine(shipment_id=shipment.id, order_line_id=line.id, quantity=r.quantity))
        order_states.move(session, order, "shipped", actor=actor,
                          note=", ".join(labels[w] for w in sorted(by_warehouse)))

    store.run_write(work)
    from ops_store.services.orders import get_order

    return get_order(store, order_id)


def record_tracking_event(
    store: Store, tracking_number: str, status: str, *, occurred_at: datetime | None = None,
    location: str | None = None, description: str | None = None, actor: str = "carrier",
) -> dict[str, Any]:
    """Add a carrier event to a parcel's timeline (see ``track``)."""
    check_tracking_status(status)
    when = occurred_at or utcnow()
    if when.tzinfo is None:
        raise InvalidInput("occurred_at needs a time zone", field="occurred_at")
    shipment_id = store.run_write(lambda session: track(session, tracking_number, status, when, location=location,
                                                         description=description, actor=actor))
    return shipment_view(store, shipment_id)


def check_tracking_status(status: str) -> None:
    if status not in TRACKING_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(TRACKING_STATUSES)}", field="status")


def track(session: Session, tracking_number: str, status: str, when: datetime, *, location: str | None,
          description: str | None, actor: str) -> int:
    """Inside a unit of work: add the event to the parcel's timeline. The parcel's status is that
    of its latest event by event time (late-arriving older events do not move it back), except
    that a label or pick-up event, which come once and first, never takes a parcel back from a
    later step (a scanner whose clock is ahead of the next one's). When every parcel of an order is
    delivered the order becomes delivered, and cash on delivery is captured. Returns the shipment's
    id."""
    shipment = session.scalar(select(Shipment).where(Shipment.tracking_number == tracking_number))
    if shipment is None:
        raise NotFound(f"no shipment with tracking number {tracking_number!r}", field="tracking_number")
    order = lock_order(session, shipment.order_id)
    session.refresh(shipment, with_for_update=True)
    session.add(TrackingEvent(shipment_id=shipment.id, status=status, occurred_at=when, location=location,
                              description=description))
    session.flush()
    latest = session.scalar(
        select(TrackingEvent).where(TrackingEvent.shipment_id == shipment.id)
        .order_by(TrackingEvent.occurred_at.desc(), TrackingEvent.id.desc()).limit(1)
    )
    moves_back = (latest.status in ("label_created", "picked_up")  # type: ignore[union-attr]
                  and shipment.status in ("in_transit", "out_for_delivery"))
    if shipment.status != "delivered" and not moves_back:  # delivered is final for the parcel
        shipment.status = latest.status  # type: ignore[union-attr]
    if status == "delivered" and shipment.delivered_at is None:
        shipment.status = "delivered"
        shipment.delivered_at = when
    session.flush()
    parcels = list(session.scalars(select(Shipment).where(Shipment.order_id == order.id)))
    if order.status == "shipped" and all(p.status == "delivered" for p in parcels):
        payments.collect_cash_on_delivery(session, order.id, actor=actor)
        order_states.move(session, order, "delivered", actor=actor, note=f"delivered {tracking_number}")
    return shipment.id


def shipment_view(store: Store, shipment_id: int) -> dict[str, Any]:
    with store.read() as session:
        s = session.get(Shipment, shipment_id)
        merchant_id = session.scalar(select(Order.merchant_id).where(Order.id == s.order_id)) if s else None
        if s is None or access.merchant_scope() not in (None, merchant_id):
            raise NotFound(f"shipment {shipment_id} does not exist", field="shipment_id")
        owner = session.scalar(select(Order.customer_id).where(Order.id == s.order_id))
        access.require_own(owner, "shipment", shipment_id, "shipment_id")
        access.require("orders.read", merchant_id=merchant_id)
        carrier = session.get(Carrier, s.carrier_id)
        events = session.scalars(select(TrackingEvent).where(TrackingEvent.shipment_id == s.id)
                                 .order_by(TrackingEvent.occurred_at, TrackingEvent.id))
        return {
            "shipment_id": s.id, "order_id": s.order_id, "carrier": carrier.code if carrier else None,
            "tracking_number": s.tracking_number, "status": s.status, "promised_on": s.promised_on,
            "shipped_at": s.shipped_at, "delivered_at": s.delivered_at,
            "on_time": None if s.delivered_at is None else s.delivered_at.date() <= s.promised_on,
            "timeline": [
                {"at": e.occurred_at, "status": e.status, "location": e.location, "description": e.description}
                for e in events
            ],
        }


def find_shipment(store: Store, tracking_number: str) -> dict[str, Any]:
    with store.read() as session:
        sid = session.scalar(select(Shipment.id).where(Shipment.tracking_number == tracking_number))
    if sid is None:
        raise NotFound(f"no shipment with tracking number {tracking_number!r}", field="tracking_number")
    return shipment_view(store, sid)
