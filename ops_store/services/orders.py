"""Orders: place (reserving stock atomically), read, allocate, cancel, complete."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ops_store.db import Store
from ops_store.errors import Conflict, DomainError, IllegalTransition, InsufficientStock, InvalidInput, NotFound
from ops_store.models import (
    Campaign,
    Coupon,
    Customer,
    DeliveryOption,
    Merchant,
    Order,
    OrderEvent,
    OrderLine,
    Payment,
    Product,
    RejectedRequest,
    Reservation,
    Shipment,
    ShipmentLine,
    Warehouse,
)
from ops_store.payments.card_guard import redact_card_data
from ops_store.security import access
from ops_store.services import alerts, coupons, loyalty, order_states
from ops_store.services.allocation import Demand, allocate
from ops_store.services.common import merchant_by_code, upsert_into
from ops_store.services.ledger import lock_levels
from ops_store.services.order_document import OrderDocument, parse_order_document
from ops_store.types import utcnow

log = logging.getLogger(__name__)
CENT = Decimal("0.01")
PREPAID_METHODS = ("card", "e_wallet")


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def split_discount(discount: Decimal, gross: list[Decimal]) -> list[Decimal]:
    """Share an order discount across lines in proportion to their gross; cents add up exactly."""
    total = sum(gross, Decimal("0"))
    if discount == 0 or total == 0:
        return [Decimal("0.00")] * len(gross)
    shares = [(discount * g / total).quantize(CENT, rounding="ROUND_DOWN") for g in gross]
    remainder = int((discount - sum(shares)) / CENT)
    order = sorted(range(len(gross)), key=lambda i: (-(discount * gross[i] / total - shares[i]), i))
    for i in order[:remainder]:
        shares[i] += CENT
    return shares


def warehouse_order(session: Session, merchant: Merchant) -> list[int]:
    """Warehouse ids in allocation order: preferred, then priority, then code."""
    rows = session.execute(
        select(Warehouse.id).where(Warehouse.active.is_(True)).order_by(Warehouse.priority, Warehouse.code)
    ).scalars().all()
    ids = list(rows)
    if merchant.preferred_warehouse_id in ids:
        ids.remove(merchant.preferred_warehouse_id)
        ids.insert(0, merchant.preferred_warehouse_id)
    return ids


def _customer_id(session: Session, customer_ref: str) -> int:
    session.execute(
        upsert_into(session, Customer).values(customer_ref=customer_ref, created_at=utcnow(), updated_at=utcnow())
        .on_conflict_do_nothing()
    )
    return session.scalar(select(Customer.id).where(Customer.customer_ref == customer_ref))  # type: ignore[return-value]


def _existing(session: Session, doc: OrderDocument, payload_hash: str) -> Order | None:
    order = session.scalar(
        select(Order).where(Order.channel == doc.channel, Order.channel_order_ref == doc.channel_order_ref)
    )
    if order is not None and order.payload_hash != payload_hash:
        raise Conflict(
            f"channel {doc.channel} already sent order {doc.channel_order_ref!r} with a different content "
            f"(order {order.id}); use a new channel_order_ref for a new order",
            field="channel_order_ref",
            details={"order_id": order.id},
        )
    return order


@dataclass(frozen=True)
class _Benefits:
    discount: Decimal  # the channel's discount + the coupon's + the points' value
    shipping: Decimal
    coupon: coupons.CouponQuote | None
    coupon_value: Decimal  # what the coupon gave: its discount, or the shipping it waived
    points: int


def _benefits(
    session: Session, doc: OrderDocument, *, merchant_id: int, customer_id: int, subtotal: Decimal,
    discount: Decimal, shipping: Decimal, placed_at: datetime, actor: str,
) -> _Benefits:
    """Coupon, then points, then free shipping, on top of the channel's discount. Locks (after the
    stock rows): the loyalty account, then the coupon; both stay locked until the order commits."""
    points = doc.points or 0
    if points:
        loyalty.lock_account(session, customer_id)
    coupon = None
    if doc.coupon:
        coupon = coupons.quote_coupon(session, doc.coupon, merchant_id=merchant_id, customer_id=customer_id,
                                      subtotal=subtotal, payable=subtotal - discount, on=placed_at.date())
        discount += coupon.discount
    if points:
        discount += loyalty.quote_redemption(session, customer_id, points, limit=subtotal - discount,
                                             actor=actor).value
    tier_ships_free = loyalty.has_free_shipping(session, customer_id)
    coupon_value = coupon.discount if coupon else Decimal("0.00")
    if coupon is not None and coupon.free_shipping:
        coupon_value = Decimal("0.00") if tier_ships_free else shipping
    if tier_ships_free or (coupon is not None and coupon.free_shipping):
        shipping = Decimal("0.00")
    return _Benefits(discount, shipping, coupon, coupon_value, points)


def _place(session: Session, doc: OrderDocument, payload_hash: str, actor: str,
           ) -> tuple[int, bool, dict[str, Any] | None]:
    """The order's id, whether it is new, and (when new) its view from the rows just written."""
    existing = _existing(session, doc, payload_hash)
    if existing is not None:
        return existing.id, False, None
    merchant = merchant_by_code(session, doc.merchant)
    access.require("orders.write", merchant_id=merchant.id)
    option = session.scalar(
        select(DeliveryOption).where(DeliveryOption.code == doc.delivery_option, DeliveryOption.active.is_(True))
    )
    if option is None:
        raise NotFound(f"delivery option {doc.delivery_option!r} does not exist", field="delivery_option")

    skus = [line.sku for line in doc.lines]
    products = {
        p.sku: p
        for p in session.scalars(select(Product).where(Product.merchant_id == merchant.id, Product.sku.in_(skus)))
    }
    for i, line in enumerate(doc.lines):
        product = products.get(line.sku)
        if product is None:
            raise NotFound(f"lines[{i}].sku: {line.sku!r} is not in merchant {merchant.code}'s catalog",
                           field=f"lines[{i}].sku")
        if not product.active:
            raise InvalidInput(f"lines[{i}].sku: {line.sku!r} is no longer sold", field=f"lines[{i}].sku")
        if product.currency != merchant.currency:
            raise InvalidInput(f"lines[{i}].sku: priced in {product.currency}, the order is in {merchant.currency}",
                               field=f"lines[{i}].sku")

    # Lock every balance row of these products, in the fixed order, then decide.
    product_ids = [products[s].id for s in skus]
    warehouses = warehouse_order(session, merchant)
    levels = lock_levels(session, [(p, w) for p in product_ids for w in warehouses], create=False)
    available = {key: lvl.on_hand - lvl.reserved for key, lvl in levels.items()}
    demands = [Demand(i, products[line.sku].id, line.qty) for i, line in enumerate(doc.lines)]
    allocations, shortages = allocate(demands, available, warehouses)
    if shortages:
        short = [
            {"sku": doc.lines[s.line].sku, "requested": s.requested, "available": s.available} for s in shortages
        ]
        names = ", ".join(f"{s['sku']} (requested {s['requested']}, available {s['available']})" for s in short)
        raise InsufficientStock(f"not enough stock for: {names}", field="lines", details=short)

    gross = [products[line.sku].price * line.qty for line in doc.lines]
    subtotal = sum(gross, Decimal("0"))
    discount = Decimal(doc.discount or "0").quantize(CENT)
    if discount > subtotal:
        raise InvalidInput("discount cannot exceed the order's subtotal", field="discount")
    placed_at = doc.placed_at or utcnow()
    customer_id = _customer_id(session, doc.customer_ref)
    benefits = _benefits(session, doc, merchant_id=merchant.id, customer_id=customer_id, subtotal=subtotal,
                         discount=discount, shipping=option.price, placed_at=placed_at, actor=actor)
    discount, shipping = benefits.discount, benefits.shipping
    shares = split_discount(discount, gross)
    tax = _money((subtotal - discount) * merchant.tax_rate)
    order = Order(
        merchant_id=merchant.id, customer_id=customer_id, channel=doc.channel,
        channel_order_ref=doc.channel_order_ref, payload_hash=payload_hash, status="placed",
        currency=merchant.currency, subtotal=subtotal, discount=discount, shipping=shipping, tax=tax,
        total=subtotal - discount + shipping + tax, delivery_option_id=option.id,
        coupon_id=benefits.coupon.coupon_id if benefits.coupon else None,
        campaign_id=benefits.coupon.campaign_id if benefits.coupon else None,
        points_redeemed=benefits.points,
        promised_on=(placed_at + timedelta(days=option.promised_days)).date(), placed_at=placed_at,
        created_at=utcnow(),
    )
    session.add(order)
    session.flush()
    if benefits.coupon is not None:
        coupons.redeem_coupon(session, benefits.coupon, order, value=benefits.coupon_value)
    loyalty.redeem_for_order(session, order, actor=actor)
    lines = []
    for i, line in enumerate(doc.lines):
        product = products[line.sku]
        ol = OrderLine(
            order_id=order.id, line_no=i + 1, product_id=product.id, sku=product.sku, quantity=line.qty,
            unit_price=product.price, discount=shares[i], line_total=gross[i] - shares[i],
        )
        lines.append(ol)
    session.add_all(lines)
    session.flush()
    reservations = [
        Reservation(order_id=order.id, order_line_id=lines[a.line].id, product_id=a.product_id,
                    warehouse_id=a.warehouse_id, quantity=a.quantity, status="active")
        for a in allocations
    ]
    session.add_all(reservations)
    for a in allocations:
        levels[(a.product_id, a.warehouse_id)].reserved += a.quantity
    pay = doc.payment
    payment = Payment(
        order_id=order.id, method=pay.method, status="pending", amount=order.total, currency=order.currency,
        captured_amount=Decimal("0.00"), refunded_amount=Decimal("0.00"),
        provider="fake" if pay.method in PREPAID_METHODS
        else pay.method, provider_token=pay.token, card_brand=pay.brand, card_last4=pay.last4,
    )
    event = OrderEvent(order_id=order.id, from_status=None, to_status="placed", actor=actor,
                       note=f"{doc.channel} {doc.channel_order_ref}")
    session.add_all([payment, event])
    session.flush()
    for key in {(a.product_id, a.warehouse_id) for a in allocations}:
        alerts.evaluate(session, levels[key])
    view = _shape(
        order, merchant_code=merchant.code, customer_ref=doc.customer_ref, option_code=option.code,
        wh_codes=dict(session.execute(select(Warehouse.id, Warehouse.code)
                                      .where(Warehouse.id.in_({a.warehouse_id for a in allocations}))).all()),
        lines=lines, reservations=reservations, shipped={}, payment=payment, shipments=[], events=[event],
        coupon=session.scalar(select(Coupon.code).where(Coupon.id == order.coupon_id)) if order.coupon_id else None,
        campaign=session.scalar(select(Campaign.code).where(Campaign.id == order.campaign_id))
        if order.campaign_id else None,
    )
    return order.id, True, view


