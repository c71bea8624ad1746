"""A year of clickstream landing files into an empty warehouse, the way the pipeline's backfill
loads them, against DuckDB reading the same files straight into a table, measured in the same run.

Steps: simulate ``--orders`` into a SQLite store under a temporary data dir (or take the landing
files of ``--data-dir``, e.g. one written by ``ecom simulate``), then, each ``--rounds`` times
into a fresh DuckDB file:

  batched   ``load_events_days`` as the pipeline runs it: every file read and checked, bad rows
            quarantined, consecutive days committed together up to EVENTS_ROWS_PER_COMMIT rows.
  per day   the same with one commit per day (EVENTS_ROWS_PER_COMMIT = 1), what it did before.
  baseline  ``CREATE TABLE AS SELECT * FROM read_parquet(every events file)``: no checks, no
            quarantine, no file records; the floor of any load of these files.

Each figure is the best of the rounds (the first round also warms the page cache). Ratio = time /
baseline time.

    .venv/bin/python bench/landing_events.py --orders 300000
    .venv/bin/python bench/landing_events.py --data-dir data --rounds 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb  # noqa: E402

from pipelines import landing_load  # noqa: E402


def simulate_landing(data_dir: Path, orders: int) -> None:
    from ops_store.db import Store
    from ops_store.migrate import upgrade
    from ops_store.simulate.config import SimConfig
    from ops_store.simulate.run import simulate

    store = Store(f"sqlite:///{data_dir / 'store.sqlite'}")
    upgrade(store)
    simulate(store, SimConfig(orders=orders, end=date(2026, 6, 30)), data_dir)
    store.dispose()


def best_of(rounds: int, scratch: Path, load: Callable[[duckdb.DuckDBPyConnection], int]) -> tuple[float, int]:
    """The quickest of `rounds` loads into a fresh file (checkpointed, so the data is on disk)."""
    times, rows = [], 0
    for _ in range(rounds):
        for leftover in (scratch, scratch.with_name(scratch.name + ".wal")):
            leftover.unlink(missing_ok=True)
        with duckdb.connect(str(scratch)) as con:
            began = time.perf_counter()
            rows = load(con)
            con.execute("CHECKPOINT")
            times.append(time.perf_counter() - began)
    return min(times), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=300_000, help="shop size to simulate (without --data-dir)")
    parser.add_argument("--data-dir", type=Path, help="a data dir whose landing/events files to load")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ecom-bench-landing-"))
    try:
        data_dir = args.data_dir
        if data_dir is None:
            data_dir = work / "data"
            os.environ["ECOM_DATA_DIR"] = str(data_dir)
            print(f"simulating {args.orders:,} orders ...", flush=True)
            simulate_landing(data_dir, args.orders)
        landing = data_dir / "landing"
        days = sorted(date.fromisoformat(folder.name[3:]) for folder in (landing / "events").glob("dt=*"))
        if not days:
            raise SystemExit(f"no clickstream files under {landing / 'events'}: run `ecom simulate` first")
        scratch = work / "warehouse.duckdb"

        def ours(con: duckdb.DuckDBPyConnection) -> int:
            return sum(day.rows_loaded for day in landing_load.load_events_days(con, landing, days))

        def floor(con: duckdb.DuckDBPyConnection) -> int:
            files = str(landing / "events" / "dt=*" / "*.parquet")
            con.execute("CREATE TABLE events AS SELECT * FROM read_parquet(?)", [files])
            return int(con.execute("SELECT count(*) FROM events").fetchone()[0])  # type: ignore[index]

        batched_s, rows = best_of(args.rounds, scratch, ours)
        budget = landing_load.EVENTS_ROWS_PER_COMMIT
        landing_load.EVENTS_ROWS_PER_COMMIT = 1
        per_day_s, _ = best_of(args.rounds, scratch, ours)
        landing_load.EVENTS_ROWS_PER_COMMIT = budget
        baseline_s, baseline_rows = best_of(args.rounds, scratch, floor)
        print(f"\n{len(days)} days, {rows:,} events loaded ({baseline_rows:,} in the files), best of {args.rounds}")
        print(f"{'':<28}{'seconds':>9}{'rows/s':>12}{'ratio':>8}")
        for name, seconds in ((f"batched (<= {budget:,} rows)", batched_s), ("per day (one commit a day)", per_day_s),
                              ("baseline (read_parquet)", baseline_s)):
            print(f"{name:<28}{seconds:>9.2f}{rows / seconds:>12,.0f}{seconds / baseline_s:>8.2f}")
        print(f"batched / per day = {batched_s / per_day_s:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
