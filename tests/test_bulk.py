"""Bulk writes read back exactly like service writes, and reserved id blocks never collide."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import select

from ops_store.bulk import insert_rows, reserve_ids
from ops_store.models import Merchant, Product
from ops_store.services import catalog


def test_bulk_rows_read_back_like_service_rows_and_ids_do_not_collide(store):
    catalog.add_merchant(store, "M1", "Shop")
    with store.read() as session:
        merchant_id = session.scalar(select(Merchant.id))
    stamp = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)
    with store.engine.begin() as conn:
        first = reserve_ids(conn, "products", 3)
        rows = [(first + i, merchant_id, f"B-{i}", f"Bulk {i}", "cat", Decimal("19.99"), Decimal("7.1234"), "USD",
                 True, stamp, stamp) for i in range(3)]
        written = insert_rows(conn, "products", ["id", "merchant_id", "sku", "name", "category", "price", "unit_cost",
                                                 "currency", "active", "created_at", "updated_at"], rows)
    assert written == 3
    catalog.add_product(store, "M1", "AFTER", "Service-made", "1.00", "0.50")  # the id sequence moved on
    with store.read() as session:
        products = {p.sku: p for p in session.scalars(select(Product))}
    assert products["B-2"].price == Decimal("19.99") and products["B-2"].unit_cost == Decimal("7.1234")
    assert products["B-0"].created_at == stamp
    assert products["AFTER"].id > products["B-2"].id
    assert len({p.id for p in products.values()}) == 4