@dataclass(frozen=True)
class Placed:
    order_id: int
    created: bool
    # The order as this unit of work commits it, when nothing is left to do after the commit (no
    # card or e-wallet to authorise); else None.
    view: dict[str, Any] | None


def place_order(
    store: Store, document: Any, *, actor: str | None = None, authorize: bool = True,
    on_placed: Callable[[Session, Placed], None] | None = None,
) -> dict[str, Any]:
    """Place an order from a channel's document. Stock for every line is reserved atomically, or
    nothing is. The same channel and reference again returns the existing order (``replayed``);
    the same reference with other content is a Conflict. Card and e-wallet payments are then
    authorised with the provider (a decline cancels the order and frees its stock).
    ``on_placed(session, placed)`` runs inside the order's unit of work (the API ties its
    idempotency key to the order there); an IntegrityError from it undoes the whole order."""

    def work(session: Session) -> Placed:
        order_id, created, fresh = _place(session, doc, payload_hash, who)
        then_authorize = created and authorize and doc.payment.method in PREPAID_METHODS
        view = None
        if not then_authorize:  # the view in the same unit of work: no second round trip
            if fresh is None:
                fresh = order_view(session, session.get(Order, order_id))  # type: ignore[arg-type]
            view = {**fresh, "replayed": not created}
        placed = Placed(order_id, created, view)
        if on_placed is not None:
            on_placed(session, placed)
        return placed

    try:
        doc = parse_order_document(document)
        payload_hash = doc.payload_hash()
        who = actor or f"channel:{doc.channel}"
        try:
            placed = store.run_write(work)
            order_id, created = placed.order_id, placed.created
        except IntegrityError:
            # Another request with the same channel reference won the race: replay or conflict.
            with store.read() as session:
                existing = _existing(session, doc, payload_hash)
            if existing is None or on_placed is not None:
                raise
            order_id, created = existing.id, False
            placed = Placed(order_id, False, None)
    except DomainError as exc:
        keep_rejected(store, "order", document, exc, source=actor)
        raise
    if created:
        log.info("order %s placed from %s", order_id, doc.channel)
    if placed.view is not None:
        return placed.view
    if created and authorize and doc.payment.method in PREPAID_METHODS:
        from ops_store.services import payments

        payments.authorize_payment(store, order_id, actor=who, raise_on_error=False, view=False)
    view = get_order(store, order_id)
    view["replayed"] = not created
    return view


