"""Order placement throughput on SQLite and PostgreSQL, against a plain-insert baseline.

For each backend and thread count, a fresh store is migrated and stocked through the services,
then N orders (1 to 3 lines of random SKUs, method bank_transfer by default, so no provider
call) are placed with ``orders.place_order`` from T threads sharing one ``Store``. The baseline,
measured right after on the same database, machine and thread count, inserts N rows into a
simple table through SQLAlchemy Core, one transaction per row. ``ratio`` = baseline rows/s
divided by orders/s: how many plain one-row transactions one order costs.

SQLite: a fresh file under $ECOM_DATA_DIR/bench/ (default ./data/bench/).
PostgreSQL: a throwaway database ``ecom_bench_<pid>`` on --pg-server, dropped at the end.

    .venv/bin/python bench/place_orders.py --orders 2000
    .venv/bin/python bench/place_orders.py --orders 200 --threads 1,4 --backends sqlite
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Column, DateTime, Integer, MetaData, String, create_engine, func, insert, text
from sqlalchemy import Table as CoreTable
from sqlalchemy.engine import make_url

from ops_store.db import Store
from ops_store.errors import DomainError
from ops_store.migrate import upgrade
from ops_store.services import catalog, orders, stock
from ops_store.settings import StoreSettings

DEFAULT_PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PRODUCTS = 20
CUSTOMERS = 200
SEED = 20240601

console = Console()


@dataclass
class Result:
    backend: str
    threads: int
    orders: int
    failed: int
    seconds: float
    baseline_seconds: float

    @property
    def orders_per_s(self) -> float:
        return self.orders / self.seconds

    @property
    def baseline_per_s(self) -> float:
        return self.orders / self.baseline_seconds

    @property
    def ratio(self) -> float:
        return self.baseline_per_s / self.orders_per_s


# --------------------------------------------------------------------------- stores


@contextmanager
def sqlite_stores() -> Iterator[Callable[[str], Store]]:
    """Yields a maker of fresh SQLite stores (one file per run, recreated each time)."""
    folder = StoreSettings().data_dir / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    made: list[Path] = []

    def make(name: str) -> Store:
        path = folder / f"place_orders_{name}.sqlite"
        _remove_sqlite(path)
        made.append(path)
        return Store(f"sqlite:///{path}")

    try:
        yield make
    finally:
        for path in made:
            _remove_sqlite(path)


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


@contextmanager
def postgres_stores(server: str) -> Iterator[Callable[[str], Store]]:
    """Creates the throwaway database ecom_bench_<pid>, yields a maker of fresh stores (one
    schema per run inside it) and drops the database at the end."""
    dbname = f"ecom_bench_{os.getpid()}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{dbname}"'))
    base_url = make_url(server).set(database=dbname)
    db_admin = create_engine(base_url, isolation_level="AUTOCOMMIT")

    def make(name: str) -> Store:
        schema = f"run_{name}"
        with db_admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = base_url.update_query_dict({"options": f"-csearch_path={schema}"})
        return Store(url.render_as_string(hide_password=False))

    try:
        yield make
    finally:
        db_admin.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
        admin.dispose()


# --------------------------------------------------------------------------- workload


def set_up_shop(store: Store, n_orders: int, n_skus: int = PRODUCTS) -> list[str]:
    """Migrate and stock the store through the services; returns the SKUs."""
    upgrade(store)
    catalog.add_warehouse(store, "W1", "Main", priority=1)
    catalog.add_warehouse(store, "W2", "East", priority=2)
    catalog.add_merchant(store, "M1", "Bench Shop", currency="USD", tax_rate="0.2")
    catalog.add_carrier(store, "FAST", "Fast Co")
    catalog.add_delivery_option(store, "standard", kind="standard", name="Standard", carrier="FAST",
                                price="4.90", promised_days=3)
    skus = [f"SKU-{i:04d}" for i in range(1, n_skus + 1)]
    # Enough for every order even if all lines hit one SKU with the largest quantity.
    per_warehouse = n_orders * 3
    for i, sku in enumerate(skus):
        catalog.add_product(store, "M1", sku, f"Product {i}", f"{10 + i % 90}.99", f"{5 + i % 90}.00",
                            category="bench")
        stock.receive_stock(store, sku, "W1", per_warehouse)
        stock.receive_stock(store, sku, "W2", per_warehouse)
    return skus


def order_documents(n: int, skus: list[str], method: str, run: str) -> list[dict[str, Any]]:
    rng = random.Random(SEED)
    docs = []
    for i in range(n):
        lines = [{"sku": sku, "qty": rng.randint(1, 3)} for sku in rng.sample(skus, rng.randint(1, 3))]
        payment: dict[str, Any] = {"method": method}
        if method == "card":
            payment.update(token="tok_ok", brand="visa", last4="4242")
        docs.append({
            "channel": "web", "channel_order_ref": f"BENCH-{run}-{i}", "merchant": "M1",
            "customer_ref": f"C-{rng.randrange(CUSTOMERS)}", "lines": lines, "delivery_option": "standard",
            "payment": payment,
        })
    return docs


def run_threads(items: list[Any], threads: int, work: Callable[[Any], bool], progress: Progress,
                label: str) -> tuple[float, int]:
    """Run ``work`` over the items from ``threads`` threads; returns (seconds, failures)."""
    task = progress.add_task(label, total=len(items))
    chunks = [items[i::threads] for i in range(threads)]
    failures = 0
    lock = threading.Lock()
    start_line = threading.Barrier(threads + 1)

    def worker(chunk: list[Any]) -> None:
        nonlocal failures
        start_line.wait()
        for item in chunk:
            ok = work(item)
            if not ok:
                with lock:
                    failures += 1
            progress.advance(task)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(worker, c) for c in chunks]
        start_line.wait()
        started = time.perf_counter()
        for f in futures:
            f.result()
        elapsed = time.perf_counter() - started
    progress.update(task, description=f"{label} [dim]{elapsed:.2f}s[/]")
    return elapsed, failures


def bench_orders(store: Store, docs: list[dict[str, Any]], threads: int, progress: Progress,
                 label: str) -> tuple[float, int]:
    first_error: list[str] = []

    def place(doc: dict[str, Any]) -> bool:
        try:
            orders.place_order(store, doc)
        except DomainError as exc:
            if not first_error:
                first_error.append(f"{exc.code}: {exc.message}")
            return False
        return True

    seconds, failed = run_threads(docs, threads, place, progress, label)
    if first_error:
        console.print(f"[yellow]{label}: {failed} orders refused, first: {first_error[0]}[/]")
    return seconds, failed


def bench_baseline(store: Store, n: int, threads: int, progress: Progress, label: str) -> float:
    """N plain one-row inserts through SQLAlchemy Core, one transaction each."""
    metadata = MetaData()
    table = CoreTable(
        "bench_baseline", metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("ref", String(100), nullable=False),
        Column("qty", Integer, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.current_timestamp()),
    )
    metadata.create_all(store.engine)
    stmt = insert(table)

    def one(i: int) -> bool:
        with store.engine.begin() as conn:
            conn.execute(stmt, {"ref": f"ROW-{i}", "qty": i % 7 + 1})
        return True

    seconds, _ = run_threads(list(range(n)), threads, one, progress, label)
    with store.engine.connect() as conn:
        rows = conn.scalar(text("SELECT count(*) FROM bench_baseline"))
    if rows != n:
        raise RuntimeError(f"baseline inserted {rows} rows, expected {n}")
    return seconds


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=2000, help="orders per run (default 2000)")
    parser.add_argument("--threads", default="1,4", help="comma-separated thread counts (default 1,4)")
    parser.add_argument("--backends", default="sqlite,postgresql", help="sqlite, postgresql or both")
    parser.add_argument("--method", default="bank_transfer", choices=["bank_transfer", "card"],
                        help="payment method (card: authorised by the in-process fake provider)")
    parser.add_argument("--pg-server", default=DEFAULT_PG_SERVER,
                        help="PostgreSQL server URL (a database there is used to create the throwaway one)")
    args = parser.parse_args(argv)
    args.threads = [int(t) for t in args.threads.split(",") if t.strip()]
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(args.backends) - {"sqlite", "postgresql"}
    if unknown or args.orders < 1 or not args.threads or min(args.threads) < 1:
        parser.error("need --orders >= 1, thread counts >= 1 and backends among sqlite, postgresql")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results: list[Result] = []
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console,
    )
    with progress:
        for backend in args.backends:
            stores = sqlite_stores() if backend == "sqlite" else postgres_stores(args.pg_server)
            with stores as make_store:
                for threads in args.threads:
                    store = make_store(f"t{threads}")
                    try:
                        skus = set_up_shop(store, args.orders)
                        docs = order_documents(args.orders, skus, args.method, f"t{threads}")
                        seconds, failed = bench_orders(store, docs, threads, progress,
                                                       f"{backend:<10} {threads} thr  orders  ")
                        base = bench_baseline(store, args.orders, threads, progress,
                                              f"{backend:<10} {threads} thr  baseline")
                    finally:
                        store.dispose()
                    results.append(Result(backend, threads, args.orders, failed, seconds, base))

    table = Table(title=f"Order placement throughput ({args.method}, {PRODUCTS} SKUs, 1-3 lines per order)")
    for name in ("backend", "threads", "orders", "seconds", "orders/s", "baseline rows/s", "ratio"):
        table.add_column(name, justify="left" if name == "backend" else "right")
    for r in results:
        orders_cell = f"{r.orders}" + (f" ({r.failed} refused)" if r.failed else "")
        table.add_row(r.backend, str(r.threads), orders_cell, f"{r.seconds:.2f}", f"{r.orders_per_s:.0f}",
                      f"{r.baseline_per_s:.0f}", f"{r.ratio:.1f}x")
    console.print(table)
    console.print("ratio = baseline rows/s / orders/s (one-row insert transactions per placed order), "
                  f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    return 1 if any(r.failed for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
