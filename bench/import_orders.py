"""Bench `ecom import orders`: a synthetic file of N order lines (default 1,000,000) imported into
SQLite and into PostgreSQL, in lines per second, against a baseline measured in the same run:
polars reads the same file and the bulk writer copies the raw lines into a scratch table (no
validation, no orders, events or payments). The ratio says what validation and the full order
model cost on top of moving the bytes.

    .venv/bin/python bench/import_orders.py [--lines N] [--pg URL] [--no-pg]

PostgreSQL: a throwaway database is created on the server of --pg (default
postgresql+psycopg://postgres@127.0.0.1:5432/postgres) and dropped afterwards."""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
from sqlalchemy import Column, Integer, String, Table, create_engine, text
from sqlalchemy.engine import make_url

from ops_store import bulk
from ops_store.db import Store
from ops_store.importer import import_file
from ops_store.migrate import upgrade
from ops_store.models import Base
from ops_store.services import catalog
from ops_store.types import Money

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SKUS = 2_000
SCRATCH = "bench_raw_lines"


def make_file(path: Path, lines: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    prices = [Decimal(rng.randint(199, 19_999)) / 100 for _ in range(SKUS)]
    start = date(2023, 1, 1)
    customers = max(lines // 10, 1)
    out = ["order_ref,customer_ref,ordered_at,sku,quantity,unit_price"]
    n, order = 0, 0
    while n < lines:
        order += 1
        cust = f"C{rng.randrange(customers):07d}"
        day = (start + timedelta(days=rng.randrange(700))).isoformat()
        for sku in rng.sample(range(SKUS), min(rng.choice((1, 1, 2, 3, 4)), lines - n)):
            out.append(f"O{order:08d},{cust},{day},S{sku:05d},{rng.randint(1, 5)},{prices[sku]}")
            n += 1
    path.write_text("\n".join(out) + "\n")


def prepare(store: Store) -> None:
    upgrade(store)
    catalog.add_merchant(store, "M1", "Bench shop")
    now = pl.datetime(2025, 1, 1, time_zone="UTC")
    frame = pl.DataFrame({"sku": [f"S{i:05d}" for i in range(SKUS)]}).select(
        pl.lit(1).alias("merchant_id"), "sku", pl.col("sku").alias("name"), pl.lit("bench").alias("category"),
        pl.lit("10.00").alias("price"), pl.lit("5.0000").alias("unit_cost"), pl.lit("USD").alias("currency"),
        pl.lit(True).alias("active"), now.alias("created_at"), now.alias("updated_at"))
    with store.engine.begin() as conn:
        bulk.insert_rows(conn, "products", frame.columns, frame.iter_rows())


def scratch_table() -> Table:
    if SCRATCH in Base.metadata.tables:
        return Base.metadata.tables[SCRATCH]
    return Table(SCRATCH, Base.metadata, Column("id", Integer, primary_key=True), Column("order_ref", String(100)),
                 Column("customer_ref", String(100)), Column("ordered_at", String(40)), Column("sku", String(64)),
                 Column("quantity", Integer), Column("unit_price", Money()))


def baseline(store: Store, path: Path) -> float:
    """Polars read + bulk writer of the raw lines into a scratch table."""
    tbl = scratch_table()
    tbl.create(store.engine)
    began = time.perf_counter()
    frame = pl.read_csv(path, schema_overrides={"unit_price": pl.String, "quantity": pl.Int64})
    columns = ["order_ref", "customer_ref", "ordered_at", "sku", "quantity", "unit_price"]
    with store.engine.begin() as conn:
        for start in range(0, frame.height, 50_000):
            bulk.insert_rows(conn, SCRATCH, columns, frame.slice(start, 50_000).select(columns).iter_rows())
    took = time.perf_counter() - began
    tbl.drop(store.engine)
    return took


def lines_for_orders(orders: int) -> int:
    """Lines of a ``make_file`` file holding about ``orders`` orders (1-4 lines each, 2.2 on average)."""
    return max(round(orders * 2.2), 1)


def measure(store: Store, path: Path, lines: int) -> dict[str, float]:
    """Seconds of the baseline, the import and a re-import (all skipped) of the file, into a fresh store."""
    prepare(store)
    base = baseline(store, path)
    began = time.perf_counter()
    result = import_file(store, "orders", path, merchant="M1")
    took = time.perf_counter() - began
    assert result.accepted == lines and result.rejected == 0, result
    again = time.perf_counter()
    repeat = import_file(store, "orders", path, merchant="M1")
    assert repeat.skipped == lines and repeat.accepted == 0
    return {"baseline_s": base, "import_s": took, "reimport_s": time.perf_counter() - again,
            "orders": result.details.get("orders", 0)}


def _report(figures: dict[str, float]) -> tuple[float, float]:
    print(f"  re-import (all skipped) took {figures['reimport_s']:.1f} s")
    return figures["baseline_s"], figures["import_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--pg", default=PG_SERVER)
    parser.add_argument("--no-pg", action="store_true")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("ECOM_DATA_DIR", tmp)
        path = Path(tmp) / "orders.csv"
        began = time.perf_counter()
        make_file(path, args.lines)
        print(f"generated {args.lines:,} order lines in {time.perf_counter() - began:.1f} s "
              f"({path.stat().st_size / 1e6:.0f} MB)")
        store = Store(f"sqlite:///{Path(tmp) / 'bench.sqlite'}")
        print("sqlite ...")
        results.append(("sqlite", _report(measure(store, path, args.lines))))
        store.dispose()
        if not args.no_pg:
            name = f"ecom_bench_{uuid.uuid4().hex[:8]}"
            admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            try:
                store = Store(make_url(args.pg).set(database=name).render_as_string(hide_password=False))
                print("postgresql ...")
                results.append(("postgresql", _report(measure(store, path, args.lines))))
                store.dispose()
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
    print()
    print(f"{'backend':<12}{'lines':>11}{'baseline s':>12}{'baseline l/s':>14}{'import s':>10}{'import l/s':>12}"
          f"{'ratio':>8}")
    for backend, (base, took) in results:
        print(f"{backend:<12}{args.lines:>11,}{base:>12.1f}{args.lines / base:>14,.0f}{took:>10.1f}"
              f"{args.lines / took:>12,.0f}{took / base:>8.2f}")
    print("ratio = import time / baseline time (polars read + bulk copy of the raw lines, no validation)")


if __name__ == "__main__":
    main()
