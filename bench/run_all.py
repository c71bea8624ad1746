"""Every benchmark at several shop sizes, in one table: time, peak memory, rows/s and the ratio of
each stage against its baseline measured in the same run, and how each stage's time grows with size.

    .venv/bin/python bench/run_all.py                                   # 10k, 100k and 1M orders
    .venv/bin/python bench/run_all.py --sizes 10000,100000 --stages pipeline,incremental
    .venv/bin/python bench/run_all.py --dry-run                         # 2,000 orders, short phases
    .venv/bin/python bench/run_all.py --backend sqlite

Per size a shop is simulated into the store (a throwaway PostgreSQL database by default: the
multi-user store the scale story is about; ``--backend sqlite`` for the embedded one), with its
own data dir (landing files, warehouse, Dagster instance, reports) under the run's folder, and
then the stages run one after the other, each in its own child process (bench/stages.py):

  simulate     ``ecom simulate --orders N`` (bench/simulate.py). Rows: store rows written.
               Baseline: a plain COPY (PostgreSQL) / executemany (SQLite) of as many simple
               4-column rows, in one transaction; its rate is measured on at most --baseline-cap rows.
  import       an order file of about N orders (2.2 N lines) through the importer into a second,
               empty store (bench/import_orders.py). Rows: order lines. Baseline: polars reads
               the file and the bulk writer copies the raw lines into a scratch table.
  ingest       full load of every store table into a scratch warehouse file (bench/ingest.py).
               Rows: store rows loaded. Baseline: pandas read_sql + DuckDB CREATE TABLE AS (at most
               --ingest-baseline-cap rows of each table; its rate applied to all the rows).
  pipeline     the whole pipeline as a user runs it: ``ecom pipeline run --full`` (landing files,
               every store table, dbt build, the models, checks, the published snapshot), then
               every merchant's weekly report for the last complete week (``ecom pipeline
               backfill-reports``). Goal: under 5 minutes at 1M orders. Rows: orders in the shop.
               Baseline (the floor): every store table and landing file copied once into a
               scratch DuckDB file by plain CREATE TABLE AS, plus the daily-sales aggregate below.
  marts        ``dbt build`` again on that warehouse (bench/marts.py; the marts on the models'
               output left out). Rows: rows in the marts. Baseline: one hand-written
               CREATE TABLE AS computing day x product x channel sales straight from raw.
  models       every model trained and scored (bench/models.py). Rows: orders in the warehouse.
               Ratio: (forecast + item-neighbour recommendations) / their baselines (seasonal
               naive + moving average, popularity top 10), trained on the same data.
  reports      every merchant's weekly report for one week again, one Dagster run each (mail
               off). Rows: reports. Baseline: per merchant the headline sales query on the
               snapshot and a one-paragraph PDF of it.
  incremental  --incremental-orders (10,000) new orders of the shop's merchants, SKUs and
               customers imported into the store, then ``ecom pipeline run`` (incremental).
               Rows: new orders. Ratio: its time / the full run's time (``run --full``, without
               the reports) of this size. Goal: under 10%.
  dashboards   every page cold and warm in headless Chromium on the published snapshot
               (bench/dashboards.py). Rows: pages. Ratio: slowest warm page / a one-line
               Streamlit page's click-to-drawn time (the floor). Skipped above --dashboards-up-to.
  api          POST /v1/orders for --api-seconds against this shop (a bench merchant with 200
               SKUs added to it) through ``ecom api --workers 2``, 32 clients (bench/api.py).
               Rows: orders placed. Ratio: pgbench TPC-B tps on the same server / orders/s.

Each child's wall time is measured inside it (interpreter start-up and imports left out; the
table also keeps the child's whole wall time in the CSV), its peak memory by sampling the sum
of RSS over its process tree every 0.2 s (dbt, uvicorn workers, Streamlit and Chromium
included; PostgreSQL's server processes are not in the tree), and the machine's noise as the
mean 1-minute load average and the cores busy with other work (machine busy time minus the
child tree's and PostgreSQL's CPU) over the stage.

Written under --out (default $ECOM_DATA_DIR/bench/, ./data/bench/): run_all-<timestamp>.md and
.csv, copied to run_all-latest.md and .csv, and printed; the stages' logs and raw results stay in
run_all-<timestamp>/. The shops' data dirs are removed after each size and the
throwaway PostgreSQL databases dropped at the end, also when a stage fails or on Ctrl-C; --keep
keeps the shops (data dir and store database ecom_runall_shop_n<size>_<pid>).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# run as a script, bench/ is first on sys.path and bench/dashboards.py would shadow the app's package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench.api_load import CpuMeter, _machine, _stat_fields  # noqa: E402
from bench.throwaway_db import pg_database  # noqa: E402

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
ORDER = ("simulate", "import", "ingest", "pipeline", "marts", "models", "reports", "incremental", "dashboards",
         "api")  # the order they run in: marts, models and reports use the warehouse the pipeline built
TABLE_ORDER = ("simulate", "import", "ingest", "marts", "models", "reports", "pipeline", "incremental", "dashboards",
               "api")
NEEDS = {"ingest": "simulate", "pipeline": "simulate", "api": "simulate", "marts": "pipeline",
         "models": "pipeline", "reports": "pipeline", "incremental": "pipeline", "dashboards": "pipeline"}
PIPELINE_GOAL_S = 300
INCREMENTAL_GOAL = 0.10
PAGE = os.sysconf("SC_PAGE_SIZE")
SAMPLE_S = 0.2
HEARTBEAT_S = 60

BASELINES = {
    "simulate": "a plain COPY (PostgreSQL) or executemany (SQLite) of as many simple 4-column rows in one "
                "transaction (rate measured on at most --baseline-cap rows)",
    "import": "polars reads the same file and the bulk writer copies the raw lines into a scratch table (no "
              "validation, no orders, events or payments)",
    "ingest": "pandas read_sql of the same tables and columns, then DuckDB CREATE TABLE AS from the frame; "
              "at most --ingest-baseline-cap rows of each table, its rate applied to all the rows",
    "marts": "one hand-written DuckDB CREATE TABLE AS of day x product x channel sales from raw.orders, "
             "order_lines and products",
    "models": "seasonal naive + 28-day moving average forecasts and the popularity top 10, on the same data; "
              "ratio = (forecast backtest + fit + score + item-neighbour fit + top 10) / their baselines",
    "reports": "per merchant, the report's headline sales query on the snapshot and a one-paragraph PDF "
               "(WeasyPrint)",
    "pipeline": "the floor of any pipeline: every store table and landing file copied once into a scratch "
                "DuckDB file by plain CREATE TABLE AS, plus the daily-sales aggregate of the marts baseline",
    "incremental": "the full run of the same size (`ecom pipeline run --full`, without the reports); goal: "
                   "ratio < 0.10",
    "dashboards": "the click-to-drawn time of a one-line Streamlit page served at the same time; ratio = "
                  "slowest warm page / floor",
    "api": "pgbench TPC-B (scale 1, 32 clients) on the same PostgreSQL server; ratio = pgbench tps / API "
           "orders/s (TPC-B transactions in the time of one order)",
}


@dataclass
class StageRun:
    size: int
    stage: str
    status: str = "ok"  # ok, failed, skipped
    seconds: float | None = None  # the measured work (from the child)
    wall_s: float | None = None  # the child process's whole life
    peak_rss_mb: float | None = None
    rows: int | None = None
    unit: str = ""
    baseline_seconds: float | None = None
    ratio: float | None = None
    load_avg: float | None = None
    other_cores: float | None = None
    notes: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_per_s(self) -> float | None:
        return self.rows / self.seconds if self.rows and self.seconds else None


# --------------------------------------------------------------------------- measuring a child


def tree_rss(root: int) -> int:
    """Bytes of RSS summed over ``root`` and its descendants (from /proc)."""
    parent: dict[int, int] = {}
    rss: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = _stat_fields(name)
            if fields is not None:
                parent[int(name)] = int(fields[2])
                rss[int(name)] = int(fields[22]) * PAGE
    children: dict[int, list[int]] = {}
    for pid, ppid in parent.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


def run_child(stage: str, ctx: dict[str, Any], env: dict[str, str], folder: Path, timeout: float,
              label: str, began: float) -> tuple[dict[str, Any] | None, str, dict[str, float]]:
    """Run one stage in a child process; returns (its result or None, error text, measurements)."""
    folder.mkdir(parents=True, exist_ok=True)
    ctx_path, result_path, log_path = (folder / f"{stage}.{ext}" for ext in ("context.json", "result.json", "log"))
    ctx_path.write_text(json.dumps(ctx))
    result_path.unlink(missing_ok=True)
    meter = CpuMeter()
    cpu_before, busy_before = meter.snapshot().postgres, _machine()[0]
    started = time.perf_counter()
    peak, loads, last_beat = 0, [], started
    with open(log_path, "w") as log:
        # a session of its own: a timeout or Ctrl-C stops the whole tree (dbt, uvicorn, Chromium) by its id
        proc = subprocess.Popen([sys.executable, "-m", "bench.stages", stage, str(ctx_path), str(result_path)],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        status, usage = None, None
        try:
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    proc.returncode = os.waitstatus_to_exitcode(status)
                    break
                peak = max(peak, tree_rss(proc.pid))
                loads.append(os.getloadavg()[0])
                now = time.perf_counter()
                if now - last_beat >= HEARTBEAT_S:
                    last_beat = now
                    say(began, f"{label} running {now - started:.0f} s, RSS {tree_rss(proc.pid) / 2**20:,.0f} MB, "
                               f"load {loads[-1]:.1f}")
                if now - started > timeout:
                    _stop(proc)
                    break
                time.sleep(SAMPLE_S)
        finally:
            if proc.returncode is None:
                _stop(proc)
    wall = time.perf_counter() - started
    tree_cpu = (usage.ru_utime + usage.ru_stime) if usage else 0.0
    pg_cpu = meter.snapshot().postgres - cpu_before
    other = max(_machine()[0] - busy_before - tree_cpu - pg_cpu, 0.0) / wall
    measured = {"wall_s": wall, "peak_rss_mb": peak / 2**20, "load_avg": sum(loads) / len(loads) if loads else
                os.getloadavg()[0], "other_cores": other}
    if proc.returncode == 0 and result_path.exists():
        return json.loads(result_path.read_text()), "", measured
    tail = log_path.read_text(errors="replace").strip().splitlines()[-12:]
    why = "timed out" if wall > timeout else f"exit code {proc.returncode}"
    return None, f"{why}; log {log_path}: " + " | ".join(line.strip() for line in tail)[-1500:], measured


def _stop(proc: subprocess.Popen) -> None:  # type: ignore[type-arg]
    """SIGTERM the child's process group (it is the group leader), SIGKILL what is left after 15 s."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def say(began: float, message: str) -> None:
    elapsed = time.perf_counter() - began
    print(f"[{int(elapsed // 60):3d}:{int(elapsed % 60):02d}] {message}", flush=True)


