"""Running the pipeline end to end from the command line (what `ecom pipeline run` does).

Three runs, in Dagster's own instance under DAGSTER_HOME (so they show in `dagster dev` like any
other): the clickstream days found in the landing folder, the competitor price files, then the
build of every store table with its checks and the published snapshot. Progress is read from
the instance's event log while a run executes."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from ops_store.db import Store
from ops_store.errors import InvalidInput
from ops_store.security.access import require
from pipelines.assets_landing import competitor_files, event_days, landing_files
from pipelines.jobs import full_refresh_config
from pipelines.run_log import record_run
from pipelines.settings import PipelineSettings

Progress = Callable[[str, int, int, str], None]  # phase, done, total, latest message
TELEMETRY_OFF = "telemetry:\n  enabled: false\n"
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}  # the event log keeps everything


def prepare_environment(settings: PipelineSettings | None = None) -> Path:
    """DAGSTER_HOME inside the data dir with telemetry off, and dbt's and others' tracking off."""
    settings = settings or PipelineSettings()
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(TELEMETRY_OFF)
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


def _watch(instance: dg.DagsterInstance, run_id: str, phase: str, total: int, progress: Progress,
           stop: threading.Event) -> None:
    done_types = {dg.DagsterEventType.ASSET_MATERIALIZATION}
    while not stop.wait(0.3):
        logs = instance.all_logs(run_id, of_type=done_types)
        latest = logs[-1].dagster_event.asset_key.to_user_string() if logs and logs[-1].dagster_event else ""
        progress(phase, len(logs), total, latest)


def _execute(defs: dg.Definitions, job_name: str, phase: str, instance: dg.DagsterInstance, total: int,
             progress: Progress | None, **kwargs: object) -> PhaseResult:
    run_id = str(uuid.uuid4())
    stop = threading.Event()
    watcher = None
    if progress:
        progress(phase, 0, total, "starting")
        watcher = threading.Thread(target=_watch, args=(instance, run_id, phase, total, progress, stop), daemon=True)
        watcher.start()
    try:
        run_config = {**QUIET, **(kwargs.pop("run_config", None) or {})}  # type: ignore[dict-item]
        result = defs.resolve_job_def(job_name).execute_in_process(instance=instance, run_id=run_id,
                                                                   run_config=run_config, raise_on_error=False,
                                                                   **kwargs)
    finally:
        stop.set()
        if watcher:
            watcher.join()
    materialized = len(result.get_asset_materialization_events())
    failed_checks = [{"check": e.asset_check_key.to_user_string(),
                      "metadata": {k: getattr(v, "value", v) for k, v in e.metadata.items()}}
                     for e in result.get_asset_check_evaluations() if not e.passed]
    failures = [f"{e.step_key}: {_error_text(e.event_specific_data.error)}"  # type: ignore[union-attr]
                for e in result.all_events if e.is_step_failure]
    if progress:
        progress(phase, materialized, total, "done" if result.success else "failed")
    record_run(instance, run_id, PipelineSettings(), failures)
    return PhaseResult(phase, run_id, result.success, materialized, failed_checks, failures)


def run_pipeline(*, full: bool = False, landing: bool = True, models: bool = True, progress: Progress | None = None,
                 settings: PipelineSettings | None = None, defs: dg.Definitions | None = None,
                 op_config: dict[str, dict[str, object]] | None = None) -> PipelineResult:
    """Landing files first, then the store tables, the dbt models (unless models=False), checks
    and the published snapshot. ``op_config`` sets run config of the build's ops by name, e.g.
    ``{"train_demand_model": {"max_training_rows": 20000}}`` for a quicker forecast."""
    require("pipeline.run")
    settings = settings or PipelineSettings()
    prepare_environment(settings)
    if defs is None:
        from pipelines.definitions import build_definitions

        defs = build_definitions()
    outcome = PipelineResult()
    with dg.DagsterInstance.get() as instance:
        if landing:
            days = event_days(settings)
            if days:
                span = _days_between(days[0], days[-1])
                outcome.phases.append(_execute(defs, "events_daily", "clickstream days", instance, span, progress,
                                               tags=_range(days[0], days[-1])))
            files = [p.name for p in landing_files(settings, "competitor_prices")]
            if files:
                known = set(instance.get_dynamic_partitions(competitor_files.name))
                new = [f for f in files if f not in known]
                if new:
                    instance.add_dynamic_partitions(competitor_files.name, new)
                keys = instance.get_dynamic_partitions(competitor_files.name)
                wanted = [i for i, k in enumerate(keys) if k in set(files)]
                ordered = keys[wanted[0]:wanted[-1] + 1]
                outcome.phases.append(_execute(defs, "competitor_prices", "competitor price files", instance,
                                               len(ordered), progress, tags=_range(ordered[0], ordered[-1])))
        build_job = "full_build" if full else "ingest"
        keys = defs.resolve_job_def(build_job).asset_layer.selected_asset_keys
        if not models:  # the store tables and the snapshot only
            keys = {k for k in keys if k.path[0] in ("raw", "published")}
        label = "tables, models, snapshot" if models else "store tables and snapshot"
        ops: dict[str, object] = dict(full_refresh_config()["ops"]) if full else {}  # type: ignore[call-overload]
        ops.update({name: {"config": values} for name, values in (op_config or {}).items()})
        outcome.phases.append(_execute(defs, build_job, label, instance, len(keys), progress,
                                       run_config={"ops": ops} if ops else None,
                                       asset_selection=None if models else sorted(keys)))
    return outcome


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
                                       tags=_range(first.isoformat(), last.isoformat())))
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
    defs = build_definitions()
    outcome = PipelineResult()
    with dg.DagsterInstance.get() as instance:
        sync_merchant_partitions(instance, known)
        for code in merchants or known:
            for period in periods:
                key = dg.MultiPartitionKey({"merchant": code, TIME_DIMENSION[kind]: period.key})
                job = report_job_name(kind)  # type: ignore[arg-type]
                outcome.phases.append(_execute(defs, job, f"{code} {kind} {period.key}", instance, 1, progress,
                                               partition_key=key,
                                               tags={"ecom/backfill": "reports"}))
    return outcome
