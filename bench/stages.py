"""The stages of bench/run_all.py, each run in its own child process (so its wall time and peak
memory are its own): ``python -m bench.stages STAGE CONTEXT.json RESULT.json``.

Every stage reuses the code of the single benchmark scripts (bench/simulate.py, import_orders.py,
ingest.py, marts.py, models.py, dashboards.py, api.py) and returns one dict, written as JSON:

    seconds           wall seconds of the measured work (interpreter start and imports left out)
    rows, unit        what rows/s counts (orders, store rows, order lines, pages ...)
    baseline          what the stage is compared with, in a few words
    baseline_seconds  the baseline's seconds for the same work, measured in this run
    ratio             seconds / baseline_seconds (above 1: slower than the baseline), unless the
                      stage says otherwise in ``ratio_note``
    notes             one line for the table
    details           anything else (phases, slowest steps, per page ...), for the details section

The environment (ECOM_DATA_DIR, OPS_STORE_URL) is set by the parent; the context holds the rest.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

Context = dict[str, Any]
Result = dict[str, Any]

DAILY_SALES_FLOOR = "one hand-written daily-sales CREATE TABLE AS over raw (bench/marts.py)"


def _end(ctx: Context) -> date:
    return date.fromisoformat(ctx["end"])


def report_week(ctx: Context) -> Any:
    """The last complete week (Monday to Sunday) of the simulated history (it ends the day before ``end``)."""
    from pipelines.reports.periods import period_of

    last_day = _end(ctx) - timedelta(days=1)
    week = period_of("week", last_day)
    return week if week.full_end <= last_day else period_of("week", week.start - timedelta(days=1))


# --------------------------------------------------------------------------- simulate, import, ingest


def stage_simulate(ctx: Context) -> Result:
    from bench.simulate import measure
    from ops_store.simulate.config import SimConfig

    cfg = SimConfig(orders=ctx["size"], days=365, seed=ctx["seed"], end=_end(ctx))
    m = measure(os.environ["OPS_STORE_URL"], cfg, Path(os.environ["ECOM_DATA_DIR"]),
                baseline_rows=ctx["baseline_cap"])
    base_s = m["written"] / m["baseline_rows_s"]
    info = m["info"]
    kind = "COPY" if m["backend"] == "postgresql" else "executemany"
    return {
        "seconds": m["seconds"], "rows": m["written"], "unit": "store rows written",
        "baseline": f"plain {kind} of as many 4-column rows", "baseline_seconds": base_s,
        "ratio": m["seconds"] / base_s,
        "notes": f"{info['orders']:,} orders, {info['order_lines']:,} lines, "
                 f"{m['rows'].get('landing:events', 0):,} events; write phase {m['write_seconds']:.0f} s",
        "details": {"phases": m["phases"], "orders": info["orders"], "merchants": info["merchants"]},
    }


def stage_import(ctx: Context) -> Result:
    from bench.import_orders import lines_for_orders, make_file, measure
    from ops_store.db import Store

    lines = lines_for_orders(ctx["size"])
    folder = Path(os.environ["ECOM_DATA_DIR"]) / "import"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "orders.csv"
    make_file(path, lines)
    store = Store(ctx["import_url"])
    try:
        m = measure(store, path, lines)
    finally:
        store.dispose()
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "seconds": m["import_s"], "rows": lines, "unit": "order lines imported",
        "baseline": "polars read + bulk copy of the raw lines", "baseline_seconds": m["baseline_s"],
        "ratio": m["import_s"] / m["baseline_s"],
        "notes": f"{m['orders']:,} orders into an empty store; re-import (all skipped) {m['reimport_s']:.1f} s",
        "details": m,
    }


def stage_ingest(ctx: Context) -> Result:
    from bench.ingest import baseline, ours
    from pipelines.settings import PipelineSettings

    settings = PipelineSettings()
    folder = settings.data_dir / "bench_ingest"  # scratch files: the pipeline's warehouse is not touched
    folder.mkdir(parents=True, exist_ok=True)
    url = os.environ["OPS_STORE_URL"]
    try:
        ours_s, results = ours(url, folder / "warehouse.duckdb", settings.extension_dir)
        per_table: dict[str, float] = {}
        base_s, base_rows = baseline(url, folder / "baseline.duckdb", limit=ctx["ingest_baseline_cap"],
                                     per_table=per_table)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    rows, sampled = sum(r.rows_total for r in results), sum(base_rows.values())
    cap = ctx["ingest_baseline_cap"]
    capped = {r.table: r.rows_total for r in results if r.rows_total > cap}
    if any(base_rows[r.table] != min(r.rows_total, cap) for r in results):
        raise RuntimeError(f"ours loaded {rows} rows, the baseline {sampled} of them")
    # each cut table's baseline time scaled to all its rows (the uncut tables' times stand as measured)
    base_equiv = base_s + sum(per_table[t] * (n / cap - 1) for t, n in capped.items())
    slowest = sorted(results, key=lambda r: -r.seconds)[:3]
    return {
        "seconds": ours_s, "rows": rows, "unit": "store rows loaded",
        "baseline": "pandas read_sql + DuckDB CREATE TABLE AS", "baseline_seconds": base_equiv,
        "ratio": ours_s / base_equiv,
        "notes": f"{len(results)} tables; slowest " + ", ".join(f"{r.table} {r.seconds:.1f} s" for r in slowest)
                 + (f"; baseline rate measured on {sampled:,} rows ({len(capped)} tables cut at "
                    f"{ctx['ingest_baseline_cap']:,})" if capped else ""),
        "details": {"per_table": {r.table: [r.rows_total, round(r.seconds, 3)] for r in results}},
    }


# --------------------------------------------------------------------------- the pipeline


def _run_stats(run_ids: dict[str, str]) -> tuple[dict[str, float], list[tuple[str, float]]]:
    """Seconds of each Dagster run (by phase) and of every step of those runs, slowest first."""
    import dagster as dg

    phases, steps = {}, []
    with dg.DagsterInstance.get() as instance:
        for phase, run_id in run_ids.items():
            stats = instance.get_run_stats(run_id)
            if stats.start_time and stats.end_time:
                phases[phase] = stats.end_time - stats.start_time
            for step in instance.get_run_step_stats(run_id):
                if step.start_time and step.end_time:
                    steps.append((step.step_key, step.end_time - step.start_time))
    return phases, sorted(steps, key=lambda s: -s[1])


def _dbt_nodes(run_id: str, limit: int = 12, failed_only: bool = False) -> list[tuple[str, str, float]]:
    """The slowest (or the failed) dbt models and tests of one run (meta.dbt_results, kept by the dbt asset)."""
    from pipelines.settings import PipelineSettings
    from pipelines.warehouse import connect

    where = " AND status IN ('fail', 'error')" if failed_only else ""
    con = connect(PipelineSettings().warehouse_path, read_only=True)
    try:
        return [tuple(r) for r in con.execute(  # type: ignore[misc]
            f"SELECT name, resource_type, execution_seconds FROM meta.dbt_results WHERE run_id = ?{where} "
            "ORDER BY execution_seconds DESC LIMIT ?", [run_id, limit]).fetchall()]
    finally:
        con.close()


def _pipeline(ctx: Context, full: bool) -> tuple[float, Any, str]:
    """Seconds of one `ecom pipeline run` (``--full`` or not), its result, and why it failed ("" if it did not)."""
    import pipelines.definitions  # noqa: F401  (imports are left out of every stage's time)
    from pipelines.runner import run_pipeline

    began = time.perf_counter()
    # --dry-run only: a lighter forecast training (the product's defaults otherwise)
    result = run_pipeline(full=full, op_config={"train_demand_model": ctx["forecast"]} if ctx.get("forecast") else None)
    took = time.perf_counter() - began
    if result.success:
        return took, result, ""
    failed = [f for p in result.phases for f in p.failures]
    try:  # the dbt nodes that failed, which the step's failure does not name
        nodes = _dbt_nodes(result.phases[-1].run_id, failed_only=True)
        failed += [f"dbt {kind} {name} failed" for name, kind, _ in nodes]
    except Exception as exc:  # the names are a nicety: the failure is reported anyway
        failed.append(f"(dbt results unreadable: {exc})")
    return took, result, "; ".join(failed)[:1500]


def _reports(ctx: Context) -> tuple[float, int]:
    """Every merchant's weekly report for one week, as `ecom pipeline backfill-reports` writes them."""
    from pipelines.runner import backfill_reports

    week = report_week(ctx)
    began = time.perf_counter()
    result = backfill_reports("week", week.start, week.start)
    took = time.perf_counter() - began
    if not result.success:
        raise RuntimeError("reports failed: " + "; ".join(f for p in result.phases for f in p.failures)[:3000])
    return took, len(result.phases)


