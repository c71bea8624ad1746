"""Low-stock alerts, purchase orders, stock counts, adjustments and transfers."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from ops_store.errors import IllegalTransition, InsufficientStock, InvalidInput
from ops_store.models import StockAlert, StockMovement
from ops_store.services import catalog, counts, orders, replenishment, stock
from tests.factories import order_doc


def _alerts(store, status=None):  # type: ignore[no-untyped-def]
    return replenishment.list_alerts(store, status=status)


def test_alert_opens_once_and_resolves_on_receipt(shop):
    store = shop.store
    catalog.add_supplier(store, "M1", "SUP", "Supplier", lead_time_days=5)
    replenishment.set_policy(store, "SKU-1", "W1", reorder_point=4, reorder_qty=10, safety_stock=1, supplier="SUP")
    assert _alerts(store) == []  # 10 available > 4

    orders.place_order(store, order_doc("A-1", [("SKU-1", 6)]))  # available 4: at the reorder point
    opened = _alerts(store, "open")
    assert len(opened) == 1
    alert = opened[0]
    assert (alert["sku"], alert["warehouse"], alert["available_at_open"]) == ("SKU-1", "W1", 4)
    # reorder point + reorder qty - (on hand + on order - reserved) = 4 + 10 - (10 + 0 - 6)
    assert alert["suggested_qty"] == 10

    orders.place_order(store, order_doc("A-2", [("SKU-1", 2)]))  # falls further: no second alert
    assert len(_alerts(store, "open")) == 1

    po = replenishment.create_purchase_order(store, "M1", "SUP", "W1", [("SKU-1", 10, "4.00")])
    assert po["status"] == "open"
    partial = replenishment.receive_purchase_order(store, po["purchase_order_id"], {"SKU-1": 1})
    assert partial["status"] == "partially_received"
    assert len(_alerts(store, "open")) == 1  # available 3: still at or below the point
    done = replenishment.receive_purchase_order(store, po["purchase_order_id"])
    assert done["status"] == "received"
    assert done["lines"][0]["qty_received"] == 10
    assert _alerts(store, "open") == []
    resolved = _alerts(store, "resolved")
    assert len(resolved) == 1 and resolved[0]["resolved_at"] is not None

    # Receipts are at the purchase price and move the product's average over all warehouses:
    # (10 in W1 + 5 in W2) x 5.00 + 10 x 4.00 = 115.00 for 25 units
    w1 = next(r for r in stock.stock_show(store, "SKU-1") if r["warehouse"] == "W1")
    assert w1["on_hand"] == 20
    assert w1["avg_unit_cost"] == Decimal("4.6000")
    with pytest.raises(IllegalTransition):
        replenishment.receive_purchase_order(store, po["purchase_order_id"])

    # Falling again opens a new alert (the old one stays resolved).
    orders.place_order(store, order_doc("A-3", [("SKU-1", 10)]))
    with store.read() as session:
        rows = list(session.scalars(select(StockAlert).order_by(StockAlert.id)))
    assert [r.status for r in rows] == ["resolved", "open"]


def test_suggested_quantity_counts_what_is_on_order_and_rounds_to_multiple(shop):
    store = shop.store
    catalog.add_supplier(store, "M1", "SUP", "Supplier")
    replenishment.create_purchase_order(store, "M1", "SUP", "W2", [("SKU-2", 3, None)])
    replenishment.set_policy(store, "SKU-2", "W2", reorder_point=6, reorder_qty=7, order_multiple=5)
    (alert,) = _alerts(store, "open")
    # 6 + 7 - (5 on hand + 3 on order - 0 reserved) = 5 -> a multiple of 5 already
    assert alert["suggested_qty"] == 5
    replenishment.set_policy(store, "SKU-3", "W2", reorder_point=6, reorder_qty=8, order_multiple=5)
    alert3 = next(a for a in _alerts(store, "open") if a["sku"] == "SKU-3")
    assert alert3["suggested_qty"] == 10  # 6 + 8 - 5 = 9, rounded up to 10


def test_count_posts_corrections_valued_at_cost_and_is_immutable(shop):
    store = shop.store
    opened = counts.open_count(store, "W1")
    assert {ln["sku"] for ln in opened["lines"]} == {"SKU-1", "SKU-2", "SKU-3"}
    counts.record_count(store, opened["count_id"], "SKU-1", 8)   # 2 missing at 5.00
    counts.record_count(store, opened["count_id"], "SKU-2", 11)  # 1 found at 7.50
    with pytest.raises(InvalidInput, match="SKU-3"):
        counts.post_count(store, opened["count_id"])  # SKU-3 not counted yet
    counts.record_count(store, opened["count_id"], "SKU-3", 10)
    posted = counts.post_count(store, opened["count_id"])
    lines = {ln["sku"]: ln for ln in posted["lines"]}
    assert posted["status"] == "posted"
    assert (lines["SKU-1"]["expected"], lines["SKU-1"]["variance"]) == (10, -2)
    assert lines["SKU-1"]["variance_value"] == Decimal("-10.00")
    assert lines["SKU-2"]["variance_value"] == Decimal("7.50")
    assert lines["SKU-3"]["variance"] == 0
    assert posted["variance_value"] == Decimal("-2.50")
    with store.read() as session:
        corrections = list(session.scalars(select(StockMovement).where(StockMovement.kind == "count_correction")))
    assert sorted(m.quantity for m in corrections) == [-2, 1]  # no movement for a zero variance
    by_wh = {(r["sku"], r["warehouse"]): r for r in stock.stock_show(store)}
    assert by_wh[("SKU-1", "W1")]["on_hand"] == 8
    with pytest.raises(IllegalTransition):
        counts.record_count(store, opened["count_id"], "SKU-1", 9)
    with pytest.raises(IllegalTransition):
        counts.post_count(store, opened["count_id"])


def test_count_below_reserved_units_is_refused(shop):
    store = shop.store
    orders.place_order(store, order_doc("C-1", [("SKU-1", 7)]))
    opened = counts.open_count(store, "W1", skus=["SKU-1"])
    counts.record_count(store, opened["count_id"], "SKU-1", 5)
    with pytest.raises(InsufficientStock, match="reserved"):
        counts.post_count(store, opened["count_id"])
    assert counts.count_view(store, opened["count_id"])["status"] == "open"
    w1 = next(r for r in stock.stock_show(store, "SKU-1") if r["warehouse"] == "W1")
    assert (w1["on_hand"], w1["reserved"]) == (10, 7)


def test_adjustments_and_transfers_respect_reservations(shop):
    store = shop.store
    orders.place_order(store, order_doc("T-1", [("SKU-3", 9)]))  # 9 of W1's 10 reserved
    with pytest.raises(InsufficientStock):
        stock.adjust_stock(store, "SKU-3", "W1", -2, reason="broken")
    with pytest.raises(InsufficientStock):
        stock.transfer_stock(store, "SKU-3", "W1", "W2", 2)
    with pytest.raises(InvalidInput, match="reason"):
        stock.adjust_stock(store, "SKU-3", "W1", -1, reason=" ")
    stock.adjust_stock(store, "SKU-3", "W1", -1, reason="broken")
    src, dst = stock.transfer_stock(store, "SKU-3", "W2", "W1", 5)
    assert (src["on_hand"], dst["on_hand"]) == (0, 14)
    ledger = stock.ledger(store, "SKU-3")
    assert [m["kind"] for m in ledger[:3]] == ["transfer_in", "transfer_out", "adjustment"]
    assert ledger[0]["unit_cost"] == ledger[1]["unit_cost"]