def keep_rejected(store: Store, kind: str, document: Any, error: DomainError, *, source: str | None) -> None:
    """Keep a refused request with its reason (card data masked), so nothing sent is lost."""
    doc = redact_card_data(document if isinstance(document, dict) else {"document": document})
    channel = doc.get("channel") if isinstance(doc.get("channel"), str) else None
    ref = doc.get("channel_order_ref") if isinstance(doc.get("channel_order_ref"), str) else None
    try:
        payload = json.dumps(doc, sort_keys=True, default=str)
    except (TypeError, ValueError):
        payload = json.dumps({"unserialisable": True})
    with store.write() as session:
        session.add(RejectedRequest(
            kind=kind, source=(source or (f"channel:{channel}" if channel else "unknown"))[:100],
            reference=(ref or "")[:100] or None, error_code=error.code, field=(error.field or "")[:200] or None,
            message=error.message, payload=payload,
        ))
    error.kept = True
    log.info("rejected %s request: %s (%s)", kind, error.code, error.field)


def visible_order(session: Session, order_id: int, permission: str, *, lock: bool = False) -> Order:
    """The order, if the caller holds ``permission`` for its merchant. Another merchant's order
    is reported as not found (its existence is not theirs to know)."""
    order = session.scalar(select(Order).where(Order.id == order_id).with_for_update() if lock
                           else select(Order).where(Order.id == order_id))
    if order is None or access.merchant_scope() not in (None, order.merchant_id):
        raise NotFound(f"order {order_id} does not exist", field="order_id")
    access.require_own(order.customer_id, "order", order_id, "order_id")
    access.require(permission, merchant_id=order.merchant_id)
    return order