def copy_floor() -> float:
    """The least any pipeline must do: every kept column of every store table and every landing
    file copied once into a scratch DuckDB file, plus the daily-sales aggregate. Seconds."""
    from bench.marts import BASELINE_SQL
    from pipelines.settings import PipelineSettings
    from pipelines.store_tables import table_specs
    from pipelines.warehouse import attach_store, connect, pg_schema

    settings = PipelineSettings()
    scratch = settings.data_dir / "bench_floor.duckdb"
    scratch.unlink(missing_ok=True)
    con = connect(scratch)
    try:
        began = time.perf_counter()
        backend = attach_store(con, os.environ["OPS_STORE_URL"])
        prefix = "store.main" if backend == "sqlite" else f'store."{pg_schema(os.environ["OPS_STORE_URL"])}"'
        con.execute("CREATE SCHEMA raw")
        for spec in table_specs():
            cols = ", ".join(f'"{c}"' for c in spec.column_names)
            con.execute(f'CREATE TABLE raw."{spec.name}" AS SELECT {cols} FROM {prefix}."{spec.name}"')
        events = settings.landing_dir / "events"
        if any(events.glob("*/*.parquet")):
            con.execute(f"CREATE TABLE raw.events AS SELECT * FROM read_parquet('{events}/*/*.parquet')")
        prices = settings.landing_dir / "competitor_prices"
        if any(prices.glob("*.csv")):
            con.execute(f"CREATE TABLE raw.competitor_prices AS SELECT * FROM read_csv('{prices}/*.csv')")
        con.execute(BASELINE_SQL)
        return time.perf_counter() - began
    finally:
        con.close()
        scratch.unlink(missing_ok=True)
        Path(f"{scratch}.wal").unlink(missing_ok=True)


