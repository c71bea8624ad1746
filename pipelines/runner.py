"""Running the pipeline end to end from the command line (what `ecom pipeline run` does).

Three runs, in Dagster's own instance under DAGSTER_HOME (so they show in `dagster dev` like any
other): the clickstream days found in the landing folder, the competitor price files, then the
build of every store table with its checks and the published snapshot. Progress is read from
the instance's event log while a run executes."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from ops_store.db import Store
from ops_store.errors import InvalidInput
from ops_store.security.access import Principal, acting_as, current, require
from pipelines.assets_customers import train_customer_models
from pipelines.assets_forecast import demand_model
from pipelines.assets_landing import COMPETITOR_KEY, EVENTS_KEY, competitor_files, landing_files
from pipelines.assets_recommend import train_recommenders
from pipelines.dagster_storage import event_log_yaml
from pipelines.execution import INVOCATION_TAG, execute
from pipelines.jobs import full_refresh_config
from pipelines.run_log import record_run
from pipelines.settings import PipelineSettings
from pipelines.tiers import daily_due

Progress = Callable[[str, int, int, str], None]  # phase, done, total, latest message
OURS = "# Written by ecom (pipelines/runner.py) from ECOM_DAGSTER_STORAGE_URL; replace it to manage it yourself.\n"
TELEMETRY_OFF = "telemetry:\n  enabled: false\n"
# The URL stays in the environment: the file names the variable, never the password.
PG_STORAGE = "storage:\n  postgres:\n    postgres_url:\n      env: ECOM_DAGSTER_STORAGE_URL\n"
LOAD_HISTORY = 10_000  # materialisations read to find each partition's last load (older ones reload)
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}  # the event log keeps everything
REPORTS_PER_WORKER = 4  # backfill_reports starts a worker process per this many reports


def prepare_environment(settings: PipelineSettings | None = None) -> Path:
    """DAGSTER_HOME inside the data dir with telemetry off (and dbt's and others' tracking off), its
    runs and event log in PostgreSQL when ECOM_DAGSTER_STORAGE_URL says so, in SQLite files under
    DAGSTER_HOME otherwise (the event log's connections kept open). A dagster.yaml someone
    wrote by hand (a cluster's run launcher, say) is left as it is."""
    settings = settings or PipelineSettings()
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    # Without a PostgreSQL instance: Dagster's SQLite files, with the event log's connections kept
    # open (pipelines/dagster_storage.py).
    storage = PG_STORAGE if settings.dagster_storage_url else event_log_yaml(str(home / "history" / "runs"))
    wanted = OURS + TELEMETRY_OFF + storage
    current = config.read_text() if config.exists() else None
    if current is None or (current != wanted and (current == TELEMETRY_OFF or current.startswith(OURS))):
        config.write_text(wanted)
    if settings.dagster_storage_url:  # with the driver Dagster needs; step processes inherit it
        os.environ["ECOM_DAGSTER_STORAGE_URL"] = settings.dagster_storage_url
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    return home


@dataclass
class PhaseResult:
    phase: str
    run_id: str
    success: bool
    materialized: int
    failed_checks: list[dict[str, object]] = field(default_factory=list)  # check key and offending keys
    failures: list[str] = field(default_factory=list)


@dataclass
class PipelineResult:
    phases: list[PhaseResult] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return all(p.success for p in self.phases)


def _watch(instance: dg.DagsterInstance, invocation: str, phase: str, total: int, progress: Progress,
           stop: threading.Event) -> None:
    done_types = {dg.DagsterEventType.ASSET_MATERIALIZATION}
    run_ids: list[str] = []
    while not stop.wait(0.3):
        # The run is found by its tag: the multiprocess executor's run id is only known once it starts.
        run_ids = run_ids or instance.get_run_ids(dg.RunsFilter(tags={INVOCATION_TAG: invocation}), limit=1)
        if not run_ids:
            continue
        logs = instance.all_logs(run_ids[0], of_type=done_types)
        latest = logs[-1].dagster_event.asset_key.to_user_string() if logs and logs[-1].dagster_event else ""
        progress(phase, len(logs), total, latest)


def _execute(defs: dg.Definitions, job_name: str, phase: str, instance: dg.DagsterInstance, total: int,
             progress: Progress | None, *, settings: PipelineSettings, run_config: dict[str, object] | None = None,
             tags: dict[str, str] | None = None, asset_selection: list[dg.AssetKey] | None = None,
             partition_key: str | None = None, parallel: bool = False) -> PhaseResult:
    """Run one job to the end; `parallel` runs it with the configured executor (the build job),
    otherwise in this process (single-asset runs: a partition, a range of days, one report)."""
    invocation = str(uuid.uuid4())
    stop = threading.Event()
    watcher = None
    if progress:
        progress(phase, 0, total, "starting")
        watcher = threading.Thread(target=_watch, args=(instance, invocation, phase, total, progress, stop),
                                   daemon=True)
        watcher.start()
    try:
        run_id, result = execute(defs, job_name, instance,
                                 executor=settings.executor if parallel else "in_process",
                                 run_config={**QUIET, **(run_config or {})},
                                 tags={**(tags or {}), INVOCATION_TAG: invocation},
                                 asset_selection=asset_selection, partition_key=partition_key)
    finally:
        stop.set()
        if watcher:
            watcher.join()
    materialized = len(result.get_asset_materialization_events())
    failed_checks = [{"check": e.asset_check_key.to_user_string(),
                      "metadata": {k: getattr(v, "value", v) for k, v in e.metadata.items()}}
                     for e in result.get_asset_check_evaluations() if not e.passed]
    failures = step_failures(result)
    if progress:
        progress(phase, materialized, total, "done" if result.success else "failed")
    record_run(instance, run_id, settings, failures)
    return PhaseResult(phase, run_id, result.success, materialized, failed_checks, failures)


def run_pipeline(*, full: bool = False, landing: bool = True, models: bool = True, progress: Progress | None = None,
                 settings: PipelineSettings | None = None,
                 op_config: dict[str, dict[str, object]] | None = None) -> PipelineResult:
    """Landing files first, then the store tables, the dbt models (unless models=False), checks
    and the published snapshot. ``op_config`` sets run config of the build's ops by name, e.g.
    ``{"train_demand_model": {"max_training_rows": 20000}}`` for a quicker forecast."""
    require("pipeline.run")
    settings = settings or PipelineSettings()
    prepare_environment(settings)
    from pipelines.definitions import build_definitions

    defs = build_definitions()
    outcome = PipelineResult()
    daily = daily_tier_keys(defs)
    held = _warehouse_holds(settings, daily)
    with dg.DagsterInstance.get() as instance:
        if landing:
            days = _due(instance, EVENTS_KEY, _day_stamps(settings), full, held.get("events") if held else None)
            if days:
                span = _days_between(days[0], days[-1])
                outcome.phases.append(_execute(defs, "events_daily", "clickstream days", instance, span, progress,
                                               settings=settings, tags=_range(days[0], days[-1])))
            stamps = {p.name: p.stat().st_mtime for p in landing_files(settings, "competitor_prices")}
            files = _due(instance, COMPETITOR_KEY, stamps, full, held.get("competitor_prices") if held else None)
            if files:
                known = set(instance.get_dynamic_partitions(competitor_files.name))
                new = [f for f in sorted(stamps) if f not in known]
                if new:
                    instance.add_dynamic_partitions(competitor_files.name, new)
                keys = instance.get_dynamic_partitions(competitor_files.name)
                wanted = [i for i, k in enumerate(keys) if k in set(files)]
                ordered = keys[wanted[0]:wanted[-1] + 1]
                outcome.phases.append(_execute(defs, "competitor_prices", "competitor price files", instance,
                                               len(ordered), progress, settings=settings,
                                               tags=_range(ordered[0], ordered[-1])))
        train = full or _training_due(instance, settings) or (held is not None and not held["trained"])
        build_job = "full_build" if full else "ingest"
        if not full and models and (train or (held is not None and not held["daily"])
                                    or daily_due(instance, daily, settings.daily_refresh_hours)):
            build_job = "daily_build"  # the daily tier was never built here, or is due again
        whole = defs.resolve_job_def(build_job).asset_layer.selected_asset_keys
        keys = whole
        if not models:  # the store tables and the snapshot only
            keys = {k for k in keys if k.path[0] in ("raw", "published")}
        elif not train:  # score with the models trained last (their outputs are in this warehouse)
            keys = keys - training_keys()
        label = "tables, models, snapshot" if models else "store tables and snapshot"
        ops: dict[str, object] = dict(full_refresh_config()["ops"]) if full else {}  # type: ignore[call-overload]
        ops.update({name: {"config": values} for name, values in (op_config or {}).items()})
        outcome.phases.append(_execute(defs, build_job, label, instance, len(keys), progress,
                                       settings=settings, run_config={"ops": ops} if ops else None,
                                       # the whole job unsubset when nothing is left out (0.4 s less at 1M)
                                       asset_selection=None if keys == whole else sorted(keys), parallel=True))
    return outcome


def _day_stamps(settings: PipelineSettings) -> dict[str, float]:
    """Each clickstream day waiting in the landing folder, with its newest file's time."""
    stamps: dict[str, float] = {}
    for path in landing_files(settings, "events"):
        day = path.parent.name.removeprefix("dt=")
        stamps[day] = max(stamps.get(day, 0.0), path.stat().st_mtime)
    return stamps


def _due(instance: dg.DagsterInstance, key: dg.AssetKey, stamps: dict[str, float], full: bool,
         in_warehouse: set[str] | None = None) -> list[str]:
    """The partitions whose files arrived or changed since their last load (all of them if full):
    an incremental run does not reload a year of clickstream to pick up yesterday. A partition the
    warehouse itself has no record of (`in_warehouse`, when known) loads whatever Dagster says."""
    if full:
        return sorted(stamps)
    if in_warehouse is not None:
        stamps = {p: (float("inf") if p not in in_warehouse else changed) for p, changed in stamps.items()}
    loaded: dict[str, float] = {}
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key), limit=LOAD_HISTORY).records
    for record in records:  # newest first
        if record.partition_key is not None:
            loaded.setdefault(record.partition_key, record.timestamp)
    return sorted(p for p, changed in stamps.items() if p not in loaded or changed >= loaded[p])


