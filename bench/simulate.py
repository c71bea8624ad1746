"""Simulator throughput on SQLite and PostgreSQL, against a plain bulk-write baseline.

For each backend a fresh store is migrated and ``ecom simulate`` runs at --orders (default
100000). Printed: rows/s over the whole run and per phase, rows/s per table written, and a
baseline measured right after in the same database: the same number of rows of a simple
four-column table (integer, integer, text, integer) written by a plain ``executemany`` on
SQLite or a plain ``COPY`` on PostgreSQL, in one transaction. ``ratio`` = baseline rows/s
divided by the simulator's write rows/s: what the store's column types, conversions and
constraints cost over the cheapest possible write.

SQLite: a fresh file under $ECOM_DATA_DIR/bench/ (default ./data/bench/).
PostgreSQL: a throwaway database ``ecom_simbench_<pid>`` on --pg-server, dropped at the end.

    .venv/bin/python bench/simulate.py                       # 100000 orders, both backends
    .venv/bin/python bench/simulate.py --orders 1000000 --backends sqlite
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.throwaway_db import pg_database  # noqa: E402
from ops_store.db import Store  # noqa: E402
from ops_store.migrate import upgrade  # noqa: E402
from ops_store.settings import StoreSettings  # noqa: E402
from ops_store.simulate.config import SimConfig  # noqa: E402
from ops_store.simulate.run import simulate  # noqa: E402

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@contextmanager
def sqlite_url(data_dir: Path) -> Iterator[str]:
    folder = data_dir / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"simulate-{os.getpid()}.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    try:
        yield f"sqlite:///{path}"
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def baseline(store: Store, rows: int) -> float:
    """Rows/s of the cheapest bulk write of ``rows`` simple rows on this backend."""
    data = [(i, i * 7, f"row-{i}", i % 97) for i in range(rows)]
    with store.engine.begin() as conn:
        conn.execute(text("CREATE TABLE bench_plain (a BIGINT, b BIGINT, c TEXT, d INTEGER)"))
    began = time.perf_counter()
    with store.engine.begin() as conn:
        raw = conn.connection.driver_connection
        if store.is_postgres:
            with raw.cursor() as cur, cur.copy("COPY bench_plain (a, b, c, d) FROM STDIN") as copy:
                for row in data:
                    copy.write_row(row)
        else:
            cur = raw.cursor()
            cur.executemany("INSERT INTO bench_plain (a, b, c, d) VALUES (?, ?, ?, ?)", data)
            cur.close()
    elapsed = time.perf_counter() - began
    with store.engine.begin() as conn:
        conn.execute(text("DROP TABLE bench_plain"))
    return rows / elapsed


def measure(url: str, cfg: SimConfig, landing_dir: Path, baseline_rows: int | None = None) -> dict[str, Any]:
    """Migrate the store at ``url``, simulate into it and measure the baseline right after.

    ``baseline_rows`` caps the rows of the baseline write (its rate barely depends on the count,
    and 28M Python tuples would cost more memory than the simulator itself); the default writes
    as many rows as the simulator did."""
    store = Store(url)
    try:
        upgrade(store)
        began = time.perf_counter()
        report = simulate(store, cfg, landing_dir)
        wall = time.perf_counter() - began
        written = sum(v for k, v in report.rows.items() if not k.startswith("landing:"))
        base = baseline(store, min(written, baseline_rows or written))
        return {"backend": "postgresql" if store.is_postgres else "sqlite", "seconds": wall, "written": written,
                "write_seconds": report.phases["write store"], "baseline_rows_s": base, "info": report.info,
                "phases": dict(report.phases), "rows": dict(report.rows), "table_seconds": dict(report.table_seconds)}
    finally:
        store.dispose()


def run_backend(name: str, url: str, cfg: SimConfig, data_dir: Path) -> None:
    m = measure(url, cfg, data_dir / "bench" / f"landing-{name}")
    info, wall, written, write_s, base = m["info"], m["seconds"], m["written"], m["write_seconds"], m["baseline_rows_s"]
    print(f"\n== {name}: {info['orders']:,} orders, {info['order_lines']:,} lines, "
          f"{info['customers']:,} customers, {info['products']:,} SKUs, "
          f"{info['merchants']} merchants, {m['rows'].get('landing:events', 0):,} events")
    print(f"total      {wall:8.1f} s  {written / wall:12,.0f} store rows/s over the whole run")
    for phase, seconds in m["phases"].items():
        rows = written if phase == "write store" else None
        extra = f"{rows / seconds:12,.0f} rows/s" if rows else ""
        print(f"  {phase:<18} {seconds:8.1f} s  {extra}")
    print(f"write      {written:,} rows in {write_s:.1f} s = {written / write_s:,.0f} rows/s")
    print(f"baseline   plain {'COPY' if m['backend'] == 'postgresql' else 'executemany'} of {written:,} simple rows: "
          f"{base:,.0f} rows/s; ratio baseline / simulator write = {base / (written / write_s):.1f}")
    print("  per table (rows, rows/s):")
    for table, n in sorted(m["rows"].items(), key=lambda kv: -kv[1]):
        if table.startswith("landing:") or not n:
            continue
        seconds = m["table_seconds"].get(table, 0.0) or 1e-9
        print(f"    {table:<24} {n:>10,} {n / seconds:12,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-server", default=PG_SERVER)
    args = parser.parse_args()
    data_dir = StoreSettings().ensure_data_dir()
    cfg = SimConfig(orders=args.orders, days=args.days, seed=args.seed, end=date(2026, 6, 30))
    for backend in args.backends.split(","):
        if backend == "sqlite":
            with sqlite_url(data_dir) as url:
                run_backend("sqlite", url, cfg, data_dir)
        elif backend == "postgresql":
            with pg_database(args.pg_server, "ecom_simbench") as url:
                run_backend("postgresql", url, cfg, data_dir)
        else:
            raise SystemExit(f"unknown backend {backend}")


if __name__ == "__main__":
    main()
