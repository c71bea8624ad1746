"""The schema: Alembic migrations match the models on both backends; SQLite runs in WAL with
foreign keys on; money round-trips exactly."""

from __future__ import annotations

from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from ops_store.migrate import current_revision, head_revision
from ops_store.models import Base, Product
from ops_store.services import catalog


def test_store_is_at_head_and_matches_the_models(store):
    assert current_revision(store) == head_revision()
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)
    assert diff == []


def test_sqlite_runs_in_wal_with_foreign_keys(fresh_store):
    store = fresh_store("sqlite")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    with pytest.raises(IntegrityError), store.write() as session:
        session.execute(text("INSERT INTO products (merchant_id, sku, name, category, price, unit_cost, currency, "
                             "active, created_at, updated_at) VALUES (999, 'X', 'x', 'c', 1, 1, 'USD', 1, "
                             "'2026-01-01', '2026-01-01')"))


def test_money_round_trips_exactly(store):
    catalog.add_merchant(store, "M1", "Shop")
    catalog.add_product(store, "M1", "P", "Thing", "1234567890.99", "0.0001")
    with store.read() as session:
        product = session.query(Product).one()
    assert product.price == Decimal("1234567890.99")
    assert product.unit_cost == Decimal("0.0001")
