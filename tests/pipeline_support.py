"""A simulated shop on either backend for the pipeline tests, and a private environment per test
(its own data dir, warehouse and DAGSTER_HOME, the shop's landing files linked in), with its
warehouse in either form: a DuckDB file, or a DuckLake with a catalog database of its own."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import psycopg
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from ops_store.db import Store
from ops_store.migrate import upgrade
from ops_store.models import Customer, DeliveryOption, Merchant, Product, StockLevel
from ops_store.simulate.config import SimConfig
from ops_store.simulate.run import simulate
from pipelines.settings import PipelineSettings
from pipelines.warehouse import catalog_conninfo, open_warehouse

SIM_END = date.today()
SIM = SimConfig(orders=1200, days=40, seed=11, end=SIM_END)


@dataclass
class SimShop:
    backend: str
    url: str
    home: Path  # the shop's data dir: PII keys and landing files
    warehouse: str = "file"  # the warehouse form the tests of this shop use: file or ducklake

    def store(self) -> Store:
        return Store(self.url)


@contextmanager
def simulated_shop(backend: str, root: Path, pg_url: str | None, config: SimConfig = SIM) -> Iterator[SimShop]:
    """Simulate a small shop into a new SQLite file, or a new schema of the worker's database."""
    home = root / f"shop-{backend}"
    home.mkdir(parents=True)
    previous = os.environ.get("ECOM_DATA_DIR")
    os.environ["ECOM_DATA_DIR"] = str(home)  # the simulator's PII keys live with the shop
    cleanup = None
    try:
        if backend == "sqlite":
            url = f"sqlite:///{home / 'store.sqlite'}"
        else:
            assert pg_url is not None
            schema = f"pipe_{uuid.uuid4().hex[:10]}"
            base = make_url(pg_url).difference_update_query(["options"])
            admin = create_engine(base)
            with admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            url = base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)

            def cleanup() -> None:
                with admin.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                admin.dispose()
        store = Store(url)
        upgrade(store)
        simulate(store, config, home)
        store.dispose()
        yield SimShop(backend, url, home)
    finally:
        if previous is None:
            os.environ.pop("ECOM_DATA_DIR", None)
        else:
            os.environ["ECOM_DATA_DIR"] = previous
        if cleanup:
            cleanup()


def pipeline_env(monkeypatch, tmp_path: Path, shop: SimShop,  # type: ignore[no-untyped-def]
                 lake_catalog: str | None = None) -> PipelineSettings:
    """A fresh data dir for the warehouse and Dagster, reading the shop's store and landing files;
    the warehouse a DuckLake on `lake_catalog` when given, else a DuckDB file in the data dir."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "landing").symlink_to(shop.home / "landing")
    (data / "pii.keys.json").symlink_to(shop.home / "pii.keys.json")
    monkeypatch.setenv("ECOM_DATA_DIR", str(data))
    monkeypatch.setenv("OPS_STORE_URL", shop.url)
    # In this process: the quickest for a small shop (test_pipeline_runs.py runs the multiprocess one).
    monkeypatch.setenv("ECOM_PIPELINE_EXECUTOR", "in_process")
    return use_warehouse(monkeypatch, data, lake_catalog)


def use_warehouse(monkeypatch, folder: Path, lake_catalog: str | None = None) -> PipelineSettings:  # type: ignore[no-untyped-def]
    """Point the pipeline at a new warehouse: a DuckDB file in `folder`, or (a catalog database
    given) a DuckLake with its Parquet files in `folder`/lake."""
    if lake_catalog:
        monkeypatch.setenv("ECOM_WAREHOUSE", "ducklake")
        monkeypatch.setenv("ECOM_DUCKLAKE_CATALOG", lake_catalog)
        monkeypatch.setenv("ECOM_DUCKLAKE_DATA_PATH", str(folder / "lake"))
        monkeypatch.delenv("ECOM_WAREHOUSE_PATH", raising=False)
    else:
        monkeypatch.setenv("ECOM_WAREHOUSE", "file")
        monkeypatch.setenv("ECOM_WAREHOUSE_PATH", str(folder / "warehouse.duckdb"))
        monkeypatch.delenv("ECOM_DUCKLAKE_CATALOG", raising=False)
        monkeypatch.delenv("ECOM_DUCKLAKE_DATA_PATH", raising=False)
    return PipelineSettings()


@contextmanager
def lake_catalogs(pg_server: str) -> Iterator[Callable[[], str]]:
    """A maker of new, empty PostgreSQL databases for DuckLake catalogs, on the server of
    `pg_server` (a URL); every database made is dropped at the end."""
    admin = create_engine(make_url(pg_server).set(database="postgres").difference_update_query(["options"]),
                          isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def new() -> str:
        name = f"ecom_lake_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return make_url(pg_server).set(database=name).difference_update_query(["options"]).render_as_string(
            hide_password=False)

    try:
        yield new
    finally:
        if made:
            with admin.connect() as conn:
                for name in made:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def another_warehouse(monkeypatch, folder: Path, shop: SimShop,  # type: ignore[no-untyped-def]
                      lake_catalog: Callable[[], str]) -> PipelineSettings:
    """A second, empty warehouse of the shop's form for the pipeline to write from now on."""
    return use_warehouse(monkeypatch, folder, lake_catalog() if shop.warehouse == "ducklake" else None)


