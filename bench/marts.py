"""`dbt build` (models and tests) on the warehouse of a simulated shop, time per layer and in
total, against a hand-written baseline measured in the same run.

Steps: simulate ``--orders`` into a SQLite store (skipped with ``--reuse DIR`` holding a store
and warehouse from an earlier run), load every store table and landing file into the DuckDB
warehouse, then time ``dbt parse`` and one whole ``dbt build`` (models and tests), and break the
build down by layer (staging, intermediate, marts, tests) from dbt's own per-node timings.
Baseline: one hand-written DuckDB statement that computes the day x product x channel sales
table straight from raw (the least work any modelling of sales must do); ratio = the whole dbt
build / the baseline. Goal: the build under a minute at 1M orders.

    .venv/bin/python bench/marts.py --orders 1000000 --keep /tmp/marts1m
    .venv/bin/python bench/marts.py --reuse /tmp/marts1m          # the build again on that warehouse
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LAYERS = ("staging", "intermediate", "marts", "tests")
BASELINE_SQL = """
CREATE OR REPLACE TABLE main.baseline_daily_sales AS
SELECT CAST(o.placed_at AS DATE) AS day, l.product_id, o.channel,
       count(DISTINCT o.id) AS orders, sum(l.quantity) AS units,
       sum(l.quantity * l.unit_price) AS gross_sales, sum(l.discount) AS discounts,
       sum(l.quantity * coalesce(l.unit_cost, p.unit_cost)) AS cogs
FROM raw.order_lines l JOIN raw.orders o ON o.id = l.order_id JOIN raw.products p ON p.id = l.product_id
WHERE o.status <> 'cancelled'
GROUP BY ALL
"""


def build_shop(data_dir: Path, orders: int) -> dict[str, float]:
    """Simulate into a SQLite store and load it into the warehouse; seconds per step."""
    from ops_store.db import Store
    from ops_store.migrate import upgrade
    from ops_store.simulate.config import SimConfig
    from ops_store.simulate.run import simulate
    from pipelines.assets_landing import event_days, landing_files
    from pipelines.extract import StoreSource, ensure_meta, load_table
    from pipelines.landing_load import ensure_landing_tables, load_competitor_file, load_events_days
    from pipelines.settings import PipelineSettings
    from pipelines.store_tables import table_specs
    from pipelines.warehouse import writer

    seconds: dict[str, float] = {}
    store = Store(f"sqlite:///{data_dir / 'store.sqlite'}")
    upgrade(store)
    began = time.perf_counter()
    simulate(store, SimConfig(orders=orders, days=365, seed=42), data_dir)
    seconds["simulate"] = time.perf_counter() - began
    store.dispose()
    settings = PipelineSettings()
    began = time.perf_counter()
    with writer(settings) as con:
        ensure_meta(con)
        ensure_landing_tables(con)
        source = StoreSource.attach(con, f"sqlite:///{data_dir / 'store.sqlite'}")
        for spec in table_specs():
            load_table(con, source, spec, full=True)
        load_events_days(con, settings.landing_dir, [date.fromisoformat(day) for day in event_days(settings)])
        for path in landing_files(settings, "competitor_prices"):
            load_competitor_file(con, path)
    seconds["ingest"] = time.perf_counter() - began
    return seconds


def dbt(args: list[str], env: dict[str, str]) -> float:
    from pipelines.dbt_assets import DBT_DIR

    began = time.perf_counter()
    done = subprocess.run([str(Path(sys.executable).with_name("dbt")), *args, "--project-dir", str(DBT_DIR),
                           "--profiles-dir", str(DBT_DIR), "--target-path", env["BENCH_TARGET_PATH"]],
                          env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"dbt {' '.join(args)} failed:\n{done.stdout[-4000:]}")
    return time.perf_counter() - began


def _layer(unique_id: str) -> str:
    kind, _, name = unique_id.split(".", 2)
    if kind != "model":
        return "tests"
    return "staging" if name.startswith("stg_") else "intermediate" if name.startswith("int_") else "marts"


def time_build(data_dir: Path) -> dict[str, float]:
    import duckdb

    from pipelines.dbt_assets import dbt_env
    from pipelines.settings import PipelineSettings

    settings = PipelineSettings()
    env = {**os.environ, **dbt_env(settings), "BENCH_TARGET_PATH": str(data_dir / "dbt" / "target")}
    seconds = {"parse": dbt(["parse"], env)}
    # the marts on model outputs (source ml) need the model assets: bench/models.py times those;
    # dbt's unit tests are left out, as in the pipeline's builds (they do not depend on the data)
    seconds["dbt build"] = dbt(["build", "--exclude", "source:ml+", "--exclude-resource-type", "unit_test"], env)
    # Per layer: the build's own timings of each node (run_results.json); with 2 threads they add up
    # to more than the wall time.
    results = json.loads((Path(env["BENCH_TARGET_PATH"]) / "run_results.json").read_text())["results"]
    for result in results:
        layer = _layer(result["unique_id"])
        seconds[layer] = seconds.get(layer, 0.0) + result["execution_time"]
    con = duckdb.connect(str(settings.warehouse_path))
    began = time.perf_counter()
    con.execute(BASELINE_SQL)
    seconds["baseline"] = time.perf_counter() - began
    seconds["orders"] = con.execute("SELECT count(*) FROM raw.orders").fetchone()[0]
    seconds["rows_in_marts"] = con.execute("SELECT sum(estimated_size) FROM duckdb_tables() "
                                           "WHERE schema_name = 'marts'").fetchone()[0]
    con.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="data dir to use and keep (default: temporary, removed)")
    parser.add_argument("--reuse", type=Path, help="a data dir from an earlier --keep run: only time the build")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    data_dir = (args.reuse or args.keep or Path(tempfile.mkdtemp(prefix="ecom_bench_marts_"))).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["ECOM_DATA_DIR"] = str(data_dir)
    os.environ.pop("ECOM_WAREHOUSE_PATH", None)
    try:
        figures = {} if args.reuse else build_shop(data_dir, args.orders)
        figures.update(time_build(data_dir))
    finally:
        if not (args.keep or args.reuse):
            shutil.rmtree(data_dir, ignore_errors=True)
    print(f"warehouse of {figures['orders']:,} orders; {figures['rows_in_marts']:,} rows in the marts")
    for step in ("simulate", "ingest", "parse", "dbt build", *LAYERS, "baseline"):
        if step in figures:
            label = f"  {step}" if step in LAYERS else step
            print(f"  {label:<16}{figures[step]:>9.2f} s")
    ratio = figures["dbt build"] / figures["baseline"]
    print(f"ratio dbt build / baseline (one hand-written daily-sales statement) = {ratio:.1f}")
    verdict = "met" if figures["dbt build"] < 60 else "NOT met"
    print(f"goal: dbt build under 60 s: {verdict} ({figures['dbt build']:.1f} s)")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