def get_order(store: Store, order_id: int) -> dict[str, Any]:
    with store.read() as session:
        return order_view(session, visible_order(session, order_id, "orders.read"))


def order_view(session: Session, order: Order) -> dict[str, Any]:
    merchant = session.get(Merchant, order.merchant_id)
    customer = session.get(Customer, order.customer_id)
    option = session.get(DeliveryOption, order.delivery_option_id)
    shipped: dict[int, int] = {}
    for line_id, qty in session.execute(
        select(ShipmentLine.order_line_id, ShipmentLine.quantity)
        .join(Shipment, Shipment.id == ShipmentLine.shipment_id).where(Shipment.order_id == order.id)
    ):
        shipped[line_id] = shipped.get(line_id, 0) + qty
    return _shape(
        order, merchant_code=merchant.code if merchant else None,
        customer_ref=customer.customer_ref if customer else None, option_code=option.code if option else None,
        wh_codes=dict(session.execute(select(Warehouse.id, Warehouse.code)).all()),
        lines=list(session.scalars(select(OrderLine).where(OrderLine.order_id == order.id)
                                   .order_by(OrderLine.line_no))),
        reservations=list(session.scalars(select(Reservation).where(Reservation.order_id == order.id)
                                          .order_by(Reservation.id))),
        shipped=shipped, payment=session.scalar(select(Payment).where(Payment.order_id == order.id)),
        shipments=list(session.scalars(select(Shipment).where(Shipment.order_id == order.id)
                                       .order_by(Shipment.id))),
        events=list(session.scalars(select(OrderEvent).where(OrderEvent.order_id == order.id)
                                    .order_by(OrderEvent.id))),
        coupon=session.scalar(select(Coupon.code).where(Coupon.id == order.coupon_id)) if order.coupon_id else None,
        campaign=session.scalar(select(Campaign.code).where(Campaign.id == order.campaign_id))
        if order.campaign_id else None,
    )