def stage_pipeline(ctx: Context) -> Result:
    full_s, result, failure = _pipeline(ctx, full=True)
    if failure:  # its time still says something; the stages that need the snapshot are skipped
        return {"status": "failed", "seconds": full_s, "rows": None, "unit": "",
                "notes": f"`pipeline run --full` failed after {full_s:.0f} s: {failure}",
                "details": {"full_run_s": full_s, "settings": _pipeline_settings()}}
    reports_s, n_reports = _reports(ctx)
    floor_s = copy_floor()
    run_ids = {p.phase: p.run_id for p in result.phases}
    phases, steps = _run_stats(run_ids)
    build_run = result.phases[-1].run_id
    dbt = _dbt_nodes(build_run)
    orders = _orders_in_warehouse()
    total = full_s + reports_s
    return {
        "seconds": total, "rows": orders, "unit": "orders in the shop",
        "baseline": "copy every store table and landing file into DuckDB + daily-sales aggregate",
        "baseline_seconds": floor_s, "ratio": total / floor_s,
        "notes": f"`pipeline run --full` {full_s:.0f} s + {n_reports} weekly reports {reports_s:.0f} s; "
                 f"goal < 300 s: {'met' if total < 300 else 'MISSED'}",
        "details": {"full_run_s": full_s, "reports_s": reports_s, "phases": phases,
                    "slowest_steps": steps[:10], "slowest_dbt_nodes": dbt, "settings": _pipeline_settings()},
    }


