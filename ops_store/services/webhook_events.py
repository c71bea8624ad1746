"""Webhook events from payment providers and carriers, each applied exactly once.

The event's id is recorded in ``inbound_events`` in the same transaction as its effect: a second
delivery of the same id finds the row and changes nothing, and two deliveries racing each other
meet at the unique key (the loser's transaction, effect included, rolls back). Events that no
longer apply (the payment already moved past that state: providers deliver out of order) are
recorded as ``ignored`` with the reason, so the provider stops retrying them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ops_store.db import Store
from ops_store.errors import InvalidInput, NotFound
from ops_store.models import Carrier, InboundEvent, Payment, Shipment
from ops_store.payments.events import ProviderEvent
from ops_store.payments.provider import ProviderResult
from ops_store.security import access
from ops_store.services import payments, shipping
from ops_store.shipping.events import CarrierEvent

Effect = Callable[[Session], tuple[str, str | None, dict[str, Any]]]  # outcome, note, what it touched


def apply_once(store: Store, source: str, event_id: str, kind: str, occurred_at: datetime | None,
               effect: Effect) -> dict[str, Any]:
    """Run ``effect`` and record the event in one unit of work, unless the event was seen before."""

    def work(session: Session) -> dict[str, Any]:
        seen = session.scalar(select(InboundEvent).where(InboundEvent.source == source,
                                                         InboundEvent.event_id == event_id))
        if seen is not None:
            return {"event_id": event_id, "outcome": "duplicate", "note": f"first received {seen.received_at}"}
        outcome, note, touched = effect(session)
        session.add(InboundEvent(source=source, event_id=event_id, kind=kind, occurred_at=occurred_at,
                                 outcome=outcome, note=note))
        session.flush()
        return {"event_id": event_id, "outcome": outcome, "note": note, **touched}

    try:
        return store.run_write(work)
    except IntegrityError:  # the same event, delivered twice at once: the other delivery applied it
        return {"event_id": event_id, "outcome": "duplicate", "note": "applied by a concurrent delivery"}


def apply_payment_event(store: Store, provider: str, event: ProviderEvent) -> dict[str, Any]:
    """Apply a provider's authorisation, capture, refund or failure to the order's payment."""
    data = event.data
    actor = f"provider:{provider}"

    def effect(session: Session) -> tuple[str, str | None, dict[str, Any]]:
        payment = session.scalar(select(Payment).where(Payment.order_id == data.order_id))
        if payment is None:
            raise InvalidInput(f"order {data.order_id} has no payment (or does not exist)", field="data.order_id")
        if payment.provider != provider:
            raise InvalidInput(f"order {data.order_id} is not paid through {provider}", field="data.order_id")
        if data.currency != payment.currency:
            raise InvalidInput(f"currency {data.currency} differs from the payment's {payment.currency}",
                               field="data.currency")
        touched = {"order_id": data.order_id}
        if event.type in ("payment.authorized", "payment.captured", "payment.failed"):
            if event.type != "payment.failed" and data.amount != payment.amount:
                raise InvalidInput(f"amount {data.amount} differs from the payment's {payment.amount}",
                                   field="data.amount")
            changed = _authorization(session, event, payment.status, actor)
        else:
            changed = payments.record_refund(
                session, data.order_id, data.amount, ProviderResult("approved", data.provider_ref, data.reason),
                actor=actor, reason=data.reason or "refunded at the provider", reference=_refund_reference(event),
            )
        if changed:
            return "applied", None, touched
        status = session.scalar(select(Payment.status).where(Payment.order_id == data.order_id))
        return "ignored", f"the payment is already {status}", touched

    with access.acting_as(access.Principal(actor, "system")):
        return apply_once(store, f"payments:{provider}", event.id, event.type, event.created_at, effect)


def _authorization(session: Session, event: ProviderEvent, status: str, actor: str) -> bool:
    data = event.data
    if event.type == "payment.failed":
        result = ProviderResult("declined", data.provider_ref, data.reason or "declined by the provider")
        return payments.settle_authorization(session, data.order_id, result, actor=actor)
    result = ProviderResult("approved", data.provider_ref, "approved (provider webhook)")
    capture = event.type == "payment.captured"
    if status == "pending":
        return payments.settle_authorization(session, data.order_id, result, actor=actor, capture=capture)
    if capture:
        return payments.record_capture(session, data.order_id, result, actor=actor)
    return False


def _refund_reference(event: ProviderEvent) -> str:
    """The reference a refund is recorded under: ours when we asked for it (the provider echoes
    our idempotency key ``...-refund:<reference>``), else the provider's refund id."""
    key = event.data.idempotency_key or ""
    if "-refund:" in key:
        return key.split("-refund:", 1)[1]
    if not event.data.refund_id:
        raise InvalidInput("a refund event needs data.refund_id or data.idempotency_key", field="data.refund_id")
    return f"provider:{event.data.refund_id}"


def apply_carrier_event(store: Store, carrier: str, event: CarrierEvent) -> dict[str, Any]:
    """Add a carrier's tracking event to the parcel's timeline (placed by the carrier's event time)."""
    shipping.check_tracking_status(event.status)
    actor = f"carrier:{carrier}"

    def effect(session: Session) -> tuple[str, str | None, dict[str, Any]]:
        owner = session.scalar(select(Carrier.code).join(Shipment, Shipment.carrier_id == Carrier.id)
                               .where(Shipment.tracking_number == event.tracking_number))
        if owner is None:
            raise NotFound(f"no shipment with tracking number {event.tracking_number!r}", field="tracking_number")
        if owner != carrier:
            raise InvalidInput(f"tracking number {event.tracking_number!r} is not a {carrier} parcel",
                               field="tracking_number")
        shipment_id = shipping.track(session, event.tracking_number, event.status, event.occurred_at,
                                     location=event.location, description=event.description, actor=actor)
        return "applied", None, {"shipment_id": shipment_id}

    with access.acting_as(access.Principal(actor, "system")):
        return apply_once(store, f"carrier:{carrier}", event.id, event.status, event.occurred_at, effect)