def _shape(
    order: Order, *, merchant_code: str | None, customer_ref: str | None, option_code: str | None,
    wh_codes: dict[int, str], lines: list[OrderLine], reservations: list[Reservation], shipped: dict[int, int],
    payment: Payment | None, shipments: list[Shipment], events: list[OrderEvent], coupon: str | None,
    campaign: str | None,
) -> dict[str, Any]:
    """The order as callers see it, from its rows (read back, or still in the unit that made them)."""
    return {
        "order_id": order.id, "status": order.status, "merchant": merchant_code,
        "channel": order.channel, "channel_order_ref": order.channel_order_ref,
        "customer_ref": customer_ref, "currency": order.currency,
        "subtotal": order.subtotal, "discount": order.discount, "shipping": order.shipping, "tax": order.tax,
        "total": order.total, "delivery_option": option_code, "coupon": coupon, "campaign": campaign,
        "points_redeemed": order.points_redeemed,
        "promised_on": order.promised_on, "placed_at": order.placed_at,
        "lines": [
            {"line_no": ol.line_no, "sku": ol.sku, "qty": ol.quantity, "unit_price": ol.unit_price,
             "discount": ol.discount, "line_total": ol.line_total, "qty_shipped": shipped.get(ol.id, 0),
             "allocations": [
                 {"warehouse": wh_codes[r.warehouse_id], "qty": r.quantity, "status": r.status}
                 for r in reservations if r.order_line_id == ol.id
             ]}
            for ol in lines
        ],
        "payment": None if payment is None else {
            "method": payment.method, "status": payment.status, "amount": payment.amount,
            "captured": payment.captured_amount, "refunded": payment.refunded_amount,
            "brand": payment.card_brand, "last4": payment.card_last4, "failure_reason": payment.failure_reason,
        },
        "shipments": [
            {"shipment_id": s.id, "warehouse": wh_codes[s.warehouse_id], "tracking_number": s.tracking_number,
             "status": s.status, "promised_on": s.promised_on, "delivered_at": s.delivered_at}
            for s in shipments
        ],
        "events": [
            {"at": e.created_at, "from": e.from_status, "to": e.to_status, "actor": e.actor, "note": e.note}
            for e in events
        ],
    }