# --------------------------------------------------------------------------- one size


def stages_to_run(selected: list[str]) -> list[str]:
    """The selected stages and what they need, in run order."""
    wanted = set(selected)
    for stage in selected:
        while stage in NEEDS:
            stage = NEEDS[stage]
            wanted.add(stage)
    return [s for s in ORDER if s in wanted]


def run_size(size: int, args: argparse.Namespace, run_dir: Path, began: float,
             results: list[StageRun]) -> None:
    size_dir = run_dir / f"n{size}"
    shop_dir = size_dir / "data"
    shop_dir.mkdir(parents=True, exist_ok=True)
    plan = stages_to_run(args.stages)
    done: dict[str, StageRun] = {}
    with ExitStack() as stack:
        if args.backend == "postgresql":
            shop_url = stack.enter_context(pg_database(args.pg_server, f"ecom_runall_shop_n{size}",
                                                               keep=args.keep))
            import_url = (stack.enter_context(pg_database(args.pg_server, f"ecom_runall_import_n{size}"))
                          if "import" in plan else "")
        else:
            shop_url, import_url = f"sqlite:///{shop_dir / 'store.sqlite'}", f"sqlite:///{size_dir / 'import.sqlite'}"
        env = {k: v for k, v in os.environ.items() if k not in ("ECOM_WAREHOUSE_PATH", "ECOM_DBT_DIR", "DAGSTER_HOME")}
        env.update({"ECOM_DATA_DIR": str(shop_dir), "OPS_STORE_URL": shop_url, "DO_NOT_TRACK": "1",
                    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "PYTHONUNBUFFERED": "1"})
        for stage in plan:
            label = f"n={size:,} {stage}"
            run = StageRun(size, stage)
            need = NEEDS.get(stage)
            if need and (need not in done or done[need].status != "ok"):
                run.status, run.notes = "skipped", f"needs {need}, which did not run or failed"
            elif stage == "dashboards" and size > args.dashboards_up_to:
                run.status, run.notes = "skipped", f"above --dashboards-up-to {args.dashboards_up_to:,}"
            if run.status == "skipped":
                say(began, f"{label}: skipped ({run.notes})")
                done[stage] = run
                results.append(run)
                continue
            ctx = {"size": size, "backend": args.backend, "import_url": import_url, "end": args.end,
                   "seed": args.seed, "baseline_cap": args.baseline_cap,
                   "ingest_baseline_cap": args.ingest_baseline_cap,
                   "incremental_orders": args.incremental_orders, "api_seconds": args.api_seconds,
                   "pgbench_seconds": args.pgbench_seconds, "warm_rounds": args.warm_rounds,
                   "quiet_timeout": args.quiet_timeout, "pg_server": args.pg_server, "forecast": args.forecast,
                   "full_pipeline_seconds": done["pipeline"].details.get("full_run_s") if "pipeline" in done else None}
            say(began, f"{label}: started (load {os.getloadavg()[0]:.1f})")
            result, error, measured = run_child(stage, ctx, env, size_dir / "stages", args.stage_timeout, label,
                                                began)
            for key, value in measured.items():
                setattr(run, key, value)
            if result is None:
                run.status, run.notes = "failed", error
            else:
                run.seconds, run.rows, run.unit = result["seconds"], result.get("rows"), result.get("unit", "")
                run.baseline_seconds, run.ratio = result.get("baseline_seconds"), result.get("ratio")
                run.notes, run.details = result.get("notes", ""), result.get("details", {})
                run.status = result.get("status", "ok")  # a pipeline run that failed still reports its time
            done[stage] = run
            results.append(run)
            if run.status == "ok":
                ratio = f", ratio {run.ratio:.2f}" if run.ratio is not None else ""
                say(began, f"{label}: {run.seconds:.1f} s, peak {run.peak_rss_mb:,.0f} MB{ratio}; {run.notes}")
            else:
                say(began, f"{label}: FAILED after {run.wall_s:.0f} s: {run.notes}")
    if not args.keep:
        shutil.rmtree(shop_dir, ignore_errors=True)
        for leftover in size_dir.glob("import.sqlite*"):
            leftover.unlink(missing_ok=True)