def _pipeline_settings() -> dict[str, Any]:
    """The pipeline knobs that change its speed (settings a version of the code may not have yet: None)."""
    from pipelines.settings import PipelineSettings

    settings = PipelineSettings()
    names = ("warehouse_mode", "pipeline_executor", "max_concurrent", "retrain_hours")
    return {name: getattr(settings, name, None) for name in names}


def _orders_in_warehouse() -> int:
    from pipelines.settings import PipelineSettings
    from pipelines.warehouse import connect

    con = connect(PipelineSettings().warehouse_path, read_only=True)
    try:
        return int(con.execute("SELECT count(*) FROM raw.orders").fetchone()[0])  # type: ignore[index]
    finally:
        con.close()


def stage_marts(ctx: Context) -> Result:
    from bench.marts import LAYERS, time_build

    f = time_build(Path(os.environ["ECOM_DATA_DIR"]))
    return {
        "seconds": f["dbt build"], "rows": int(f["rows_in_marts"] or 0), "unit": "rows in the marts",
        "baseline": DAILY_SALES_FLOOR, "baseline_seconds": f["baseline"], "ratio": f["dbt build"] / f["baseline"],
        "notes": f"`dbt build` without the models' marts; parse {f['parse']:.1f} s; per layer (node seconds) "
                 + ", ".join(f"{layer} {f.get(layer, 0):.0f}" for layer in LAYERS),
        "details": f,
    }


def stage_models(ctx: Context) -> Result:
    from bench.models import run_models, summary
    from pipelines.settings import PipelineSettings

    forecast = None
    if ctx.get("forecast"):  # --dry-run: the same lighter training as the pipeline's
        from pipelines.ml.demand_model import ForecastConfig

        forecast = ForecastConfig(origins=ctx["forecast"]["backtest_origins"],
                                  max_rows=ctx["forecast"]["max_training_rows"])
    began = time.perf_counter()
    figures = run_models(PipelineSettings(), forecast)
    took = time.perf_counter() - began
    s = summary(figures)
    model_s, base_s = s["forecast_s"] + s["recommend_s"], s["forecast_baseline_s"] + s["recommend_baseline_s"]
    return {
        "seconds": took, "rows": _orders_in_warehouse(), "unit": "orders in the warehouse",
        "baseline": "seasonal naive + moving average forecast, popularity top 10", "baseline_seconds": base_s,
        "ratio": model_s / base_s,
        "ratio_note": "(forecast + item-neighbour time) / (their baselines' time); segments and churn have no "
                      "separate baseline",
        "notes": f"forecast {s['forecast_s']:.0f} s (x{s['forecast_ratio']:.0f} its baselines), recommendations "
                 f"{s['recommend_s']:.0f} s (x{s['recommend_ratio']:.0f}), train+score {s['train_and_score_s']:.0f} s",
        "details": figures,
    }


def reports_floor(ctx: Context) -> tuple[float, int]:
    """Per merchant: the report's headline query on the snapshot and a one-paragraph PDF of it."""
    from ops_store.db import Store
    from ops_store.services import catalog
    from pipelines.publish import open_snapshot
    from pipelines.reports import content, render

    store = Store(os.environ["OPS_STORE_URL"])
    try:
        codes = [m["code"] for m in catalog.list_merchants(store)]
    finally:
        store.dispose()
    week = report_week(ctx)
    folder = Path(os.environ["ECOM_DATA_DIR"]) / "bench_reports_floor"
    folder.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    con = open_snapshot()
    written = 0
    try:
        for code in codes:
            try:
                merchant = content.merchant(con, code)
            except content.MerchantNotInWarehouse:  # one added after the snapshot was published
                continue
            sales = content.sales(con, merchant.merchant_id, week)
            document = f"<html><body><h1>{code}</h1><p>Net revenue {sales['net_revenue']:.2f}, " \
                       f"{sales['orders']} orders</p></body></html>"
            (folder / f"{code}.pdf").write_bytes(render.pdf(document))
            written += 1
    finally:
        con.close()
    took = time.perf_counter() - began
    shutil.rmtree(folder, ignore_errors=True)
    return took, written


