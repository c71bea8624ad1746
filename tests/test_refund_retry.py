"""A refund retried after a crash is not paid twice (reference + provider idempotency key)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from ops_store.models import Payment
from ops_store.payments.provider import FakeProvider, register_provider
from ops_store.services import orders, payments, returns, shipping
from tests.factories import order_doc


def _delivered_order(store) -> int:  # type: ignore[no-untyped-def]
    order = orders.place_order(store, order_doc("RR-1", [("SKU-1", 2)]))
    orders.allocate_order(store, order["order_id"])
    shipped = shipping.ship_order(store, order["order_id"])
    shipping.record_tracking_event(store, shipped["shipments"][0]["tracking_number"], "delivered")
    return order["order_id"]


def test_refund_retried_with_same_reference_is_recorded_once(shop):
    provider = FakeProvider()
    register_provider(provider)
    order_id = _delivered_order(shop.store)
    payments.refund_payment(shop.store, order_id, "3.00", reference="goodwill:1")
    again = payments.refund_payment(shop.store, order_id, "3.00", reference="goodwill:1")
    assert again["refunded"] == Decimal("3.00")
    assert [t["kind"] for t in again["transactions"]].count("refund") == 1


def test_crash_between_provider_refund_and_recording_does_not_refund_twice(shop):
    provider = FakeProvider()
    register_provider(provider)
    store = shop.store
    order_id = _delivered_order(store)
    ret = returns.request_return(store, order_id, sku="SKU-1", qty=1, reason="too big")
    returns.approve_return(store, ret["return_id"])
    returns.receive_return(store, ret["return_id"], qty=1, condition="as new", disposition="restock")
    pay = payments.payment_view(store, order_id)
    # The provider refunded, then the process died before the store recorded it.
    with store.read() as session:
        payment = session.scalar(select(Payment).where(Payment.order_id == order_id))
    key = payments.idempotency_key(payment, f"refund:return:{ret['return_id']}")
    first = provider.refund(payment.provider_ref, Decimal("9.99"), key)
    assert first.outcome == "approved"
    done = returns.refund_return(store, ret["return_id"])  # the operator retries
    assert done["status"] == "refunded" and done["refund_amount"] == Decimal("9.99")
    after = payments.payment_view(store, order_id)
    assert after["refunded"] == Decimal("9.99")
    assert provider._refunded[payment.provider_ref] == Decimal("9.99")  # paid out once, not twice
    assert pay["captured"] == after["captured"]