# --------------------------------------------------------------------------- the report


def _num(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    if value and abs(value) < 10 ** -digits * 10:  # small figures keep two significant digits
        return f"{value:.2g}"
    return f"{value:,.{digits}f}"


def _short(size: int) -> str:
    return f"{size // 1_000_000}M" if size >= 1_000_000 and size % 1_000_000 == 0 else \
        f"{size // 1000}k" if size >= 1000 and size % 1000 == 0 else str(size)


def growth(results: list[StageRun], sizes: list[int]) -> dict[str, list[float | None]]:
    """Per stage, its time at each size over its time at the size before."""
    by = {(r.size, r.stage): r for r in results if r.status == "ok" and r.seconds}
    out: dict[str, list[float | None]] = {}
    for stage in TABLE_ORDER:
        ratios: list[float | None] = []
        for small, big in zip(sizes, sizes[1:], strict=False):
            a, b = by.get((small, stage)), by.get((big, stage))
            ratios.append(b.seconds / a.seconds if a and b and a.seconds and b.seconds else None)
        if any(r is not None for r in ratios):
            out[stage] = ratios
    return out


def goals(results: list[StageRun]) -> list[str]:
    lines = []
    for r in results:
        if r.stage == "pipeline" and r.seconds:
            if r.status != "ok":
                lines.append(f"- whole pipeline at {r.size:,} orders: **failed** after {r.seconds:,.0f} s")
                continue
            verdict = "met" if r.seconds < PIPELINE_GOAL_S else "MISSED"
            lines.append(f"- whole pipeline at {r.size:,} orders: {r.seconds:,.0f} s (`run --full` "
                         f"{r.details.get('full_run_s', 0):,.0f} s + reports {r.details.get('reports_s', 0):,.0f} s) "
                         f"against {PIPELINE_GOAL_S} s: **{verdict}**")
        if r.stage == "incremental" and r.seconds and r.ratio is not None:
            verdict = "met" if r.ratio < INCREMENTAL_GOAL else "MISSED"
            if r.status != "ok":
                verdict += ", and the run FAILED (see its notes)"
            lines.append(f"- incremental run after {r.rows:,} new orders at {r.size:,}: {r.seconds:,.0f} s = "
                         f"{100 * r.ratio:.1f}% of the full run: **{verdict}** (goal < {100 * INCREMENTAL_GOAL:.0f}%)")
    return lines


def details_section(results: list[StageRun]) -> list[str]:
    out: list[str] = []
    for r in results:
        if r.status == "skipped" or not r.details:
            continue
        d = r.details
        if r.stage in ("pipeline", "incremental"):
            out.append(f"\n**{r.stage}, {r.size:,} orders**: Dagster runs "
                       + ", ".join(f"{k} {v:.1f} s" for k, v in d.get("phases", {}).items())
                       + (f"; reports {d['reports_s']:.1f} s" if "reports_s" in d else "")
                       + (f"; the import of the new orders {d['import_s']:.1f} s" if "import_s" in d else "")
                       + ("; settings " + ", ".join(f"{k}={v}" for k, v in d["settings"].items() if v is not None)
                          if d.get("settings") else ""))
            steps = d.get("slowest_steps", [])[:6]
            if steps:
                out.append("  slowest Dagster steps: " + ", ".join(f"`{k}` {s:.1f} s" for k, s in steps))
            nodes = d.get("slowest_dbt_nodes", [])[:8]
            if nodes:
                out.append("  slowest dbt nodes (own execution time): "
                           + ", ".join(f"`{n}` ({kind}) {s:.1f} s" for n, kind, s in nodes))
        elif r.stage == "dashboards":
            out.append(f"\n**dashboards, {r.size:,} orders** (floor {d['floor'] * 1000:.0f} ms; the Overview's cold "
                       "time includes signing in): " + ", ".join(
                           f"{slug} {d['cold'][slug]:.2f}/{d['warm'][slug]:.2f} s" for slug in d["cold"])
                       + " (cold/warm)")
        elif r.stage == "models":
            top = sorted(((k, v) for k, v in d.items()), key=lambda kv: -kv[1])[:5]
            out.append(f"\n**models, {r.size:,} orders**: slowest steps " + ", ".join(f"{k} {v:.1f} s" for k, v in top))
    return out


def markdown(results: list[StageRun], args: argparse.Namespace, meta: dict[str, Any]) -> str:
    sizes = sorted({r.size for r in results})
    lines = [f"# bench/run_all.py, {meta['started']}", "",
             f"`{meta['command']}`; backend **{args.backend}**; commit {meta['commit']}"
             + (f" (changed since: {meta['changed']})" if meta["changed"] else "")
             + f"; {os.cpu_count()} CPUs, {meta['ram_gb']:.0f} GB RAM, python {sys.version.split()[0]}; "
             f"whole run {meta['wall_s'] / 60:.1f} min.", ""]
    if args.forecast:
        lines += ["**--dry-run**: a check that every stage runs, not figures to compare: the forecast trains with "
                  f"{args.forecast['backtest_origins']} backtest origin on at most "
                  f"{args.forecast['max_training_rows']:,} rows; short API, pgbench and dashboard phases.", ""]
    found = goals(results)
    if found:
        lines += ["## Goals", "", *found, ""]
    lines += ["## Results", "",
              "| orders | stage | time s | peak RSS MB | rows | rows/s | baseline s | ratio | load / other cores "
              "| notes |",
              "|---:|---|---:|---:|---|---:|---:|---:|---|---|"]
    for size in sizes:
        for stage in TABLE_ORDER:
            for r in results:
                if r.size != size or r.stage != stage:
                    continue
                rows = f"{r.rows:,} {r.unit}" if r.rows is not None else "-"
                noise = f"{r.load_avg:.1f} / {r.other_cores:.2f}" if r.load_avg is not None else "-"
                notes = r.notes.replace("|", "/")
                notes = notes if r.status == "ok" else f"**{r.status}**: {notes}"
                lines.append(f"| {size:,} | {stage} | {_num(r.seconds)} | {_num(r.peak_rss_mb, 0)} | {rows} | "
                             f"{_num(r.rows_per_s, 0)} | {_num(r.baseline_seconds, 2)} | {_num(r.ratio, 2)} | "
                             f"{noise} | {notes} |")
    grown = growth(results, sizes)
    if grown:
        steps = list(zip(sizes, sizes[1:], strict=False))
        lines += ["", "## Growth (time at a size / time at the size before)", "",
                  "| stage | " + " | ".join(f"{_short(b)} / {_short(a)} (size x{b / a:g})" for a, b in steps) + " |",
                  "|---|" + "---:|" * len(steps)]
        for stage, ratios in grown.items():
            lines.append(f"| {stage} | " + " | ".join(f"x{v:.1f}" if v is not None else "-" for v in ratios) + " |")
        lines.append("")
        lines.append("Below the size ratio: sub-linear (fixed costs dominate); above it: super-linear.")
    extra = details_section(results)
    if extra:
        lines += ["", "## Details", *extra]
    lines += ["", "## Columns and baselines", "",
              "time s: wall seconds of the stage's measured work inside its child process (start-up and imports "
              "left out). peak RSS MB: the highest sum of RSS over the child's process tree (dbt, uvicorn workers, "
              "Streamlit, Chromium included; PostgreSQL's own processes are not), sampled every 0.2 s; shared pages "
              "count once per process. rows: what rows/s counts, named in the cell. baseline s: the baseline's "
              "seconds for the same work, measured in the same run on the same machine. ratio: time / baseline "
              "time (above 1: slower than the baseline) unless said below. load / other cores: the mean 1-minute "
              "load average during the stage (the stage's own work included), and the cores other work kept busy "
              "(machine busy time minus the stage's tree and PostgreSQL's CPU, per second of the stage): over "
              "about 0.3 the figures are disturbed.", ""]
    lines += [f"- **{stage}**: {text}" for stage, text in BASELINES.items()]
    lines += ["", f"Stage logs and raw results: `{meta['run_dir']}`."]
    return "\n".join(lines) + "\n"


CSV_FIELDS = ("size", "stage", "status", "seconds", "wall_s", "peak_rss_mb", "rows", "unit", "rows_per_s",
              "baseline_seconds", "ratio", "growth_time_ratio", "growth_size_ratio", "load_avg", "other_cores", "notes")


def write_csv(path: Path, results: list[StageRun]) -> None:
    sizes = sorted({r.size for r in results})
    grown = growth(results, sizes)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for r in sorted(results, key=lambda r: (r.size, TABLE_ORDER.index(r.stage))):
            row = {k: v for k, v in asdict(r).items() if k in CSV_FIELDS}
            row["rows_per_s"] = round(r.rows_per_s, 1) if r.rows_per_s else None
            at = sizes.index(r.size)
            if at and r.stage in grown:
                row["growth_time_ratio"] = grown[r.stage][at - 1]
                row["growth_size_ratio"] = r.size / sizes[at - 1]
            writer.writerow({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})


def write_outputs(results: list[StageRun], args: argparse.Namespace, meta: dict[str, Any]) -> Path:
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"run_all-{meta['stamp']}"
    text = markdown(results, args, meta)
    Path(f"{stem}.md").write_text(text)
    write_csv(Path(f"{stem}.csv"), results)
    for ext in ("md", "csv"):
        shutil.copyfile(f"{stem}.{ext}", out / f"run_all-latest.{ext}")
    (Path(meta["run_dir"]) / "results.json").write_text(json.dumps([asdict(r) for r in results], default=str))
    return Path(f"{stem}.md")


# --------------------------------------------------------------------------- main


def _code_version() -> tuple[str, str]:
    def git(*cmd: str) -> str:
        done = subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout

    # the code measured is the commit plus whatever is being edited in the tree meanwhile
    changed = [line[3:] for line in git("status", "--porcelain", "--", "ops_store", "pipelines", "dbt", "dashboards",
                                        "bench").splitlines() if line.strip()]
    listed = ", ".join(changed[:15]) + (f" and {len(changed) - 15} more" if len(changed) > 15 else "")
    return git("rev-parse", "--short", "HEAD").strip() or "?", listed


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000", help="orders per shop, comma-separated")
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql",
                        help="the store (default postgresql: a throwaway database per size)")
    parser.add_argument("--stages", default=",".join(TABLE_ORDER),
                        help="comma-separated subset (what they need runs too): " + ", ".join(TABLE_ORDER))
    parser.add_argument("--out", type=Path, help="where the table goes (default $ECOM_DATA_DIR/bench)")
    parser.add_argument("--dry-run", action="store_true",
                        help="a quick check that everything runs: 2,000 orders, 500 incremental orders, short API "
                             "and pgbench phases, one warm round (unless given explicitly)")
    parser.add_argument("--incremental-orders", type=int, default=None, help="new orders before the incremental "
                        "run (default 10000)")
    parser.add_argument("--api-seconds", type=float, default=None, help="the API's orders phase (default 15)")
    parser.add_argument("--pgbench-seconds", type=int, default=None, help="pgbench -T (default 10)")
    parser.add_argument("--warm-rounds", type=int, default=None, help="warm visits of each page (default 3)")
    parser.add_argument("--dashboards-up-to", type=int, default=1_000_000,
                        help="skip the dashboards above this size (default 1000000: every size)")
    parser.add_argument("--quiet-timeout", type=float, default=10,
                        help="the API stage waits up to this long for a quiet machine (default 10 s)")
    parser.add_argument("--baseline-cap", type=int, default=2_000_000, help="most rows of the simulate baseline")
    parser.add_argument("--ingest-baseline-cap", type=int, default=300_000,
                        help="most rows per table the ingest baseline (pandas) reads; its rate is applied to all")
    parser.add_argument("--stage-timeout", type=float, default=1800, help="seconds before a stage is stopped")
    parser.add_argument("--end", default="2026-06-30", help="the simulated history ends the day before")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--pg-server", default=PG_SERVER)
    parser.add_argument("--keep", action="store_true",
                        help="keep each size's shop: its data dir and its store's database")
    args = parser.parse_args(argv)
    quick = args.dry_run
    if quick and "--sizes" not in " ".join(argv if argv is not None else sys.argv[1:]):
        args.sizes = "2000"
    defaults = {"incremental_orders": (500, 10_000), "api_seconds": (5, 15), "pgbench_seconds": (3, 10),
                "warm_rounds": (1, 3)}
    for name, (short, full) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, short if quick else full)
    # --dry-run checks that everything runs: a forecast with one backtest origin on few rows is enough
    args.forecast = {"backtest_origins": 1, "max_training_rows": 20_000} if quick else None
    args.sizes = sorted(int(s) for s in args.sizes.split(",") if s.strip())
    args.stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = set(args.stages) - set(TABLE_ORDER)
    if unknown or not args.stages:
        parser.error(f"unknown stages {sorted(unknown)}; choose among {', '.join(TABLE_ORDER)}")
    if not args.sizes or min(args.sizes) < 100:
        parser.error("--sizes: at least 100 orders each")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from ops_store.settings import StoreSettings

    data_dir = StoreSettings().ensure_data_dir().resolve()
    args.out = (args.out or data_dir / "bench").resolve()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = args.out / f"run_all-{stamp}"
    run_dir.mkdir(parents=True, exist_ok=True)
    commit, changed = _code_version()
    with open("/proc/meminfo") as f:
        ram_gb = int(f.readline().split()[1]) / 2**20
    given = argv if argv is not None else sys.argv[1:]
    meta = {"started": datetime.now(UTC).isoformat(timespec="seconds"), "stamp": stamp, "commit": commit,
            "changed": changed, "ram_gb": ram_gb, "run_dir": str(run_dir), "wall_s": 0.0,
            "command": " ".join([".venv/bin/python", "bench/run_all.py", *given])}

    def stop(signum: int, frame: Any) -> None:  # SIGTERM like Ctrl-C: the finally blocks drop the databases
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    began = time.perf_counter()
    say(began, f"sizes {', '.join(f'{s:,}' for s in args.sizes)}; stages {', '.join(stages_to_run(args.stages))}; "
               f"backend {args.backend}; run folder {run_dir}")
    results: list[StageRun] = []
    path = None
    try:
        for size in args.sizes:
            run_size(size, args, run_dir, began, results)
            meta["wall_s"] = time.perf_counter() - began
            path = write_outputs(results, args, meta)  # after every size: a crash later keeps what was measured
    finally:
        meta["wall_s"] = time.perf_counter() - began
        if results:
            path = write_outputs(results, args, meta)
    if path is not None:
        print()
        print(path.read_text())
        say(began, f"written to {path} and {args.out / 'run_all-latest.md'} (+ .csv)")
    return 1 if any(r.status == "failed" for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
