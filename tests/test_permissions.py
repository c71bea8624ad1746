"""The permission matrix, cell by cell, on both backends: for every permission and every role a
real service call is made; it must succeed exactly when the matrix grants it. Then a merchant's
reach is tested against another merchant's products, stock, orders and customers."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from ops_store.backup import backup
from ops_store.db import Store
from ops_store.errors import NotFound
from ops_store.models import Merchant
from ops_store.security.access import MATRIX, PermissionDenied, Principal, acting_as
from ops_store.services import (
    audit_log,
    campaigns,
    catalog,
    communications,
    counts,
    customer_export,
    customers,
    loyalty,
    orders,
    payments,
    returns,
    shipping,
    stock,
    tickets,
    users,
)
from pipelines.runner import backfill_events
from tests.factories import make_shop, order_doc

ROLES = ("admin", "merchant", "analyst", "support", "engineer")
_seq = itertools.count()


def _n() -> int:
    return next(_seq)


@dataclass
class World:
    store: Store
    m1: int
    m2: int
    order_id: int  # a delivered card order of M1
    customer_id: int  # a customer with personal data who bought from M1
    tmp: Any


def _world(store: Store, tmp_path) -> World:  # type: ignore[no-untyped-def]
    make_shop(store)
    catalog.add_merchant(store, "M2", "Other shop")
    catalog.add_product(store, "M2", "M2-SKU", "Other thing", "5.00", "1.00")
    stock.receive_stock(store, "M2-SKU", "W1", 20)
    cid = customers.add_customer(store, name="Ada Lovelace", email="ada@example.org", customer_ref="C-ada")[
        "customer_id"]
    placed = orders.place_order(store, order_doc("P-1", [("SKU-1", 3)], customer="C-ada"))
    orders.allocate_order(store, placed["order_id"])
    shipped = shipping.ship_order(store, placed["order_id"])
    shipping.record_tracking_event(store, shipped["shipments"][0]["tracking_number"], "delivered")
    with store.read() as session:
        m1, m2 = (session.scalar(select(Merchant.id).where(Merchant.code == c)) for c in ("M1", "M2"))
    return World(store, m1, m2, placed["order_id"], cid, tmp_path)


def _new_customer(w: World) -> int:
    with acting_as(Principal("system", "system")):
        n = _n()
        cid = customers.add_customer(w.store, name="Temp Person", email=f"t{n}@example.org",
                                     customer_ref=f"C-t{n}")["customer_id"]
        orders.place_order(w.store, order_doc(f"T-{n}", [("SKU-3", 1)], customer=f"C-t{n}",
                                              method="bank_transfer"))
    return cid


def _delivered_order(w: World) -> int:
    with acting_as(Principal("system", "system")):
        placed = orders.place_order(w.store, order_doc(f"D-{_n()}", [("SKU-2", 1)], customer="C-ada"))
        orders.allocate_order(w.store, placed["order_id"])
        shipped = shipping.ship_order(w.store, placed["order_id"])
        shipping.record_tracking_event(w.store, shipped["shipments"][0]["tracking_number"], "delivered")
    return placed["order_id"]


# One real call per permission (as an M1 merchant where a merchant is involved).
ACTIONS: dict[str, Callable[[World], Any]] = {
    "merchants.manage": lambda w: catalog.add_merchant(w.store, f"MX{_n()}", "New merchant"),
    "settings.manage": lambda w: catalog.add_warehouse(w.store, f"WX{_n()}", "New warehouse"),
    "catalog.read": lambda w: catalog.list_products(w.store),
    "catalog.write": lambda w: catalog.add_product(w.store, "M1", f"NEW-{_n()}", "New", "1.00", "0.50"),
    "stock.read": lambda w: stock.stock_show(w.store, "SKU-1"),
    "stock.write": lambda w: stock.receive_stock(w.store, "SKU-1", "W1", 1),
    "stock.count": lambda w: counts.open_count(w.store, "W1", skus=["SKU-2"]),
    "orders.read": lambda w: orders.get_order(w.store, w.order_id),
    "orders.write": lambda w: orders.place_order(w.store, order_doc(f"PW-{_n()}", [("SKU-2", 1)],
                                                                    method="bank_transfer")),
    "returns.request": lambda w: returns.request_return(w.store, _delivered_order(w), sku="SKU-2", qty=1,
                                                        reason="too small"),
    "payments.refund": lambda w: payments.refund_payment(w.store, w.order_id, "0.01", reference=f"r{_n()}"),
    "customers.read": lambda w: customers.show_customer(w.store, w.customer_id, clear=False),
    "customers.write": lambda w: customers.set_consent(w.store, w.customer_id, "email", True),
    "pii.read": lambda w: customers.show_customer(w.store, w.customer_id, clear=True),
    "pii.export": lambda w: customer_export.export_customer(w.store, w.customer_id),
    "pii.erase": lambda w: customers.erase_customer(w.store, _new_customer(w)),
    "crm.read": lambda w: communications.list_communications(w.store, w.customer_id),
    "crm.write": lambda w: communications.log_communication(w.store, w.customer_id, "outbound", "email", "Hello",
                                                            None, "agent", order_id=w.order_id),
    "tickets.open": lambda w: tickets.open_ticket(w.store, w.customer_id, "delivery", "Late", "Where is it?",
                                                  order_id=w.order_id),
    "loyalty.read": lambda w: loyalty.account_view(w.store, w.customer_id),
    "loyalty.write": lambda w: loyalty.adjust_points(w.store, w.customer_id, 5, reason="goodwill"),
    "marketing.read": lambda w: campaigns.list_campaigns(w.store),
    "marketing.write": lambda w: campaigns.create_campaign(
        w.store, code=f"CMP{_n()}", name="Spring", merchant="M1", channel="email", starts_on="2026-03-01",
        ends_on="2026-03-31", budget="100.00"),
    "users.manage": lambda w: users.list_users(w.store),
    "keys.manage": lambda w: users.list_api_keys(w.store),
    "audit.read": lambda w: audit_log.list_audit(w.store),
    "backup.run": lambda w: backup(w.store, w.tmp / f"b{_n()}"),
    "pipeline.run": lambda w: backfill_events(date(2026, 1, 1), date(2026, 1, 1)),
}


def _principal(role: str, w: World) -> Principal:
    return Principal(f"user:{role}", role, w.m1 if role == "merchant" else None)


def test_every_permission_has_a_cell_test():
    assert set(ACTIONS) == set(MATRIX)


def test_matrix_cell_by_cell(store, tmp_path):
    w = _world(store, tmp_path)
    outcomes = {}
    for permission, action in ACTIONS.items():
        for role in ROLES:
            with acting_as(_principal(role, w)):
                try:
                    action(w)
                    outcomes[(permission, role)] = True
                except PermissionDenied:
                    outcomes[(permission, role)] = False
    wrong = {cell: got for cell, got in outcomes.items() if got != (cell[1] in MATRIX[cell[0]])}
    assert wrong == {}, f"cells that disagree with the matrix (permission, role): allowed? {wrong}"


def test_channel_keys_hold_only_their_scopes(store, tmp_path):
    w = _world(store, tmp_path)
    channel = Principal("apikey:web", "channel", w.m1, frozenset({"orders.write", "orders.read"}))
    with acting_as(channel):
        ACTIONS["orders.write"](w)
        ACTIONS["orders.read"](w)
        for permission in ("stock.write", "customers.read", "pii.read", "payments.refund", "catalog.write"):
            with pytest.raises(PermissionDenied):
                ACTIONS[permission](w)


def test_a_merchant_never_reaches_another_merchants_data(store, tmp_path):
    w = _world(store, tmp_path)
    other = Principal("user:m2", "merchant", w.m2)
    with acting_as(other):
        # sees only its own
        assert {p["sku"] for p in catalog.list_products(w.store)} == {"M2-SKU"}
        assert {r["sku"] for r in stock.stock_show(w.store)} == {"M2-SKU"}
        assert orders.list_orders(w.store) == []
        assert [m["code"] for m in catalog.list_merchants(w.store)] == ["M2"]
        assert customers.find_customers(w.store, email="ada@example.org") == []
        # cannot read or change M1's things
        refused = (PermissionDenied, NotFound)
        for attempt in (
            lambda: catalog.set_product(w.store, "SKU-1", price="1.00"),
            lambda: catalog.add_product(w.store, "M1", "SNEAK", "x", "1.00", "1.00"),
            lambda: stock.receive_stock(w.store, "SKU-1", "W1", 1),
            lambda: stock.adjust_stock(w.store, "SKU-1", "W1", -1, reason="theft"),
            lambda: stock.stock_show(w.store, "SKU-1"),
            lambda: stock.ledger(w.store, "SKU-1"),
            lambda: orders.get_order(w.store, w.order_id),
            lambda: orders.cancel_order(w.store, w.order_id),
            lambda: payments.refund_payment(w.store, w.order_id, "1.00"),
            lambda: payments.payment_view(w.store, w.order_id),
            lambda: customers.show_customer(w.store, w.customer_id),
            lambda: orders.place_order(w.store, order_doc("SNEAKY-1", [("SKU-1", 1)], method="bank_transfer")),
        ):
            with pytest.raises(refused):
                attempt()
    # and nothing changed for M1
    assert orders.get_order(w.store, w.order_id)["status"] == "delivered"
    assert str(next(p for p in catalog.list_products(w.store) if p["sku"] == "SKU-1")["price"]) == "9.99"