def warehouse_untouched(settings: PipelineSettings) -> bool:
    """Nothing was ever written: no file, or a catalog database without any table."""
    if settings.warehouse_mode == "file":
        return not settings.warehouse_path.exists()
    with psycopg.connect(catalog_conninfo(settings)) as conn:
        return conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0] == 0


def warehouse_rows(settings: PipelineSettings, sql: str) -> list[tuple]:
    """A query's rows on the warehouse itself (its latest state, either form), read-only."""
    con = open_warehouse(settings, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def checksums(settings: PipelineSettings) -> dict[str, tuple[int, int]]:
    """Row count and an order-independent hash of every raw table and of the watermarks."""
    con = open_warehouse(settings, read_only=True)
    try:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = 'raw' ORDER BY 1").fetchall()]
        sums = {t: con.execute(f"SELECT count(*), coalesce(sum(hash(t)), 0) FROM raw.{t} AS t").fetchone()
                for t in tables}
        sums["meta.watermarks"] = con.execute(
            "SELECT count(*), coalesce(sum(hash(table_name, watermark_at, watermark_id, columns)), 0) "
            "FROM meta.watermarks").fetchone()
        return {k: tuple(v) for k, v in sums.items()}
    finally:
        con.close()


def order_document(store: Store, ref: str, qty: int = 1) -> dict[str, object]:
    """A new order for the simulated shop: its first merchant's best-stocked product."""
    with store.read() as session:
        product, merchant = session.execute(
            select(Product.sku, Merchant.code).join(Merchant, Merchant.id == Product.merchant_id)
            .join(StockLevel, StockLevel.product_id == Product.id)
            .where(Product.active.is_(True)).order_by((StockLevel.on_hand - StockLevel.reserved).desc())
        ).first()
        customer = session.scalar(select(Customer.customer_ref).where(Customer.erased_at.is_(None)).limit(1))
        option = session.scalar(select(DeliveryOption.code).where(DeliveryOption.active.is_(True)).limit(1))
    return {"channel": "web", "channel_order_ref": ref, "merchant": merchant, "customer_ref": customer,
            "lines": [{"sku": product, "qty": qty}], "delivery_option": option,
            "payment": {"method": "card", "token": "tok_ok", "brand": "visa", "last4": "4242"}}


def day_before(day: date, n: int = 1) -> date:
    return day - timedelta(days=n)


def landing_events(day: date, n: int, first_id: int = 1) -> pl.DataFrame:
    """n product views of one day, a minute apart, as a clickstream landing file holds them."""
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    return pl.DataFrame({
        "event_id": list(range(first_id, first_id + n)), "session_id": [i // 3 for i in range(n)],
        "customer_ref": [None] * n, "device": ["desktop"] * n, "channel": ["web"] * n,
        "event_type": ["product_view"] * n, "sku": ["SKU-1"] * n, "order_ref": [None] * n,
        "ts": [start + timedelta(minutes=i) for i in range(n)],
    })