def daily_tier_keys(defs: dg.Definitions) -> set[dg.AssetKey]:
    """The daily tier's assets that `daily_build` builds and `ingest` does not, training left out
    (ECOM_RETRAIN_HOURS decides that)."""
    daily = defs.resolve_job_def("daily_build").asset_layer.selected_asset_keys
    return set(daily - defs.resolve_job_def("ingest").asset_layer.selected_asset_keys) - training_keys()


def _warehouse_holds(settings: PipelineSettings, daily: set[dg.AssetKey] | None = None) -> dict[str, Any] | None:
    """What the warehouse itself holds: the landing partitions it loaded (by source), whether
    every training output is there ("trained") and every table of the daily tier (``daily``).
    Dagster's instance remembers loads, trainings and builds, but the warehouse may be new,
    emptied or restored since (another ECOM_WAREHOUSE_PATH, a deleted file): then what it lacks
    loads, trains and builds again. None when it cannot be read now (a writer holds the file): the
    instance's memory alone decides."""
    from pipelines.dbt_steps import unfinished
    from pipelines.warehouse import open_warehouse, table_exists

    empty: dict[str, Any] = {"events": set(), "competitor_prices": set(), "trained": False, "daily": False}
    if settings.warehouse_mode == "file" and not settings.warehouse_path.exists():
        return empty
    try:
        con = open_warehouse(settings, read_only=True)
    except Exception:  # noqa: BLE001 - busy (another process writes it) or unreadable: no opinion
        return None
    try:
        held = dict(empty)
        if table_exists(con, "meta.landing_files"):
            for source, partition in con.execute("SELECT DISTINCT source, partition_key FROM meta.landing_files"
                                                 ).fetchall():
                held.setdefault(source, set()).add(partition)
        held["trained"] = all(table_exists(con, f"ml.{key.path[-1]}") for key in training_keys())
        # a daily model a killed or failed build left half-built keeps every publish back until rebuilt
        half_built = {model for *_, models in unfinished(con) for model in models}
        held["daily"] = all(table_exists(con, f"{key.path[0]}.{key.path[-1]}")
                            and key.to_user_string() not in half_built for key in daily or ())
        return held
    finally:
        con.close()