def stage_reports(ctx: Context) -> Result:
    took, n = _reports(ctx)
    floor_s, _ = reports_floor(ctx)
    week = report_week(ctx)
    return {
        "seconds": took, "rows": n, "unit": "merchant reports (HTML + PDF)",
        "baseline": "per merchant: headline sales query + one-paragraph PDF", "baseline_seconds": floor_s,
        "ratio": took / floor_s,
        "notes": f"week {week.start} (one Dagster run per merchant, mail off); {took / max(n, 1):.1f} s a report",
        "details": {"week": week.key, "reports": n, "floor_s": floor_s},
    }


# --------------------------------------------------------------------------- incremental


def new_orders_file(url: str, path: Path, orders: int, first_day: date, days: int, seed: int) -> int:
    """A file of ``orders`` new orders of the shop's own merchants, SKUs (at their price) and
    customers, placed over ``days`` days from ``first_day``; returns its lines."""
    from sqlalchemy import select

    from ops_store.db import Store
    from ops_store.models import Customer, Merchant, Product

    store = Store(url)
    try:
        with store.read() as session:
            catalog: dict[str, list[tuple[str, str]]] = {}
            for code, sku, price in session.execute(
                    select(Merchant.code, Product.sku, Product.price).join(Product, Product.merchant_id == Merchant.id)
                    .where(Product.active.is_(True), Product.price > 0).order_by(Merchant.code, Product.sku)):
                catalog.setdefault(code, []).append((sku, f"{price:.2f}"))
            customers = list(session.scalars(select(Customer.customer_ref).order_by(Customer.id).limit(50_000)))
    finally:
        store.dispose()
    rng = random.Random(seed)
    merchants = sorted(catalog)
    start = datetime(first_day.year, first_day.month, first_day.day)
    out = ["order_ref,customer_ref,ordered_at,sku,quantity,unit_price,merchant"]
    for i in range(orders):
        merchant = rng.choice(merchants)
        at = (start + timedelta(seconds=rng.randrange(days * 86_400))).isoformat() + "+00:00"
        customer = rng.choice(customers) if customers else f"INC-C{rng.randrange(orders)}"
        for sku, price in rng.sample(catalog[merchant], min(rng.choice((1, 1, 2, 3, 4)), len(catalog[merchant]))):
            out.append(f"INC-{seed}-{i:07d},{customer},{at},{sku},{rng.randint(1, 3)},{price},{merchant}")
    path.write_text("\n".join(out) + "\n")
    return len(out) - 1


def stage_incremental(ctx: Context) -> Result:
    from ops_store.db import Store
    from ops_store.importer import import_file

    url = os.environ["OPS_STORE_URL"]
    folder = Path(os.environ["ECOM_DATA_DIR"]) / "incremental"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "new_orders.csv"
    # After the history (it ends the day before ``end``): new days, as a live shop's next week would bring.
    new_orders_file(url, path, ctx["incremental_orders"], _end(ctx), 7, ctx["seed"])
    store = Store(url)
    began = time.perf_counter()
    try:
        imported = import_file(store, "orders", path)
    finally:
        store.dispose()
    add_s = time.perf_counter() - began
    if imported.rejected:
        raise RuntimeError(f"{imported.rejected} new orders' lines refused: {imported.details.get('reasons')}")
    took, result, failure = _pipeline(ctx, full=False)
    phases, steps = _run_stats({p.phase: p.run_id for p in result.phases})
    dbt = _dbt_nodes(result.phases[-1].run_id)
    full = ctx.get("full_pipeline_seconds")
    return {
        "status": "failed" if failure else "ok",
        "seconds": took, "rows": imported.details.get("orders", 0), "unit": "new orders",
        "baseline": "the full run (`pipeline run --full`, this size)",
        "baseline_seconds": full, "ratio": took / full if full else None,
        "notes": (f"the run FAILED: {failure}; " if failure else "")
                 + f"{imported.details.get('orders', 0):,} orders imported first in {add_s:.1f} s; "
                 + (f"goal < 10% of the full run: {'met' if took < 0.1 * full else 'MISSED'}" if full else
                    "no full run to compare with"),
        "details": {"import_s": add_s, "phases": phases, "slowest_steps": steps[:10], "slowest_dbt_nodes": dbt,
                    "settings": _pipeline_settings()},
    }