def list_orders(
    store: Store, *, merchant: str | None = None, customer_ref: str | None = None, status: str | None = None,
    limit: int = 100, before_id: int | None = None,
) -> list[dict[str, Any]]:
    """Orders, newest first; ``before_id`` continues a page (keyset pagination)."""
    access.require("orders.read")
    with store.read() as session:
        query = (
            select(Order, Merchant.code, Customer.customer_ref)
            .join(Merchant, Merchant.id == Order.merchant_id)
            .join(Customer, Customer.id == Order.customer_id)
        )
        if merchant:
            query = query.where(Merchant.code == merchant)
        if customer_ref:
            query = query.where(Customer.customer_ref == customer_ref)
        if status:
            query = query.where(Order.status == status)
        if access.merchant_scope() is not None:
            query = query.where(Order.merchant_id == access.merchant_scope())
        if access.customer_scope() is not None:
            query = query.where(Order.customer_id == access.customer_scope())
        if before_id is not None:
            query = query.where(Order.id < before_id)
        rows = session.execute(query.order_by(Order.id.desc()).limit(limit))
        return [
            {"order_id": o.id, "status": o.status, "merchant": m, "customer_ref": c, "channel": o.channel,
             "channel_order_ref": o.channel_order_ref, "total": o.total, "currency": o.currency,
             "placed_at": o.placed_at}
            for o, m, c in rows
        ]


def release_reservations(session: Session, order_id: int, *, actor: str = "system") -> None:
    """Give back every unit still reserved for the order (cancel, failed payment) and, when the
    order is cancelled, the loyalty points it redeemed and its coupon use."""
    active = list(session.scalars(
        select(Reservation).where(Reservation.order_id == order_id, Reservation.status == "active")
    ))
    levels = lock_levels(session, [(r.product_id, r.warehouse_id) for r in active], create=False)
    for r in active:
        levels[(r.product_id, r.warehouse_id)].reserved -= r.quantity
        r.status = "released"
    session.flush()
    for level in levels.values():
        alerts.evaluate(session, level)
    order = session.get(Order, order_id)
    if order is not None and order.status == "cancelled":
        release_benefits(session, order, actor=actor)


def release_benefits(session: Session, order: Order, *, actor: str) -> None:
    """A cancelled order gives back its redeemed points, then its coupon use (the lock order)."""
    loyalty.give_back_for_cancel(session, order, actor=actor)
    coupons.release_coupon(session, order)


def lock_order(session: Session, order_id: int, permission: str = "orders.write") -> Order:
    """Lock the order row (the first lock of every order operation) after checking the caller."""
    return visible_order(session, order_id, permission, lock=True)


def cancel_order(store: Store, order_id: int, *, actor: str = "system", reason: str | None = None) -> dict[str, Any]:
    """Cancel an order not yet shipped: its reservations are released, an authorised payment is
    voided and a captured one refunded in full."""

    def work(session: Session) -> None:
        order = lock_order(session, order_id)
        order_states.move(session, order, "cancelled", actor=actor, note=reason)
        release_reservations(session, order.id, actor=actor)

    store.run_write(work)
    from ops_store.services import payments

    payments.settle_cancelled(store, order_id, actor=actor)
    return get_order(store, order_id)


def allocate_order(store: Store, order_id: int, *, actor: str = "system") -> dict[str, Any]:
    """Release the order to its warehouses for picking. Needs a secured payment, except for cash
    on delivery, which is collected when the parcel is delivered."""

    def work(session: Session) -> None:
        order = lock_order(session, order_id)
        payment = session.scalar(select(Payment).where(Payment.order_id == order.id))
        if order.status == "placed" and (payment is None or payment.method != "cash_on_delivery"):
            raise IllegalTransition(
                f"order {order.id} is placed but not paid; it can be allocated once its payment is secured",
                field="status",
            )
        order_states.move(session, order, "allocated", actor=actor)

    store.run_write(work)
    return get_order(store, order_id)


def complete_order(store: Store, order_id: int, *, actor: str = "system") -> dict[str, Any]:
    """The order is done (delivered and kept): the customer earns loyalty points for it."""

    def work(session: Session) -> None:
        order = lock_order(session, order_id)
        order_states.move(session, order, "completed", actor=actor)
        loyalty.earn_for_order(session, order, actor=actor)

    store.run_write(work)
    return get_order(store, order_id)

