"""Full load of the operational store into the DuckDB warehouse, on SQLite and on PostgreSQL, in rows per
second, against a plain pandas baseline measured in the same run.

For each backend a fresh store is migrated and filled by the simulator (``--orders``, default 200000), then:

  ours      a new warehouse file; ``StoreSource.attach`` + ``ensure_meta`` + ``load_table(full=True)`` for
            every table of ``table_specs()``. Rows/s = rows loaded over all tables / wall seconds of the
            whole loop, the attach included.
  baseline  for the same tables and the same kept columns, ``pandas.read_sql`` through a SQLAlchemy engine,
            then ``CREATE OR REPLACE TABLE <t> AS SELECT * FROM df`` into a scratch DuckDB file (the rows
            must land in DuckDB too). Same timing: wall seconds of the whole loop.

``ratio`` = ours rows/s / baseline rows/s (above 1: ours is faster). The goal is on ours alone:
PostgreSQL >= 1,000,000 rows/s, SQLite >= 500,000 rows/s. The slowest tables of ours are listed too.

Everything is written under a temporary data dir (ECOM_DATA_DIR), removed at the end unless ``--keep DIR``
(then DIR is the data dir and the SQLite store and the DuckDB files stay there). PostgreSQL: a throwaway
database ``ecom_bench_ingest_<pid>`` on the server of --pg-url, dropped at the end (WITH (FORCE)).

    .venv/bin/python bench/ingest.py                                   # 200000 orders, both backends
    .venv/bin/python bench/ingest.py --orders 20000 --backend sqlite --json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
from sqlalchemy import create_engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.throwaway_db import pg_database  # noqa: E402

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
GOALS = {"postgresql": 1_000_000, "sqlite": 500_000}  # rows/s of ours
SLOWEST = 8  # tables listed per backend


def sqlite_store(data_dir: Path) -> str:
    path = data_dir / "store-ingest.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"


def fresh_duckdb(path: Path) -> Path:
    for suffix in ("", ".wal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


def fill_store(backend: str, url: str, orders: int, data_dir: Path) -> dict[str, Any]:
    """Migrate the store and run the simulator into it; returns the simulator's info."""
    from ops_store.db import Store
    from ops_store.migrate import upgrade
    from ops_store.simulate.config import SimConfig
    from ops_store.simulate.run import simulate

    store = Store(url)
    try:
        upgrade(store)
        began = time.perf_counter()
        report = simulate(store, SimConfig(orders=orders, end=date(2026, 6, 30)), data_dir / f"sim-{backend}")
        written = sum(v for k, v in report.rows.items() if not k.startswith("landing:"))
        print(f"  simulated {report.info['orders']:,} orders, {report.info['order_lines']:,} lines, "
              f"{written:,} store rows in {time.perf_counter() - began:.1f} s")
        return report.info
    finally:
        store.dispose()


def ours(url: str, warehouse: Path, extension_dir: Path) -> tuple[float, list[Any]]:
    """Wall seconds of attach + full load of every table, and the per-table results."""
    from pipelines.extract import StoreSource, ensure_meta, load_table
    from pipelines.store_tables import table_specs
    from pipelines.warehouse import connect

    specs = table_specs()
    con = connect(fresh_duckdb(warehouse), extension_dir=extension_dir)
    try:
        began = time.perf_counter()
        source = StoreSource.attach(con, url)
        ensure_meta(con)
        con.execute("CREATE SCHEMA IF NOT EXISTS raw")
        results = [load_table(con, source, spec, full=True) for spec in specs]
        took = time.perf_counter() - began
    finally:
        con.close()
    return took, results


def baseline(url: str, scratch: Path, limit: int | None = None,
             per_table: dict[str, float] | None = None) -> tuple[float, dict[str, int]]:
    """Wall seconds of pandas.read_sql + CREATE TABLE AS in DuckDB for every table, and the rows per table
    (at most ``limit`` rows of each: pandas' rate barely depends on the count, and a large shop's whole
    tables would take it many minutes and gigabytes). ``per_table`` gets each table's seconds."""
    from pipelines.store_tables import table_specs

    specs = table_specs()
    engine = create_engine(url)
    con = duckdb.connect(str(fresh_duckdb(scratch)))
    rows: dict[str, int] = {}
    cap = f" LIMIT {int(limit)}" if limit else ""
    try:
        began = time.perf_counter()
        for spec in specs:
            started = time.perf_counter()
            cols = ", ".join(f'"{name}"' for name in spec.column_names)
            df = pd.read_sql(f'SELECT {cols} FROM "{spec.name}"{cap}', engine)
            con.register("df", df)
            con.execute(f'CREATE OR REPLACE TABLE "{spec.name}" AS SELECT * FROM df')
            con.unregister("df")
            rows[spec.name] = len(df)
            if per_table is not None:
                per_table[spec.name] = time.perf_counter() - started
        took = time.perf_counter() - began
    finally:
        con.close()
        engine.dispose()
    return took, rows