# --------------------------------------------------------------------------- dashboards, API


def stage_dashboards(ctx: Context) -> Result:
    from bench.dashboards import measure

    began = time.perf_counter()
    f = measure(Path(os.environ["ECOM_DATA_DIR"]), os.environ["OPS_STORE_URL"], ctx["warm_rounds"])
    took = time.perf_counter() - began
    cold, warm, floor = f["cold"], f["warm"], f["floor"]
    slow_cold, slow_warm = max(cold, key=cold.get), max(warm, key=warm.get)
    met = max(cold.values()) < 3 and max(warm.values()) < 1
    return {
        "seconds": took, "rows": len(cold), "unit": "pages (cold + warm visits)",
        "baseline": "a one-line Streamlit page's click-to-drawn", "baseline_seconds": floor,
        "ratio": warm[slow_warm] / floor, "ratio_note": "slowest warm page / floor",
        "notes": f"slowest cold {slow_cold} {cold[slow_cold]:.2f} s, slowest warm {slow_warm} {warm[slow_warm]:.2f} s, "
                 f"median warm {statistics.median(warm.values()):.2f} s; goal cold < 3 s, warm < 1 s: "
                 f"{'met' if met else 'MISSED'}",
        "details": f,
    }


def stage_api(ctx: Context) -> Result:
    from rich.progress import Progress

    from bench import api

    backend = ctx["backend"]
    args = api.parse_args(["--backends", backend, "--duration", str(ctx["api_seconds"]), "--clients", "32",
                           "--workers", "2", "--quiet-timeout", str(ctx["quiet_timeout"]),
                           "--pgbench-seconds", str(ctx["pgbench_seconds"]), "--pg-server", ctx["pg_server"]])
    data_dir = Path(os.environ["ECOM_DATA_DIR"])
    pgbench = api.PgBenchRunner(args.pg_server, args.pgbench_seconds, args.pgbench_scale)
    try:
        with Progress(console=api.console, transient=True) as progress:
            run = api.bench_one(args, backend, 2, 32, progress, data_dir, shop_url=os.environ["OPS_STORE_URL"])
        tps = pgbench.run(32).tps if pgbench.available() else None
    finally:
        pgbench.close()
    if run.problems:
        raise RuntimeError("; ".join(run.problems))
    o = run.orders
    return {
        "seconds": o.seconds, "rows": run.created, "unit": "orders placed (POST /v1/orders)",
        "baseline": "pgbench TPC-B, 32 clients, same server", "baseline_seconds": None,
        "ratio": tps / run.orders_per_s if tps and run.orders_per_s else None,
        "ratio_note": "pgbench tps / API orders/s",
        "notes": f"{run.orders_per_s:.0f} orders/s, p50 {o.percentile_ms(0.5):.0f} ms, p99 {o.percentile_ms(0.99):.0f} "
                 f"ms; health {run.health.rate:.0f} req/s; pgbench {tps or 0:.0f} tps"
                 + ("; noisy" if run.noisy else ""),
        "details": run.as_dict() | {"pgbench_tps": tps},
    }


STAGES: dict[str, Callable[[Context], Result]] = {
    "simulate": stage_simulate, "import": stage_import, "ingest": stage_ingest, "pipeline": stage_pipeline,
    "marts": stage_marts, "models": stage_models, "reports": stage_reports, "incremental": stage_incremental,
    "dashboards": stage_dashboards, "api": stage_api,
}


def main(argv: list[str]) -> int:
    stage, context_path, result_path = argv
    ctx = json.loads(Path(context_path).read_text())
    result = STAGES[stage](ctx)
    Path(result_path).write_text(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
