"""Property-based: after any sequence of stock and order operations the ledger invariants hold.

- on hand equals the ledger sum for every SKU and warehouse;
- reserved equals the active reservations and never exceeds on hand (available >= 0);
- the average cost equals an independent replay of the ledger (inflows move the weighted
  average, outflows leave at it), so stock value = on hand x average cost.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from ops_store.errors import DomainError
from ops_store.models import Reservation, StockLevel, StockMovement, StockValuation
from ops_store.services import counts, orders, payments, returns, shipping, stock
from tests.factories import make_shop, order_doc

SKUS = ["SKU-1", "SKU-2", "SKU-3"]
WHS = ["W1", "W2"]

sku = st.sampled_from(SKUS)
wh = st.sampled_from(WHS)
qty = st.integers(1, 8)
cost = st.decimals(min_value="0.50", max_value="30.00", places=2)
operation = st.one_of(
    st.tuples(st.just("receive"), sku, wh, qty, cost),
    st.tuples(st.just("order"), st.lists(st.tuples(sku, qty), min_size=1, max_size=3, unique_by=lambda x: x[0])),
    st.tuples(st.just("cancel"), st.integers(0, 20)),
    st.tuples(st.just("ship"), st.integers(0, 20)),
    st.tuples(st.just("adjust"), sku, wh, st.integers(-5, 5).filter(bool)),
    st.tuples(st.just("transfer"), sku, wh, wh, qty),
    st.tuples(st.just("count"), sku, wh, st.integers(0, 25)),
    st.tuples(st.just("return"), st.integers(0, 20), st.integers(1, 3)),
)

BACKENDS = [pytest.param("sqlite"), pytest.param("postgresql", marks=pytest.mark.postgres)]


def _apply(store, op, placed: list[int]) -> None:  # type: ignore[no-untyped-def]
    kind = op[0]
    if kind == "receive":
        stock.receive_stock(store, op[1], op[2], op[3], unit_cost=op[4])
    elif kind == "order":
        doc = order_doc(f"R-{len(placed)}-{secrets.token_hex(4)}", op[1], method="bank_transfer")
        order = orders.place_order(store, doc)
        placed.append(order["order_id"])
    elif kind == "cancel" and placed:
        orders.cancel_order(store, placed[op[1] % len(placed)])
    elif kind == "ship" and placed:
        order_id = placed[op[1] % len(placed)]
        payments.confirm_transfer(store, order_id)
        orders.allocate_order(store, order_id)
        shipping.ship_order(store, order_id)
    elif kind == "adjust":
        stock.adjust_stock(store, op[1], op[2], op[3], reason="property test")
    elif kind == "transfer":
        stock.transfer_stock(store, op[1], op[2], op[3], op[4])
    elif kind == "count":
        opened = counts.open_count(store, op[2], skus=[op[1]])
        counts.record_count(store, opened["count_id"], op[1], op[3])
        counts.post_count(store, opened["count_id"])
    elif kind == "return" and placed:
        order_id = placed[op[1] % len(placed)]
        view = orders.get_order(store, order_id)
        if view["status"] == "shipped":
            for shipment in view["shipments"]:
                shipping.record_tracking_event(store, shipment["tracking_number"], "delivered")
        line = view["lines"][0]
        ret = returns.request_return(store, order_id, sku=line["sku"], qty=op[2], reason="property test")
        returns.approve_return(store, ret["return_id"])
        returns.receive_return(store, ret["return_id"], qty=op[2], condition="ok", disposition="restock")


def check_invariants(store) -> None:  # type: ignore[no-untyped-def]
    with store.read() as session:
        ledger = dict(
            ((p, w), int(q))
            for p, w, q in session.execute(
                select(StockMovement.product_id, StockMovement.warehouse_id, func.sum(StockMovement.quantity))
                .group_by(StockMovement.product_id, StockMovement.warehouse_id)
            )
        )
        reserved = dict(
            ((p, w), int(q))
            for p, w, q in session.execute(
                select(Reservation.product_id, Reservation.warehouse_id, func.sum(Reservation.quantity))
                .where(Reservation.status == "active")
                .group_by(Reservation.product_id, Reservation.warehouse_id)
            )
        )
        levels = list(session.scalars(select(StockLevel)))
        for level in levels:
            key = (level.product_id, level.warehouse_id)
            assert level.on_hand == ledger.get(key, 0), f"on hand differs from the ledger sum for {key}"
            assert level.reserved == reserved.get(key, 0), f"reserved differs from active reservations for {key}"
            assert 0 <= level.reserved <= level.on_hand, f"reserved outside [0, on hand] for {key}"
            assert level.on_hand - level.reserved >= 0
        assert set(ledger) <= {(lv.product_id, lv.warehouse_id) for lv in levels}

        # Replay the ledger independently: moving weighted average per product.
        qty_by_product: dict[int, int] = defaultdict(int)
        avg_by_product: dict[int, Decimal] = defaultdict(lambda: Decimal("0"))
        for m in session.scalars(select(StockMovement).order_by(StockMovement.id)):
            q, avg = qty_by_product[m.product_id], avg_by_product[m.product_id]
            if m.quantity > 0:
                if q <= 0:
                    new_avg = m.unit_cost
                else:
                    new_avg = (q * avg + m.quantity * m.unit_cost) / (q + m.quantity)
                avg_by_product[m.product_id] = new_avg.quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN)
            else:
                assert m.unit_cost == avg, f"outflow {m.id} left at {m.unit_cost}, average was {avg}"
            qty_by_product[m.product_id] = q + m.quantity
        for valuation in session.scalars(select(StockValuation)):
            assert valuation.avg_unit_cost == avg_by_product[valuation.product_id]
    for row in stock.stock_show(store):
        assert row["stock_value"] == (row["on_hand"] * row["avg_unit_cost"]).quantize(Decimal("0.01"))


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operation, min_size=1, max_size=18))
def test_ledger_invariants_hold_after_any_operations(backend, fresh_store, ops):  # type: ignore[no-untyped-def]
    store = fresh_store(backend)
    make_shop(store, stock_w1=6, stock_w2=3)
    placed: list[int] = []
    for op in ops:
        try:
            _apply(store, op, placed)
        except DomainError:
            pass  # refused operations (short stock, illegal moves) must leave no trace; checked below
        check_invariants(store)