def run_backend(backend: str, url: str, orders: int, data_dir: Path) -> dict[str, Any]:
    print(f"{backend} ...")
    info = fill_store(backend, url, orders, data_dir)
    ours_s, results = ours(url, data_dir / f"warehouse-{backend}.duckdb", data_dir / "duckdb_extensions")
    base_s, base_rows = baseline(url, data_dir / f"baseline-{backend}.duckdb")
    rows = sum(r.rows_total for r in results)
    mismatch = {r.table: (r.rows_total, base_rows.get(r.table)) for r in results
                if r.rows_total != base_rows.get(r.table)}
    if mismatch:
        raise SystemExit(f"{backend}: ours and the baseline loaded different row counts: {mismatch}")
    ours_rate, base_rate = rows / ours_s, rows / base_s
    return {
        "backend": backend, "orders": info["orders"], "tables": len(results), "rows": rows,
        "ours_s": round(ours_s, 3), "ours_rows_s": round(ours_rate), "baseline_s": round(base_s, 3),
        "baseline_rows_s": round(base_rate), "ratio": round(ours_rate / base_rate, 2),
        "goal_rows_s": GOALS[backend], "goal_met": ours_rate >= GOALS[backend],
        "per_table": {r.table: {"rows": r.rows_total, "seconds": round(r.seconds, 4)} for r in results},
    }


def report(result: dict[str, Any]) -> None:
    backend, rows = result["backend"], result["rows"]
    print(f"\n== {backend}: {result['orders']:,} orders, {result['tables']} tables, {rows:,} rows")
    print(f"{'':<10}{'rows':>12}{'seconds':>10}{'rows/s':>14}")
    print(f"{'ours':<10}{rows:>12,}{result['ours_s']:>10.2f}{result['ours_rows_s']:>14,}")
    print(f"{'baseline':<10}{rows:>12,}{result['baseline_s']:>10.2f}{result['baseline_rows_s']:>14,}")
    print(f"ratio ours / baseline = {result['ratio']:.2f}")
    verdict = "met" if result["goal_met"] else "NOT met"
    print(f"goal {result['goal_rows_s']:,} rows/s: {verdict} ({result['ours_rows_s']:,} rows/s)")
    tables = sorted(result["per_table"].items(), key=lambda kv: -kv[1]["seconds"])[:SLOWEST]
    spent = sum(t["seconds"] for t in result["per_table"].values())
    print(f"  slowest tables of ours ({spent:.2f} s in load_table, "
          f"{result['ours_s'] - spent:.2f} s attach and set-up):")
    for name, t in tables:
        rate = t["rows"] / t["seconds"] if t["seconds"] else 0.0
        print(f"    {name:<24}{t['rows']:>10,}{t['seconds']:>8.2f} s{rate:>12,.0f} rows/s"
              f"{100 * t['seconds'] / spent:>6.0f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--pg-url", default=PG_SERVER)
    parser.add_argument("--keep", type=Path, help="data dir to use and keep (default: a temporary one, removed)")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        data_dir = args.keep.resolve()
    else:
        data_dir = Path(tempfile.mkdtemp(prefix="ecom_bench_ingest_"))
    os.environ["ECOM_DATA_DIR"] = str(data_dir)  # before any settings-dependent code runs
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    results = []
    try:
        for backend in backends:
            if backend == "sqlite":
                results.append(run_backend(backend, sqlite_store(data_dir), args.orders, data_dir))
            else:
                with pg_database(args.pg_url, "ecom_bench_ingest") as url:
                    results.append(run_backend(backend, url, args.orders, data_dir))
    finally:
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    for result in results:
        report(result)
    print("\nours = attach + load_table(full=True) per table; baseline = pandas.read_sql + DuckDB CREATE TABLE AS; "
          "ratio = ours rows/s / baseline rows/s")
    if args.json:
        print(json.dumps({"orders": args.orders, "results": results}))


if __name__ == "__main__":
    main()
