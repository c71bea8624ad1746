"""Payments: authorise, capture, confirm a bank transfer, refund, void.

The provider is called outside any database transaction; its answer is then recorded (with the
order locked first, then the payment) and the payment moves only along these edges:
pending -> authorized | captured | failed | voided; authorized -> captured | voided;
captured -> partially_refunded | refunded; partially_refunded -> partially_refunded | refunded.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ops_store.db import Store
from ops_store.errors import IllegalTransition, InvalidInput, NotFound, PaymentDeclined, ProviderUnavailable
from ops_store.models import Order, Payment, PaymentTransaction
from ops_store.payments.provider import PaymentProvider, ProviderResult, get_provider
from ops_store.security import access, audit
from ops_store.services import order_states
from ops_store.services.common import parse_decimal

EDGES: dict[str, frozenset[str]] = {
    "pending": frozenset({"authorized", "captured", "failed", "voided"}),
    "authorized": frozenset({"captured", "voided"}),
    "captured": frozenset({"partially_refunded", "refunded"}),
    "partially_refunded": frozenset({"partially_refunded", "refunded"}),
    "failed": frozenset(),
    "voided": frozenset(),
    "refunded": frozenset(),
}


def lock_payment(session: Session, order_id: int) -> tuple[Order, Payment]:
    order = session.scalar(select(Order).where(Order.id == order_id).with_for_update())
    if order is None:
        raise NotFound(f"order {order_id} does not exist", field="order_id")
    payment = session.scalar(select(Payment).where(Payment.order_id == order_id).with_for_update())
    if payment is None:
        raise NotFound(f"order {order_id} has no payment", field="order_id")
    return order, payment


def _peek(store: Store, order_id: int, permission: str | None = "orders.write") -> Payment:
    """The order's payment, after checking the caller holds ``permission`` for its merchant."""
    with store.read() as session:
        payment = session.scalar(select(Payment).where(Payment.order_id == order_id))
        merchant_id = session.scalar(select(Order.merchant_id).where(Order.id == order_id))
        if payment is None or (access.merchant_scope() not in (None, merchant_id)):
            raise NotFound(f"order {order_id} has no payment (or does not exist)", field="order_id")
    if permission is not None:
        access.require(permission, merchant_id=merchant_id)
    return payment


def move_payment(
    session: Session, payment: Payment, target: str, *, kind: str, amount: Decimal, result: ProviderResult | None,
    actor: str, reference: str | None = None,
) -> None:
    if target not in EDGES[payment.status]:
        raise IllegalTransition(
            f"payment of order {payment.order_id} is {payment.status}; it cannot become {target}", field="status"
        )
    session.add(PaymentTransaction(
        payment_id=payment.id, kind=kind, amount=amount, outcome=result.outcome if result else "approved",
        from_status=payment.status, to_status=target, provider_ref=result.provider_ref if result else None,
        message=result.message if result else None, actor=actor, reference=reference,
    ))
    payment.status = target


def _record_error(store: Store, payment_id: int, kind: str, amount: Decimal, result: ProviderResult,
                  actor: str) -> None:
    with store.write() as session:
        payment = session.get(Payment, payment_id)
        assert payment is not None
        session.add(PaymentTransaction(
            payment_id=payment.id, kind=kind, amount=amount, outcome=result.outcome, from_status=payment.status,
            to_status=payment.status, provider_ref=result.provider_ref, message=result.message, actor=actor,
        ))


def idempotency_key(payment: Payment, purpose: str) -> str:
    """Stable for one payment and purpose (a retry replays), unique across stores and resets."""
    return f"pay-{payment.id}-{payment.created_at.timestamp():.6f}-{purpose}"


def _provider(payment: Payment, provider: PaymentProvider | None) -> PaymentProvider:
    return provider or get_provider(payment.provider)


