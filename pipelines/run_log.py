"""The journal of finished pipeline runs, beside the published snapshots (snapshots/runs.jsonl).

The dashboards' Data health page reads it to show the last run and its status. It lives outside
the warehouse on purpose: a failed run publishes no snapshot, yet its failure must be seen.
`ecom pipeline run` records each run it executes; two run-status sensors record the runs that
schedules, sensors and the Dagster UI launch. A run recorded twice (both saw it) is read once:
readers keep the last line per run id.
"""

from __future__ import annotations

import fcntl
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from pipelines.settings import PipelineSettings

JOURNAL = "runs.jsonl"
KEEP_LINES = 2000


def journal_path(settings: PipelineSettings) -> Path:
    return settings.snapshot_dir / JOURNAL


def _stamp(epoch: float | None) -> str | None:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds") if epoch else None


def failed_checks(instance: dg.DagsterInstance, run_id: str) -> list[dict[str, Any]]:
    """The asset checks that did not pass in a run: check key and severity."""
    events = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    failed = []
    for record in events:
        evaluation = record.dagster_event.event_specific_data  # type: ignore[union-attr]
        if not evaluation.passed:
            failed.append({"check": evaluation.asset_check_key.to_user_string(),
                           "severity": evaluation.severity.value if evaluation.severity else "ERROR"})
    return failed


def record_run(instance: dg.DagsterInstance, run_id: str, settings: PipelineSettings,
               failures: list[str] | None = None) -> dict[str, Any]:
    """Append one finished run (job, status, times, failed checks and steps) to the journal."""
    run = instance.get_run_by_id(run_id)
    stats = instance.get_run_stats(run_id)
    record = {
        "run_id": run_id,
        "job": run.job_name if run else None,
        "status": run.status.value if run else "UNKNOWN",
        "started_at": _stamp(stats.start_time),
        "finished_at": _stamp(stats.end_time) or datetime.now(UTC).isoformat(timespec="seconds"),
        "materialized": stats.materializations,
        "failed_checks": failed_checks(instance, run_id),
        "failures": failures if failures is not None else _step_failures(instance, run_id),
    }
    path = journal_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # several writers (CLI runs, the daemon's sensors)
        handle.write(json.dumps(record, sort_keys=True) + "\n")
        handle.flush()
        handle.seek(0)
        lines = handle.readlines()
        if len(lines) > KEEP_LINES * 2:
            handle.seek(0)
            handle.truncate()
            handle.writelines(lines[-KEEP_LINES:])
    return record


def _step_failures(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    failures = instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
    out = []
    for record in failures:
        error = record.dagster_event.event_specific_data.error  # type: ignore[union-attr]
        out.append(f"{record.dagster_event.step_key}: {(error.message or 'error').strip()[:400]}")
    return out


def _record_from_sensor(context: dg.RunStatusSensorContext) -> None:
    record_run(context.instance, context.dagster_run.run_id, PipelineSettings())


@dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS, default_status=dg.DefaultSensorStatus.RUNNING,
                      description="Records each successful run in snapshots/runs.jsonl (Data health page).")
def record_successful_runs(context: dg.RunStatusSensorContext) -> None:
    _record_from_sensor(context)


@dg.run_failure_sensor(default_status=dg.DefaultSensorStatus.RUNNING,
                       description="Records each failed run in snapshots/runs.jsonl (Data health page).")
def record_failed_runs(context: dg.RunFailureSensorContext) -> None:
    _record_from_sensor(context)