def training_keys() -> set[dg.AssetKey]:
    """What the three training steps materialise (forecast, recommenders, customer models)."""
    return {key for asset in (demand_model, train_recommenders, train_customer_models) for key in asset.keys}


def _training_due(instance: dg.DagsterInstance, settings: PipelineSettings) -> bool:
    """Retrain when a model was never trained, or last trained over ECOM_RETRAIN_HOURS ago; the
    runs in between score with the saved models (training is most of a small run's time)."""
    oldest = time.time() - settings.retrain_hours * 3600
    for key in training_keys():
        event = instance.get_latest_materialization_event(key)
        if event is None or event.timestamp < oldest:
            return True
    return False


def step_failures(result: Any) -> list[str]:
    """"<step>: <error <- its causes>" for each step of a Dagster run's result that failed."""
    return [f"{e.step_key}: {_error_text(e.event_specific_data.error)}" for e in result.all_events
            if e.is_step_failure]


def _error_text(error: Any) -> str:
    """A step's error and its causes, innermost last (Dagster wraps the real reason)."""
    parts = []
    while error is not None:
        message = " ".join((error.message or "").split())
        parts.append(message[:400] if message else "error")
        error = error.cause
    return " <- ".join(parts)


def _days_between(first: str, last: str) -> int:
    return (date.fromisoformat(last) - date.fromisoformat(first)).days + 1


def _range(first: str, last: str) -> dict[str, str]:
    return {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}