def authorize_payment(
    store: Store, order_id: int, *, actor: str = "system", provider: PaymentProvider | None = None,
    raise_on_error: bool = True, view: bool = True,
) -> dict[str, Any]:
    """Authorise a card (capture comes at shipping) or charge an e-wallet at once. Approved: the
    order becomes paid. Declined: the payment fails and the order is cancelled, freeing its stock.
    Provider unreachable: the payment stays pending, to be retried."""
    payment = _peek(store, order_id)
    if payment.method not in ("card", "e_wallet"):
        raise InvalidInput(f"{payment.method} payments are not authorised online", field="method")
    if payment.status != "pending":
        raise IllegalTransition(f"payment of order {order_id} is already {payment.status}", field="status")
    if payment.amount == 0:  # points or a coupon paid for everything: nothing to charge
        result = ProviderResult("approved", None, "nothing to charge")
    else:
        prov = _provider(payment, provider)
        key = idempotency_key(payment, "authorize")
        call = prov.sale if payment.method == "e_wallet" else prov.authorize
        result = call(payment.provider_token or "", payment.amount, payment.currency, key)
    if result.outcome == "error":
        _record_error(store, payment.id, "authorize", payment.amount, result, actor)
        if raise_on_error:
            raise ProviderUnavailable(
                f"the payment provider did not answer ({result.message}); retry with "
                f"`ecom payment authorize {order_id}`", field="payment",
            )
        return payment_view(store, order_id) if view else {}

    store.run_write(lambda session: settle_authorization(session, order_id, result, actor=actor))
    return payment_view(store, order_id) if view else {}


def settle_authorization(session: Session, order_id: int, result: ProviderResult, *, actor: str,
                         capture: bool | None = None) -> bool:
    """Record the provider's answer to an authorisation (from its reply or its webhook). Approved:
    authorised (captured for e-wallets, or when ``capture``) and the order becomes paid. Declined:
    the payment fails and a placed order is cancelled, freeing its stock. False when the payment
    was no longer pending (settled meanwhile), so nothing changed."""
    order, pay = lock_payment(session, order_id)
    if pay.status != "pending":
        return False
    kind = "sale" if pay.method == "e_wallet" or capture else "authorize"  # sale: authorised and captured at once
    if result.outcome == "approved":
        pay.provider_ref = result.provider_ref or pay.provider_ref
        captured = capture if capture is not None else (pay.method == "e_wallet" or pay.amount == 0)
        target = "captured" if captured else "authorized"
        move_payment(session, pay, target, kind=kind, amount=pay.amount, result=result, actor=actor)
        if target == "captured":
            pay.captured_amount = pay.amount
        if order.status == "placed":
            order_states.move(session, order, "paid", actor=actor, note=f"payment {target}")
    else:
        pay.failure_reason = result.message
        move_payment(session, pay, "failed", kind=kind, amount=pay.amount, result=result, actor=actor)
        if order.status == "placed":
            from ops_store.services.orders import release_reservations

            order_states.move(session, order, "cancelled", actor=actor, note="payment declined")
            release_reservations(session, order.id)
    return True


def capture_payment(
    store: Store, order_id: int, *, actor: str = "system", provider: PaymentProvider | None = None,
) -> dict[str, Any]:
    """Capture an authorised card payment in full (done automatically when the order ships)."""
    payment = _peek(store, order_id)
    if payment.status != "authorized":
        raise IllegalTransition(f"payment of order {order_id} is {payment.status}, not authorized", field="status")
    result = _provider(payment, provider).capture(payment.provider_ref or "", payment.amount)
    if result.outcome != "approved":
        _record_error(store, payment.id, "capture", payment.amount, result, actor)
        raise (ProviderUnavailable if result.outcome == "error" else PaymentDeclined)(
            f"capture of order {order_id} was not approved: {result.message}", field="payment"
        )

    store.run_write(lambda session: record_capture(session, order_id, result, actor=actor))
    return payment_view(store, order_id)


