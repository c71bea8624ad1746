"""Payment-provider and carrier webhooks over the real app, on both backends: signed with HMAC
over the raw body within a timestamp tolerance, each event applied once (also when two
deliveries race), out-of-order events placed by their own time."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from ops_store.db import Store
from ops_store.models import InboundEvent, PaymentTransaction, RejectedRequest
from ops_store.services import orders, payments, shipping, stock
from ops_store.types import utcnow
from tests.api_support import client, signed
from tests.factories import make_shop, order_doc


def _payment_event(order: dict[str, Any], kind: str, **data: Any) -> dict[str, Any]:
    return {
        "id": f"evt_{uuid.uuid4().hex[:12]}", "type": f"payment.{kind}", "created_at": utcnow().isoformat(),
        "data": {"order_id": order["order_id"], "amount": str(order["total"]), "currency": order["currency"],
                 **data},
    }


def _post_payment(api, event: dict[str, Any], **kw: Any):  # type: ignore[no-untyped-def]
    body, headers = signed(event, "payment_webhook_secret", **kw)
    return api.post("/v1/webhooks/payments/fake", content=body, headers=headers)


def _post_tracking(api, event: dict[str, Any], carrier: str = "FAST"):  # type: ignore[no-untyped-def]
    body, headers = signed(event, "carrier_webhook_secret")
    return api.post(f"/v1/webhooks/carriers/{carrier}", content=body, headers=headers)


def _reserved(store: Store, sku: str) -> int:
    return sum(r["reserved"] for r in stock.stock_show(store, sku))


def _transactions(store: Store) -> int:
    with store.read() as session:
        return session.scalar(select(func.count()).select_from(PaymentTransaction))


def test_a_provider_event_settles_a_pending_payment_once(store: Store):
    make_shop(store)
    # The provider timed out when the order was placed: the payment stays pending.
    order = orders.place_order(store, order_doc("W-1", [("SKU-1", 2)], token="tok_timeout_1"))
    assert order["payment"]["status"] == "pending" and order["status"] == "placed"
    api = client(store)
    event = _payment_event(order, "authorized", provider_ref="fake_abc")

    first = _post_payment(api, event)
    assert first.status_code == 200, first.text
    assert first.json() == {"event_id": event["id"], "outcome": "applied", "note": None,
                            "order_id": order["order_id"], "shipment_id": None}
    after = orders.get_order(store, order["order_id"])
    assert (after["status"], after["payment"]["status"]) == ("paid", "authorized")
    count = _transactions(store)

    again = _post_payment(api, event)  # the provider retries the same event
    assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
    assert _transactions(store) == count
    with store.read() as session:
        assert session.scalar(select(func.count()).select_from(InboundEvent)) == 1


def test_capture_refund_and_out_of_order_events(store: Store):
    make_shop(store)
    order = orders.place_order(store, order_doc("W-2", [("SKU-1", 1)], token="tok_timeout_2"))
    api = client(store)
    # The capture overtakes the authorisation: the capture applies, the late authorisation is ignored.
    assert _post_payment(api, _payment_event(order, "captured", provider_ref="fake_x")).json()["outcome"] == "applied"
    late = _post_payment(api, _payment_event(order, "authorized", provider_ref="fake_x")).json()
    assert late["outcome"] == "ignored" and "captured" in late["note"]
    view = payments.payment_view(store, order["order_id"])
    assert (view["status"], view["captured"]) == ("captured", order["total"])

    # A refund made at the provider's dashboard, then the same refund delivered again under a new
    # event id (the refund id is the same): recorded once.
    refund = _payment_event(order, "refunded", refund_id="re_1", amount="3.00")
    assert _post_payment(api, refund).json()["outcome"] == "applied"
    replay = {**refund, "id": "evt_other"}
    assert _post_payment(api, replay).json()["outcome"] == "ignored"
    view = payments.payment_view(store, order["order_id"])
    assert (view["status"], view["refunded"]) == ("partially_refunded", Decimal("3.00"))

    # A refund we asked for: the provider echoes our idempotency key, so its webhook finds our record.
    ours = payments.refund_payment(store, order["order_id"], "2.00", reference="goodwill-7")
    assert ours["refunded"] == Decimal("5.00")
    echoed = _payment_event(order, "refunded", refund_id="re_2", amount="2.00",
                            idempotency_key="pay-1-0.0-refund:goodwill-7")
    assert _post_payment(api, echoed).json()["outcome"] == "ignored"
    assert payments.payment_view(store, order["order_id"])["refunded"] == Decimal("5.00")


def test_a_failed_payment_cancels_the_order_and_frees_its_stock(store: Store):
    make_shop(store)
    order = orders.place_order(store, order_doc("W-3", [("SKU-2", 4)], token="tok_timeout_3"))
    assert _reserved(store, "SKU-2") == 4
    result = _post_payment(client(store), _payment_event(order, "failed", reason="card expired"))
    assert result.json()["outcome"] == "applied"
    after = orders.get_order(store, order["order_id"])
    assert (after["status"], after["payment"]["status"], after["payment"]["failure_reason"]) == (
        "cancelled", "failed", "card expired")
    assert _reserved(store, "SKU-2") == 0


def test_signatures_are_checked_and_refused_events_change_nothing(store: Store):
    make_shop(store)
    order = orders.place_order(store, order_doc("W-4", [("SKU-1", 1)], token="tok_timeout_4"))
    api = client(store)
    event = _payment_event(order, "authorized", provider_ref="fake_q")
    body, headers = signed(event, "payment_webhook_secret")

    tampered = body.replace(b"payment.authorized", b"payment.captured")
    assert tampered != body
    refused = api.post("/v1/webhooks/payments/fake", content=tampered, headers=headers)
    assert refused.status_code == 401 and refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "signature_invalid" and refused.json()["field"] == "Webhook-Signature"

    unsigned = api.post("/v1/webhooks/payments/fake", content=body, headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 401

    # A captured delivery replayed an hour later is outside the 5-minute tolerance.
    stale = _post_payment(api, event, at=int(time.time()) - 3600)
    assert stale.status_code == 401

    forged = api.post("/v1/webhooks/payments/fake", content=body,
                      headers={**headers, "Webhook-Signature": headers["Webhook-Signature"][:-4] + "0000"})
    assert forged.status_code == 401
    assert orders.get_order(store, order["order_id"])["payment"]["status"] == "pending"

    # Signed but wrong: an amount that is not the payment's is refused naming the field, and kept.
    wrong = _post_payment(api, _payment_event(order, "authorized", amount="1.00"))
    assert wrong.status_code == 422 and wrong.json()["field"] == "data.amount"
    unknown = _post_payment(api, {**_payment_event(order, "authorized"), "data": {
        "order_id": 999_999, "amount": "1.00", "currency": "USD"}})
    assert unknown.status_code == 422 and unknown.json()["field"] == "data.order_id"
    missing = _post_payment(api, {"id": "evt_1", "type": "payment.teleported", "created_at": utcnow().isoformat(),
                                  "data": {}})
    assert missing.status_code == 422 and missing.json()["field"] == "type"
    assert api.post("/v1/webhooks/payments/acme", content=body, headers=headers).status_code == 404
    with store.read() as session:
        kept = {r.field for r in session.scalars(select(RejectedRequest))}
        assert session.scalar(select(func.count()).select_from(InboundEvent)) == 0
    assert {"data.amount", "data.order_id", "type"} <= kept
    assert orders.get_order(store, order["order_id"])["payment"]["status"] == "pending"


def test_two_deliveries_of_one_event_racing_apply_it_once(store: Store):
    make_shop(store)
    order = orders.place_order(store, order_doc("W-5", [("SKU-1", 1)], token="tok_timeout_5"))
    event = _payment_event(order, "captured", provider_ref="fake_r")
    api = client(store)
    answers: list[str] = []
    barrier = threading.Barrier(4)

    def deliver() -> None:
        barrier.wait()
        answers.append(_post_payment(api, event).json()["outcome"])

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == ["applied", "duplicate", "duplicate", "duplicate"]
    view = payments.payment_view(store, order["order_id"])
    # the provider's timeout at placing, then one sale (authorised and captured), not four
    assert [(t["kind"], t["outcome"]) for t in view["transactions"]] == [("authorize", "error"), ("sale", "approved")]
    assert view["captured"] == order["total"]


def _shipped(store: Store, ref: str) -> tuple[int, str]:
    order = orders.place_order(store, order_doc(ref, [("SKU-1", 1)], method="cash_on_delivery"))
    orders.allocate_order(store, order["order_id"])
    parcel = shipping.ship_order(store, order["order_id"])["shipments"][0]
    return order["order_id"], parcel["tracking_number"]


def _tracking(number: str, status: str, at, event_id: str | None = None) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {"id": event_id or f"trk_{uuid.uuid4().hex[:12]}", "tracking_number": number, "status": status,
            "occurred_at": at.isoformat(), "location": "hub", "description": status.replace("_", " ")}


def test_carrier_events_are_deduplicated_and_ordered_by_event_time(store: Store):
    make_shop(store)
    order_id, number = _shipped(store, "W-6")
    api = client(store)
    start = utcnow()
    in_transit = _tracking(number, "in_transit", start + timedelta(hours=2))
    assert _post_tracking(api, in_transit).json()["outcome"] == "applied"
    # An older event arrives late: it joins the timeline in its place, the parcel stays in transit.
    picked = _tracking(number, "picked_up", start + timedelta(hours=1))
    assert _post_tracking(api, picked).json()["outcome"] == "applied"
    assert _post_tracking(api, in_transit).json()["outcome"] == "duplicate"
    view = shipping.find_shipment(store, number)
    assert view["status"] == "in_transit"
    assert [e["status"] for e in view["timeline"]] == ["label_created", "picked_up", "in_transit"]

    delivered = _tracking(number, "delivered", start + timedelta(hours=30))
    answer = _post_tracking(api, delivered).json()
    assert answer["outcome"] == "applied" and answer["shipment_id"] == view["shipment_id"]
    after = orders.get_order(store, order_id)
    assert after["status"] == "delivered" and after["payment"]["status"] == "captured"  # cash collected
    # A late "out for delivery" does not undo the delivery.
    _post_tracking(api, _tracking(number, "out_for_delivery", start + timedelta(hours=29)))
    assert shipping.find_shipment(store, number)["status"] == "delivered"


def test_carrier_events_are_checked(store: Store):
    make_shop(store)
    from ops_store.services import catalog

    catalog.add_carrier(store, "SLOW", "Slow Co")
    _, number = _shipped(store, "W-7")
    api = client(store)
    event = _tracking(number, "in_transit", utcnow())
    assert _post_tracking(api, event, carrier="SLOW").json()["field"] == "tracking_number"  # not its parcel
    assert _post_tracking(api, event, carrier="NOPE").status_code == 404
    unknown = _post_tracking(api, _tracking("FAST000000000000", "in_transit", utcnow()))
    assert unknown.status_code == 404 and unknown.json()["field"] == "tracking_number"
    naive = {**event, "occurred_at": "2026-12-01T10:00:00"}
    assert _post_tracking(api, naive).json()["field"] == "occurred_at"
    body, headers = signed(event, "payment_webhook_secret")  # signed with the wrong party's secret
    assert api.post("/v1/webhooks/carriers/FAST", content=body, headers=headers).status_code == 401
    assert [e["status"] for e in shipping.find_shipment(store, number)["timeline"]] == ["label_created"]


@pytest.mark.parametrize("kind", ["authorized"])
def test_webhooks_need_no_api_key_but_orders_do(store: Store, kind: str):
    make_shop(store)
    order = orders.place_order(store, order_doc("W-8", [("SKU-1", 1)], token="tok_timeout_8"))
    api = client(store)
    assert _post_payment(api, _payment_event(order, kind)).status_code == 200
    assert api.get(f"/v1/orders/{order['order_id']}").status_code == 401