def backfill_events(first: date, last: date, *, progress: Progress | None = None,
                    settings: PipelineSettings | None = None) -> PipelineResult:
    """Load the clickstream days first..last (inclusive) as one run."""
    from pipelines.definitions import build_definitions

    require("pipeline.run")
    settings = settings or PipelineSettings()
    if last < first:
        raise InvalidInput(f"--to {last} is before --from {first}", field="--to")
    start = date.fromisoformat(settings.events_start)
    if first < start:
        raise InvalidInput(f"--from {first} is before the first clickstream partition {start} (ECOM_EVENTS_START)",
                           field="--from")
    prepare_environment(settings)
    outcome = PipelineResult()
    with dg.DagsterInstance.get() as instance:
        outcome.phases.append(_execute(build_definitions(), "events_daily", "clickstream days", instance,
                                       _days_between(first.isoformat(), last.isoformat()), progress,
                                       settings=settings, tags=_range(first.isoformat(), last.isoformat())))
    return outcome


def backfill_reports(kind: str, first: date, last: date, *, merchants: list[str] | None = None,
                     progress: Progress | None = None, settings: PipelineSettings | None = None) -> PipelineResult:
    """Write (again) the merchants' reports for every week (or day) from the one holding ``first``
    to the one holding ``last``: one Dagster run per merchant and period, as a backfill launched
    from the UI would make, recorded in the instance like any run."""
    from ops_store.services import catalog
    from pipelines.assets_reports import TIME_DIMENSION, report_job_name, sync_merchant_partitions
    from pipelines.definitions import build_definitions
    from pipelines.reports.periods import KINDS, period_of

    require("pipeline.run")
    settings = settings or PipelineSettings()
    if kind not in KINDS:
        raise InvalidInput(f"period must be one of {', '.join(KINDS)}", field="--period")
    if last < first:
        raise InvalidInput(f"--to {last} is before --from {first}", field="--to")
    start = period_of(kind, date.fromisoformat(settings.reports_start))  # type: ignore[arg-type]
    if first < start.start:
        raise InvalidInput(f"--from {first} is before the first report partition {start.start} (ECOM_REPORTS_START)",
                           field="--from")
    prepare_environment(settings)
    store = Store(settings.store.store_url)
    try:
        known = [m["code"] for m in catalog.list_merchants(store)]
    finally:
        store.dispose()
    unknown = sorted(set(merchants or []) - set(known))
    if unknown:
        raise InvalidInput(f"no merchant {', '.join(unknown)} in the store (`ecom merchant list`)", field="--merchant")
    periods = []
    period = period_of(kind, first)  # type: ignore[arg-type]
    while period.start <= last:
        periods.append(period)
        period = period_of(kind, period.full_end + timedelta(days=1))  # type: ignore[arg-type]
    job = report_job_name(kind)  # type: ignore[arg-type]
    work = [(f"{code} {kind} {period.key}", {"merchant": code, TIME_DIMENSION[kind]: period.key})
            for code in merchants or known for period in periods]
    with dg.DagsterInstance.get() as instance:
        sync_merchant_partitions(instance, known)
    # A worker process takes about 5 s to start (Dagster, the code location, WeasyPrint): worth it
    # from a few reports each.
    workers = min(settings.max_concurrent, len(work) // REPORTS_PER_WORKER)
    if workers <= 1:
        defs = build_definitions()
        return PipelineResult([_report_run(job, phase, key, settings, progress=progress, defs=defs)
                               for phase, key in work])
    # Rendering a report (charts, then the PDF) keeps one core busy in Python for about two seconds:
    # max_concurrent worker processes write them side by side, each its own Dagster run as above.
    who = current()
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = []
        for phase, key in work:
            if progress:
                progress(phase, 0, 1, "queued")
            futures.append(pool.submit(_report_run, job, phase, key, settings, who))
        for future in as_completed(futures):
            if progress:
                done = future.result()
                progress(done.phase, done.materialized, 1, "done" if done.success else "failed")
        return PipelineResult([future.result() for future in futures])


@cache
def _worker_definitions() -> dg.Definitions:
    """A worker process's definitions, built once (the process lives for one backfill)."""
    from pipelines.definitions import build_definitions

    return build_definitions()


def _report_run(job: str, phase: str, key: dict[str, str], settings: PipelineSettings, who: Principal | None = None,
                progress: Progress | None = None, defs: dg.Definitions | None = None) -> PhaseResult:
    """One merchant's report for one period, as its own Dagster run: in this process with `defs`, or
    in a worker process of backfill_reports, acting for the caller `who`."""
    with acting_as(who) if who else nullcontext(), dg.DagsterInstance.get() as instance:
        return _execute(defs or _worker_definitions(), job, phase, instance, 1, progress, settings=settings,
                        partition_key=dg.MultiPartitionKey(key), tags={"ecom/backfill": "reports"})