def record_capture(session: Session, order_id: int, result: ProviderResult, *, actor: str) -> bool:
    """An authorised payment was captured in full; False if it was not (or no longer) authorised."""
    _order, pay = lock_payment(session, order_id)
    if pay.status != "authorized":
        return False
    move_payment(session, pay, "captured", kind="capture", amount=pay.amount, result=result, actor=actor)
    pay.captured_amount = pay.amount
    return True


def confirm_transfer(store: Store, order_id: int, *, amount: Any = None, actor: str = "system") -> dict[str, Any]:
    """A bank transfer arrived: the payment is captured and the order becomes paid."""
    _peek(store, order_id)

    def work(session: Session) -> None:
        order, pay = lock_payment(session, order_id)
        if pay.method != "bank_transfer":
            raise InvalidInput(f"order {order_id} is paid by {pay.method}, not bank_transfer", field="method")
        received = pay.amount if amount is None else parse_decimal(amount, "amount")
        if received != pay.amount:
            raise InvalidInput(f"the transfer of {received} does not match the amount due {pay.amount}",
                               field="amount")
        move_payment(session, pay, "captured", kind="capture", amount=received, result=None, actor=actor)
        pay.captured_amount = received
        order_states.move(session, order, "paid", actor=actor, note="bank transfer received")

    store.run_write(work)
    return payment_view(store, order_id)


def collect_cash_on_delivery(session: Session, order_id: int, *, actor: str) -> None:
    """Inside the delivery's unit of work: the carrier collected the amount due."""
    pay = session.scalar(select(Payment).where(Payment.order_id == order_id).with_for_update())
    if pay is not None and pay.method == "cash_on_delivery" and pay.status == "pending":
        move_payment(session, pay, "captured", kind="capture", amount=pay.amount, result=None, actor=actor)
        pay.captured_amount = pay.amount


def refund_payment(
    store: Store, order_id: int, amount: Any, *, actor: str = "system", reason: str | None = None,
    provider: PaymentProvider | None = None, reference: str | None = None,
) -> dict[str, Any]:
    """Refund part or all of what was captured, never more (needs the payments.refund permission;
    audited). A full refund of a delivered, completed or returned order moves the order to
    refunded. With a ``reference`` (what the refund is for) a retry after a crash is not paid
    twice: a refund already recorded under it is returned, and the provider replays its answer
    for the same idempotency key."""
    _peek(store, order_id, "payments.refund")
    return _refund(store, order_id, amount, actor=actor, reason=reason, provider=provider, reference=reference,
                   audited=True)


def _refund(
    store: Store, order_id: int, amount: Any, *, actor: str, reason: str | None, provider: PaymentProvider | None,
    reference: str | None, audited: bool = False,
) -> dict[str, Any]:
    value = parse_decimal(amount, "amount")
    if value <= 0:
        raise InvalidInput("refund amount must be positive", field="amount")
    payment = _peek(store, order_id, None)
    if reference is not None and _already_refunded(store, payment.id, reference):
        return payment_view(store, order_id)
    _check_refundable(payment, value)
    key = idempotency_key(payment, f"refund:{reference or uuid.uuid4().hex}")
    if payment.method in ("card", "e_wallet"):
        result = _provider(payment, provider).refund(payment.provider_ref or "", value, key)
        if result.outcome != "approved":
            _record_error(store, payment.id, "refund", value, result, actor)
            raise (ProviderUnavailable if result.outcome == "error" else PaymentDeclined)(
                f"refund for order {order_id} was not approved: {result.message}", field="amount"
            )
    else:
        result = ProviderResult("approved", None, reason or "refunded by transfer")

    def work(session: Session) -> None:
        recorded = record_refund(session, order_id, value, result, actor=actor, reason=reason, reference=reference)
        if recorded and audited:
            audit.record(session, "payments.refund", target_type="order", target_id=order_id,
                         details={"amount": value, "reference": reference, "reason": reason})

    store.run_write(work)
    return payment_view(store, order_id)


