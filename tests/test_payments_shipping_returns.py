"""Payments by method, shipping (costs, parcels, tracking) and returns with refunds."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from ops_store.db import Store
from ops_store.errors import IllegalTransition, InvalidInput, NotFound, ProviderUnavailable
from ops_store.models import OrderLine, Shipment, ShipmentLine
from ops_store.payments.provider import FakeProvider, ProviderResult, register_provider
from ops_store.services import orders, payments, returns, shipping, stock
from ops_store.types import utcnow
from tests.factories import order_doc

D = Decimal


class RecoveredProvider(FakeProvider):
    """The provider is reachable again: a token that timed out before is now approved."""

    def authorize(self, token: str, amount: Decimal, currency: str, idempotency_key: str) -> ProviderResult:
        return super().authorize(token.replace("tok_timeout", "tok_ok"), amount, currency, idempotency_key)


def _level(store: Store, sku: str, wh: str) -> tuple[int, int]:
    row = next(r for r in stock.stock_show(store, sku) if r["warehouse"] == wh)
    return row["on_hand"], row["reserved"]


def _reserved_total(store: Store) -> int:
    return sum(r["reserved"] for r in stock.stock_show(store))


def _place(store: Store, ref: str, lines: list[tuple[str, int]], **kw: Any) -> dict[str, Any]:
    return orders.place_order(store, order_doc(ref, lines, **kw))


def _ship(store: Store, order_id: int) -> dict[str, Any]:
    orders.allocate_order(store, order_id)
    return shipping.ship_order(store, order_id)


def _deliver(store: Store, order_id: int) -> dict[str, Any]:
    for parcel in orders.get_order(store, order_id)["shipments"]:
        shipping.record_tracking_event(store, parcel["tracking_number"], "delivered")
    return orders.get_order(store, order_id)


def _delivered_order(store: Store, ref: str, lines: list[tuple[str, int]], **kw: Any) -> dict[str, Any]:
    oid = _place(store, ref, lines, **kw)["order_id"]
    _ship(store, oid)
    view = _deliver(store, oid)
    assert view["status"] == "delivered"
    return view


# --------------------------------------------------------------------------- payments by method


def test_card_is_authorised_at_placing_and_captured_on_shipping(shop) -> None:
    store = shop.store
    placed = _place(store, "P-1", [("SKU-1", 2)])
    assert placed["status"] == "paid"
    assert placed["payment"]["method"] == "card"
    assert placed["payment"]["status"] == "authorized"
    assert placed["payment"]["captured"] == D("0.00")
    assert placed["payment"]["brand"] == "visa"
    assert placed["payment"]["last4"] == "4242"
    oid = placed["order_id"]

    orders.allocate_order(store, oid)
    assert payments.payment_view(store, oid)["status"] == "authorized"  # not captured before shipping
    shipped = shipping.ship_order(store, oid)
    assert shipped["status"] == "shipped"
    pay = payments.payment_view(store, oid)
    assert pay["status"] == "captured"
    assert pay["captured"] == pay["amount"] == placed["total"] == D("24.88")
    assert [(t["kind"], t["outcome"], t["from"], t["to"]) for t in pay["transactions"]] == [
        ("authorize", "approved", "pending", "authorized"),
        ("capture", "approved", "authorized", "captured"),
    ]


def test_declined_card_fails_the_payment_cancels_the_order_and_frees_stock(shop) -> None:
    store = shop.store
    placed = _place(store, "P-2", [("SKU-1", 12), ("SKU-2", 1)], token="tok_decline_funds")
    assert placed["status"] == "cancelled"
    assert placed["payment"]["status"] == "failed"
    assert placed["payment"]["failure_reason"] == "insufficient funds"
    assert _reserved_total(store) == 0
    assert {a["status"] for ln in placed["lines"] for a in ln["allocations"]} == {"released"}
    assert [(e["from"], e["to"]) for e in placed["events"]] == [(None, "placed"), ("placed", "cancelled")]
    assert placed["events"][-1]["note"] == "payment declined"
    pay = payments.payment_view(store, placed["order_id"])
    assert [(t["kind"], t["outcome"], t["to"]) for t in pay["transactions"]] == [("authorize", "declined", "failed")]
    # The freed units can be sold again.
    assert _place(store, "P-3", [("SKU-1", 15)])["status"] == "paid"


def test_provider_timeout_leaves_the_payment_pending_and_a_retry_works(shop) -> None:
    store = shop.store
    placed = _place(store, "P-4", [("SKU-1", 2)], token="tok_timeout_slow")
    oid = placed["order_id"]
    assert placed["status"] == "placed"
    assert placed["payment"]["status"] == "pending"
    assert _level(store, "SKU-1", "W1") == (10, 2)  # still reserved while the payment is open
    pay = payments.payment_view(store, oid)
    assert [(t["kind"], t["outcome"], t["from"], t["to"]) for t in pay["transactions"]] == [
        ("authorize", "error", "pending", "pending"),
    ]

    with pytest.raises(ProviderUnavailable):
        payments.authorize_payment(store, oid)  # still not answering
    assert orders.get_order(store, oid)["status"] == "placed"

    register_provider(RecoveredProvider())
    retried = payments.authorize_payment(store, oid, actor="ops:retry")
    assert retried["status"] == "authorized"
    view = orders.get_order(store, oid)
    assert view["status"] == "paid"
    assert view["events"][-1]["actor"] == "ops:retry"
    assert [t["outcome"] for t in retried["transactions"]] == ["error", "error", "approved"]
    with pytest.raises(IllegalTransition):
        payments.authorize_payment(store, oid)  # authorised once only
    assert _ship(store, oid)["status"] == "shipped"
    assert payments.payment_view(store, oid)["status"] == "captured"


def test_e_wallet_is_captured_at_once(shop) -> None:
    store = shop.store
    placed = _place(store, "P-5", [("SKU-3", 1)], method="e_wallet", token="wallet_abc")
    assert placed["status"] == "paid"
    assert placed["payment"]["status"] == "captured"
    assert placed["payment"]["captured"] == placed["total"] == D("44.90")
    pay = payments.payment_view(store, placed["order_id"])
    assert [(t["kind"], t["to"]) for t in pay["transactions"]] == [("sale", "captured")]
    _ship(store, placed["order_id"])
    assert [t["kind"] for t in payments.payment_view(store, placed["order_id"])["transactions"]] == ["sale"]


def test_bank_transfer_waits_for_the_money(shop) -> None:
    store = shop.store
    placed = _place(store, "P-6", [("SKU-2", 2)], method="bank_transfer")
    oid = placed["order_id"]
    assert placed["status"] == "placed"
    assert placed["payment"]["status"] == "pending"
    assert _level(store, "SKU-2", "W1") == (10, 2)
    with pytest.raises(IllegalTransition):
        orders.allocate_order(store, oid)
    with pytest.raises(InvalidInput) as err:
        payments.confirm_transfer(store, oid, amount="30.00")  # 30.00 + 4.90 shipping is due
    assert err.value.field == "amount"
    assert payments.payment_view(store, oid)["status"] == "pending"

    confirmed = payments.confirm_transfer(store, oid, amount="34.90", actor="finance")
    assert confirmed["status"] == "captured"
    assert confirmed["captured"] == D("34.90")
    view = orders.get_order(store, oid)
    assert view["status"] == "paid"
    last = view["events"][-1]
    assert (last["from"], last["to"], last["actor"]) == ("placed", "paid", "finance")
    with pytest.raises(IllegalTransition):
        payments.confirm_transfer(store, oid)  # not twice
    card = _place(store, "P-7", [("SKU-2", 1)])
    with pytest.raises(InvalidInput):
        payments.confirm_transfer(store, card["order_id"])
    with pytest.raises(InvalidInput):
        payments.authorize_payment(store, oid)  # transfers are not authorised online


def test_cash_on_delivery_is_collected_when_delivered(shop) -> None:
    store = shop.store
    placed = _place(store, "P-8", [("SKU-1", 1)], method="cash_on_delivery")
    oid = placed["order_id"]
    assert placed["status"] == "placed"
    assert placed["payment"]["status"] == "pending"
    assert orders.allocate_order(store, oid)["status"] == "allocated"
    shipped = shipping.ship_order(store, oid)
    assert shipped["status"] == "shipped"
    assert payments.payment_view(store, oid)["status"] == "pending"
    tracking = shipped["shipments"][0]["tracking_number"]

    start = utcnow()
    shipping.record_tracking_event(store, tracking, "picked_up", occurred_at=start + timedelta(hours=1))
    shipping.record_tracking_event(store, tracking, "in_transit", occurred_at=start + timedelta(hours=5))
    out = shipping.record_tracking_event(store, tracking, "out_for_delivery", occurred_at=start + timedelta(hours=20))
    assert out["status"] == "out_for_delivery"
    assert orders.get_order(store, oid)["status"] == "shipped"
    assert payments.payment_view(store, oid)["status"] == "pending"

    done = shipping.record_tracking_event(store, tracking, "delivered", occurred_at=start + timedelta(hours=22),
                                          location="front door")
    assert done["status"] == "delivered"
    assert [e["status"] for e in done["timeline"]] == [
        "label_created", "picked_up", "in_transit", "out_for_delivery", "delivered",
    ]
    assert orders.get_order(store, oid)["status"] == "delivered"
    pay = payments.payment_view(store, oid)
    assert pay["status"] == "captured"
    assert pay["captured"] == pay["amount"] == placed["total"]


# --------------------------------------------------------------------------- shipping


def test_shipping_posts_sales_at_average_cost_and_sets_line_cost(shop) -> None:
    store = shop.store
    # 15 units at 5.00 (make_shop) + 5 at 8.00 -> (75 + 40) / 20 = 5.75
    stock.receive_stock(store, "SKU-1", "W1", 5, unit_cost="8.00")
    placed = _place(store, "S-1", [("SKU-1", 2), ("SKU-2", 1)])
    oid = placed["order_id"]
    shipped = _ship(store, oid)
    assert [ln["qty_shipped"] for ln in shipped["lines"]] == [2, 1]
    assert {a["status"] for ln in shipped["lines"] for a in ln["allocations"]} == {"consumed"}
    assert _level(store, "SKU-1", "W1") == (13, 0)
    assert _level(store, "SKU-2", "W1") == (9, 0)

    sale = stock.ledger(store, "SKU-1")[0]
    assert (sale["kind"], sale["quantity"], sale["warehouse"], sale["unit_cost"]) == ("sale", -2, "W1", D("5.7500"))
    assert sale["ref_type"] == "order_line"
    assert stock.ledger(store, "SKU-2")[0]["unit_cost"] == D("7.5000")
    with store.read() as session:
        rows = session.execute(select(OrderLine.sku, OrderLine.unit_cost).where(OrderLine.order_id == oid)).all()
    costs = {sku: cost for sku, cost in rows}
    assert costs == {"SKU-1": D("5.7500"), "SKU-2": D("7.5000")}
    [parcel] = shipped["shipments"]
    assert parcel["warehouse"] == "W1"
    assert parcel["status"] == "label_created"
    assert parcel["tracking_number"]
    assert parcel["promised_on"] == placed["promised_on"]


def test_split_allocation_ships_one_parcel_per_warehouse(shop) -> None:
    store = shop.store
    placed = _place(store, "S-2", [("SKU-1", 12), ("SKU-3", 1)])
    oid = placed["order_id"]
    shipped = _ship(store, oid)
    parcels = shipped["shipments"]
    assert [p["warehouse"] for p in parcels] == ["W1", "W2"]
    assert len({p["tracking_number"] for p in parcels}) == 2
    with store.read() as session:
        rows = session.execute(
            select(Shipment.id, ShipmentLine.quantity).join(ShipmentLine, ShipmentLine.shipment_id == Shipment.id)
            .where(Shipment.order_id == oid).order_by(Shipment.id, ShipmentLine.id)
        ).all()
    by_parcel: dict[int, list[int]] = {}
    for sid, qty in rows:
        by_parcel.setdefault(sid, []).append(qty)
    assert [sorted(q) for q in by_parcel.values()] == [[1, 10], [2]]
    sales = [(m["warehouse"], m["quantity"]) for m in stock.ledger(store, "SKU-1") if m["kind"] == "sale"]
    assert sorted(sales) == [("W1", -10), ("W2", -2)]
    assert _level(store, "SKU-1", "W1") == (0, 0)
    assert _level(store, "SKU-1", "W2") == (3, 0)
    assert shipped["lines"][0]["qty_shipped"] == 12

    first, second = (p["tracking_number"] for p in parcels)
    shipping.record_tracking_event(store, first, "delivered")
    assert orders.get_order(store, oid)["status"] == "shipped"  # one parcel is still on its way
    shipping.record_tracking_event(store, second, "in_transit")
    assert orders.get_order(store, oid)["status"] == "shipped"
    shipping.record_tracking_event(store, second, "delivered")
    view = orders.get_order(store, oid)
    assert view["status"] == "delivered"
    assert [p["status"] for p in view["shipments"]] == ["delivered", "delivered"]
    assert all(p["delivered_at"] is not None for p in view["shipments"])


def test_late_older_tracking_event_does_not_move_a_parcel_back(shop) -> None:
    store = shop.store
    oid = _place(store, "S-3", [("SKU-1", 1)])["order_id"]
    tracking = _ship(store, oid)["shipments"][0]["tracking_number"]
    t0 = utcnow()
    shipping.record_tracking_event(store, tracking, "picked_up", occurred_at=t0 + timedelta(hours=1))
    shipping.record_tracking_event(store, tracking, "delivered", occurred_at=t0 + timedelta(hours=30))
    late = shipping.record_tracking_event(store, tracking, "in_transit", occurred_at=t0 + timedelta(hours=10),
                                          location="hub")
    assert late["status"] == "delivered"
    assert late["delivered_at"] == t0 + timedelta(hours=30)
    assert [e["status"] for e in late["timeline"]] == ["label_created", "picked_up", "in_transit", "delivered"]
    times = [e["at"] for e in late["timeline"]]
    assert times == sorted(times)
    assert orders.get_order(store, oid)["status"] == "delivered"
    assert shipping.find_shipment(store, tracking) == late

    # A stray scan after delivery joins the timeline but the parcel stays delivered.
    stray = shipping.record_tracking_event(store, tracking, "in_transit", occurred_at=t0 + timedelta(hours=31))
    assert stray["status"] == "delivered"
    assert stray["delivered_at"] == t0 + timedelta(hours=30)
    assert [e["status"] for e in stray["timeline"]][-2:] == ["delivered", "in_transit"]
    assert orders.get_order(store, oid)["status"] == "delivered"


def test_parcel_status_follows_the_latest_event_by_event_time(shop) -> None:
    store = shop.store
    oid = _place(store, "S-4", [("SKU-1", 1)])["order_id"]
    tracking = _ship(store, oid)["shipments"][0]["tracking_number"]
    t0 = utcnow()
    shipping.record_tracking_event(store, tracking, "out_for_delivery", occurred_at=t0 + timedelta(hours=9))
    late = shipping.record_tracking_event(store, tracking, "picked_up", occurred_at=t0 + timedelta(hours=1))
    assert late["status"] == "out_for_delivery"
    assert [e["status"] for e in late["timeline"]] == ["label_created", "picked_up", "out_for_delivery"]
    assert orders.get_order(store, oid)["status"] == "shipped"


def test_tracking_event_input_is_checked(shop) -> None:
    store = shop.store
    oid = _place(store, "S-5", [("SKU-1", 1)])["order_id"]
    tracking = _ship(store, oid)["shipments"][0]["tracking_number"]
    with pytest.raises(InvalidInput) as err:
        shipping.record_tracking_event(store, tracking, "teleported")
    assert err.value.field == "status"
    with pytest.raises(InvalidInput) as err:
        shipping.record_tracking_event(store, tracking, "in_transit", occurred_at=utcnow().replace(tzinfo=None))
    assert err.value.field == "occurred_at"
    with pytest.raises(NotFound):
        shipping.record_tracking_event(store, "NOPE123", "in_transit")


# --------------------------------------------------------------------------- returns and refunds


def test_return_request_cannot_exceed_what_was_shipped(shop) -> None:
    store = shop.store
    oid = _delivered_order(store, "RT-1", [("SKU-1", 3), ("SKU-2", 1)])["order_id"]
    with pytest.raises(InvalidInput) as err:
        returns.request_return(store, oid, sku="SKU-1", qty=4, reason="too many")
    assert err.value.field == "qty"
    first = returns.request_return(store, oid, sku="SKU-1", qty=2, reason="wrong colour")
    assert (first["status"], first["qty"], first["sku"]) == ("requested", 2, "SKU-1")
    with pytest.raises(InvalidInput):
        returns.request_return(store, oid, sku="SKU-1", qty=2, reason="again")
    rejected = returns.request_return(store, oid, sku="SKU-1", qty=1, reason="changed mind")
    assert returns.reject_return(store, rejected["return_id"])["status"] == "rejected"
    # a rejected request does not use up the returnable units
    assert returns.request_return(store, oid, sku="SKU-1", qty=1, reason="changed mind")["qty"] == 1
    with pytest.raises(InvalidInput):
        returns.request_return(store, oid, sku="SKU-1", qty=1, reason="one more")
    with pytest.raises(InvalidInput) as err:
        returns.request_return(store, oid, sku="SKU-2", qty=1, reason="   ")
    assert err.value.field == "reason"
    with pytest.raises(NotFound):
        returns.request_return(store, oid, sku="SKU-3", qty=1, reason="not on the order")


def test_returns_need_a_delivered_order_and_a_decision(shop) -> None:
    store = shop.store
    paid = _place(store, "RT-2", [("SKU-1", 1)])["order_id"]
    with pytest.raises(IllegalTransition):
        returns.request_return(store, paid, sku="SKU-1", qty=1, reason="never came")
    oid = _delivered_order(store, "RT-3", [("SKU-1", 1)])["order_id"]
    ret = returns.request_return(store, oid, sku="SKU-1", qty=1, reason="broken")
    with pytest.raises(IllegalTransition):
        returns.receive_return(store, ret["return_id"], qty=1, condition="damaged", disposition="restock")
    returns.reject_return(store, ret["return_id"])
    with pytest.raises(IllegalTransition):
        returns.approve_return(store, ret["return_id"])
    with pytest.raises(IllegalTransition):
        returns.receive_return(store, ret["return_id"], qty=1, condition="damaged", disposition="restock")


def test_restocked_return_goes_back_at_the_original_unit_cost(shop) -> None:
    store = shop.store
    view = _delivered_order(store, "RT-4", [("SKU-1", 3)])
    oid = view["order_id"]
    # The average cost moves after the sale: (12 x 5.00 + 12 x 11.00) / 24 = 8.00
    stock.receive_stock(store, "SKU-1", "W1", 12, unit_cost="11.00")
    assert _level(store, "SKU-1", "W1") == (19, 0)
    ret = returns.request_return(store, oid, sku="SKU-1", qty=2, reason="too small")
    returns.approve_return(store, ret["return_id"])
    with pytest.raises(InvalidInput):
        returns.receive_return(store, ret["return_id"], qty=3, condition="as_new", disposition="restock")
    with pytest.raises(InvalidInput):
        returns.receive_return(store, ret["return_id"], qty=2, condition="as_new", disposition="burn")
    got = returns.receive_return(store, ret["return_id"], qty=2, condition="as_new", disposition="restock")
    assert (got["status"], got["received_qty"], got["disposition"]) == ("received", 2, "restock")
    assert _level(store, "SKU-1", "W1") == (21, 0)
    back = stock.ledger(store, "SKU-1")[0]
    assert (back["kind"], back["quantity"], back["warehouse"]) == ("return", 2, "W1")
    assert back["unit_cost"] == D("5.0000")  # the line's cost when it left, not today's average
    assert back["ref_type"] == "return"
    assert orders.get_order(store, oid)["status"] == "delivered"  # one unit is still with the customer


def test_written_off_return_does_not_come_back_on_hand(shop) -> None:
    store = shop.store
    oid = _delivered_order(store, "RT-5", [("SKU-2", 2)])["order_id"]
    before = _level(store, "SKU-2", "W1")
    movements = len(stock.ledger(store, "SKU-2"))
    ret = returns.request_return(store, oid, sku="SKU-2", qty=1, reason="shattered")
    returns.approve_return(store, ret["return_id"])
    got = returns.receive_return(store, ret["return_id"], qty=1, condition="broken", disposition="write_off")
    assert (got["status"], got["disposition"]) == ("received", "write_off")
    assert _level(store, "SKU-2", "W1") == before
    assert len(stock.ledger(store, "SKU-2")) == movements


def test_refund_defaults_to_what_was_paid_for_the_units(shop) -> None:
    store = shop.store
    # discount 1.00 over 29.97 / 15.00 -> 0.67 / 0.33; SKU-1 line total 29.30, 2 of 3 units = 19.53
    view = _delivered_order(store, "RT-6", [("SKU-1", 3), ("SKU-2", 1)], discount="1.00")
    oid = view["order_id"]
    assert view["lines"][0]["line_total"] == D("29.30")
    ret = returns.request_return(store, oid, sku="SKU-1", qty=2, reason="too big")
    returns.approve_return(store, ret["return_id"])
    returns.receive_return(store, ret["return_id"], qty=2, condition="as_new", disposition="restock")
    with pytest.raises(InvalidInput) as err:
        returns.refund_return(store, ret["return_id"], amount="19.54")
    assert err.value.field == "amount"
    refunded = returns.refund_return(store, ret["return_id"])
    assert refunded["status"] == "refunded"
    assert refunded["refund_amount"] == D("19.53")
    pay = payments.payment_view(store, oid)
    assert pay["status"] == "partially_refunded"
    assert pay["refunded"] == D("19.53")
    assert pay["transactions"][-1]["kind"] == "refund"
    assert orders.get_order(store, oid)["status"] == "delivered"
    with pytest.raises(IllegalTransition):
        returns.refund_return(store, ret["return_id"])  # once only


def test_refunds_never_exceed_the_capture_and_a_full_refund_refunds_the_order(shop) -> None:
    store = shop.store
    view = _delivered_order(store, "RT-7", [("SKU-3", 1)])
    oid = view["order_id"]
    captured = payments.payment_view(store, oid)["captured"]
    assert captured == D("44.90")
    with pytest.raises(InvalidInput) as err:
        payments.refund_payment(store, oid, "44.91")
    assert err.value.field == "amount"
    with pytest.raises(InvalidInput):
        payments.refund_payment(store, oid, "0")
    part = payments.refund_payment(store, oid, "10.00", reason="late delivery")
    assert (part["status"], part["refunded"]) == ("partially_refunded", D("10.00"))
    assert orders.get_order(store, oid)["status"] == "delivered"
    with pytest.raises(InvalidInput):
        payments.refund_payment(store, oid, "34.91")
    assert payments.payment_view(store, oid)["refunded"] == D("10.00")
    more = payments.refund_payment(store, oid, "4.90")
    assert (more["status"], more["refunded"]) == ("partially_refunded", D("14.90"))
    full = payments.refund_payment(store, oid, "30.00")
    assert (full["status"], full["refunded"]) == ("refunded", D("44.90"))
    after = orders.get_order(store, oid)
    assert after["status"] == "refunded"
    assert after["events"][-1]["from"] == "delivered"
    with pytest.raises(IllegalTransition):
        payments.refund_payment(store, oid, "0.01")


def test_refund_before_capture_is_refused(shop) -> None:
    store = shop.store
    oid = _place(store, "RT-8", [("SKU-1", 1)])["order_id"]  # card authorised, not captured
    with pytest.raises(IllegalTransition):
        payments.refund_payment(store, oid, "1.00")
    assert payments.payment_view(store, oid)["refunded"] == D("0.00")


def test_everything_returned_makes_the_order_returned_then_refunded(shop) -> None:
    store = shop.store
    view = _delivered_order(store, "RT-9", [("SKU-1", 1), ("SKU-2", 2)], method="cash_on_delivery")
    oid = view["order_id"]
    ids = []
    for sku, qty in (("SKU-1", 1), ("SKU-2", 2)):
        ret = returns.request_return(store, oid, sku=sku, qty=qty, reason="not needed")
        returns.approve_return(store, ret["return_id"])
        ids.append(ret["return_id"])
    returns.receive_return(store, ids[0], qty=1, condition="as_new", disposition="restock")
    assert orders.get_order(store, oid)["status"] == "delivered"
    returns.receive_return(store, ids[1], qty=2, condition="as_new", disposition="restock")
    after = orders.get_order(store, oid)
    assert after["status"] == "returned"
    assert after["events"][-1]["from"] == "delivered"

    for rid in ids:
        returns.refund_return(store, rid)
    pay = payments.payment_view(store, oid)
    assert pay["refunded"] == D("9.99") + D("30.00")
    assert pay["status"] == "partially_refunded"  # shipping is not refunded by the returns
    rest = pay["captured"] - pay["refunded"]
    assert rest == D("4.90")
    payments.refund_payment(store, oid, rest, reason="goodwill")
    assert payments.payment_view(store, oid)["status"] == "refunded"
    assert orders.get_order(store, oid)["status"] == "refunded"


def test_cancelling_a_paid_card_order_voids_the_authorisation(shop) -> None:
    store = shop.store
    placed = _place(store, "CX-1", [("SKU-1", 3)])
    oid = placed["order_id"]
    orders.allocate_order(store, oid)
    cancelled = orders.cancel_order(store, oid, reason="fraud check")
    assert cancelled["status"] == "cancelled"
    assert cancelled["payment"]["status"] == "voided"
    assert cancelled["payment"]["captured"] == D("0.00")
    pay = payments.payment_view(store, oid)
    assert [(t["kind"], t["from"], t["to"]) for t in pay["transactions"]][-1] == ("void", "authorized", "voided")
    assert _reserved_total(store) == 0


def test_cancelling_a_captured_e_wallet_order_refunds_it_in_full(shop) -> None:
    store = shop.store
    oid = _place(store, "CX-2", [("SKU-2", 1)], method="e_wallet", token="wallet_1")["order_id"]
    cancelled = orders.cancel_order(store, oid)
    assert cancelled["status"] == "cancelled"
    assert cancelled["payment"]["status"] == "refunded"
    assert cancelled["payment"]["refunded"] == cancelled["payment"]["captured"] == D("19.90")
    assert _reserved_total(store) == 0


def test_cancelling_an_unpaid_order_closes_the_pending_payment(shop) -> None:
    store = shop.store
    oid = _place(store, "CX-3", [("SKU-2", 1)], method="bank_transfer")["order_id"]
    cancelled = orders.cancel_order(store, oid)
    assert cancelled["payment"]["status"] == "voided"
    with pytest.raises(IllegalTransition):
        payments.confirm_transfer(store, oid)
    assert orders.get_order(store, oid)["status"] == "cancelled"