def record_refund(session: Session, order_id: int, value: Decimal, result: ProviderResult, *, actor: str,
                  reason: str | None, reference: str | None) -> bool:
    """Record a refund the provider approved (never more than is still refundable). A full refund
    of a delivered, completed or returned order moves the order to refunded. False when a refund
    under ``reference`` was already recorded."""
    order, pay = lock_payment(session, order_id)
    if reference is not None and _refund_recorded(session, pay.id, reference):
        return False  # a concurrent retry (or the provider's webhook) recorded it first
    _check_refundable(pay, value)
    refunded = pay.refunded_amount + value
    target = "refunded" if refunded == pay.captured_amount else "partially_refunded"
    move_payment(session, pay, target, kind="refund", amount=value, result=result, actor=actor, reference=reference)
    pay.refunded_amount = refunded
    if target == "refunded" and order.status in ("delivered", "completed", "returned"):
        order_states.move(session, order, "refunded", actor=actor, note=reason)
    return True


def _refund_recorded(session: Session, payment_id: int, reference: str) -> bool:
    return session.scalar(
        select(PaymentTransaction.id).where(
            PaymentTransaction.payment_id == payment_id, PaymentTransaction.kind == "refund",
            PaymentTransaction.outcome == "approved", PaymentTransaction.reference == reference,
        ).limit(1)
    ) is not None


def _already_refunded(store: Store, payment_id: int, reference: str) -> bool:
    with store.read() as session:
        return _refund_recorded(session, payment_id, reference)


def _check_refundable(payment: Payment, value: Decimal) -> None:
    if payment.status not in ("captured", "partially_refunded"):
        raise IllegalTransition(
            f"payment of order {payment.order_id} is {payment.status}; only captured payments can be refunded",
            field="status",
        )
    left = payment.captured_amount - payment.refunded_amount
    if value > left:
        raise InvalidInput(f"refund of {value} exceeds the {left} still refundable", field="amount")


def settle_cancelled(store: Store, order_id: int, *, actor: str = "system",
                     provider: PaymentProvider | None = None) -> None:
    """After a cancellation: void an authorisation, refund a capture, close a pending payment."""
    payment = _peek(store, order_id, None)  # settling a cancellation is part of the cancel
    if payment.status == "captured":
        _refund(store, order_id, payment.captured_amount, actor=actor, reason="order cancelled",
                provider=provider, reference="cancel")
        return
    if payment.status not in ("pending", "authorized"):
        return
    result = None
    if payment.status == "authorized":
        result = _provider(payment, provider).void(payment.provider_ref or "")
        if result.outcome != "approved":
            _record_error(store, payment.id, "void", payment.amount, result, actor)
            return

    def work(session: Session) -> None:
        _order, pay = lock_payment(session, order_id)
        if pay.status in ("pending", "authorized"):
            move_payment(session, pay, "voided", kind="void", amount=pay.amount, result=result, actor=actor)

    store.run_write(work)


def payment_view(store: Store, order_id: int) -> dict[str, Any]:
    _peek(store, order_id, "orders.read")
    with store.read() as session:
        pay = session.scalar(select(Payment).where(Payment.order_id == order_id))
        if pay is None:
            raise NotFound(f"order {order_id} has no payment", field="order_id")
        txs = session.scalars(
            select(PaymentTransaction).where(PaymentTransaction.payment_id == pay.id).order_by(PaymentTransaction.id)
        )
        return {
            "order_id": order_id, "method": pay.method, "status": pay.status, "amount": pay.amount,
            "currency": pay.currency, "captured": pay.captured_amount, "refunded": pay.refunded_amount,
            "brand": pay.card_brand, "last4": pay.card_last4, "failure_reason": pay.failure_reason,
            "transactions": [
                {"at": t.created_at, "kind": t.kind, "amount": t.amount, "outcome": t.outcome,
                 "from": t.from_status, "to": t.to_status, "message": t.message}
                for t in txs
            ],
        }
