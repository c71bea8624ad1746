"""`ecom pipeline ...`: run, backfill and inspect the pipeline from the command line.

Dagster is imported inside each command, so `ecom` itself starts fast."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from ops_store.cli.output import JSON_OPTION, console, run

app = typer.Typer(help="The data pipeline: store and landing files into the warehouse, checks, snapshot.",
                  no_args_is_help=True)


class Bars:
    """One progress bar per phase of the run, fed from the Dagster event log."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, phase: str, done: int, total: int, latest: str) -> None:
        if phase not in self.tasks:
            self.tasks[phase] = self.progress.add_task(phase, total=total, latest="")
        self.progress.update(self.tasks[phase], completed=done, total=total, latest=latest)


@contextmanager
def dbt_output_to_file() -> Iterator[None]:
    previous = os.environ.get("ECOM_DBT_LOG_TO_FILE")
    os.environ["ECOM_DBT_LOG_TO_FILE"] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("ECOM_DBT_LOG_TO_FILE", None)
        else:
            os.environ["ECOM_DBT_LOG_TO_FILE"] = previous


def _summary(result: Any) -> dict[str, Any]:
    return {"success": result.success, "phases": [
        {"phase": p.phase, "success": p.success, "materialized": p.materialized, "run_id": p.run_id,
         "failed_checks": p.failed_checks, "failures": p.failures} for p in result.phases]}


def _report(summary: dict[str, Any], as_json: bool) -> None:
    if not as_json:
        for phase in summary["phases"]:
            mark = "[green]ok[/green]" if phase["success"] else "[red]FAILED[/red]"
            console.print(f"{mark} {phase['phase']}: {phase['materialized']} materialised (run {phase['run_id']})")
            for check in phase["failed_checks"]:
                console.print(f"  [red]failed check[/red] {check['check']}")
                for key, value in check["metadata"].items():
                    if value not in ([], {}, None, ""):
                        console.print(f"    {key}: {value}")
            for failure in phase["failures"]:
                console.print(f"  [red]failed step[/red] {failure}")
        if not summary["success"]:
            console.print("The snapshot was not published. Open the runs in the Dagster UI (`ecom pipeline dev`) "
                          "for each failed check's offending keys, fix the data, and run again.")
    if not summary["success"]:
        raise typer.Exit(1)


def _run_with_bars(as_json: bool, action: Any) -> dict[str, Any]:
    if as_json:  # stdout is the JSON document alone: dbt's output goes to its log file
        with dbt_output_to_file():
            return _summary(action(None))
    columns = (TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("[dim]{task.fields[latest]}"))
    # Bars write to the stdout of now (bound), so dbt's output sent to a file meanwhile cannot take them.
    with Progress(*columns, console=Console(file=sys.stdout)) as progress, dbt_output_to_file():
        return _summary(action(Bars(progress)))


@app.command("run")
def run_command(full: bool = typer.Option(False, "--full", help="Reload every store table whole."),
                landing: bool = typer.Option(True, "--landing/--no-landing",
                                             help="Also load clickstream and competitor price files."),
                models: bool = typer.Option(True, "--models/--no-models", help="Also build the dbt models."),
                as_json: bool = JSON_OPTION) -> None:
    """Run the whole pipeline now: landing files, store tables, checks, published snapshot.
    Exits 1 when any step or blocking check fails (the snapshot then stays as it was)."""
    from pipelines.runner import run_pipeline

    def action() -> dict[str, Any]:
        return _run_with_bars(as_json, lambda bars: run_pipeline(full=full, landing=landing, models=models,
                                                                         progress=bars))

    _report(run(as_json, action, render=lambda _: None), as_json)


@app.command("backfill")
def backfill_command(start: str = typer.Option(..., "--from", help="First day, YYYY-MM-DD."),
                     end: str = typer.Option(..., "--to", help="Last day, YYYY-MM-DD."),
                     as_json: bool = JSON_OPTION) -> None:
    """Load (again) the clickstream days from --from to --to, as one run."""
    from pipelines.runner import backfill_events

    def action() -> dict[str, Any]:
        first, last = _day("--from", start), _day("--to", end)
        return _run_with_bars(as_json, lambda bars: backfill_events(first, last, progress=bars))

    _report(run(as_json, action, render=lambda _: None), as_json)


@app.command("backfill-reports")
def backfill_reports_command(
    period: str = typer.Option("week", "--period", help="week or day."),
    start: str = typer.Option(..., "--from", help="A day in the first period, YYYY-MM-DD."),
    end: str = typer.Option(..., "--to", help="A day in the last period, YYYY-MM-DD."),
    merchant: list[str] = typer.Option(None, "--merchant", help="Only these merchants (repeatable); default all."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Write (again) merchants' reports for past weeks or days: one Dagster run per merchant and
    period, from the published snapshot. Mail already sent for a period is not sent again."""
    from pipelines.runner import backfill_reports

    def action() -> dict[str, Any]:
        first, last = _day("--from", start), _day("--to", end)
        return _run_with_bars(as_json, lambda bars: backfill_reports(period, first, last, merchants=merchant or None,
                                                                     progress=bars))

    _report(run(as_json, action, render=lambda _: None), as_json)


@app.command("status")
def status_command(as_json: bool = JSON_OPTION) -> None:
    """Watermarks of every table, quarantined landing rows, and the published snapshot."""
    from pipelines.status import pipeline_status

    run(as_json, pipeline_status)


@app.command("dev")
def dev_command(port: int = typer.Option(3000, "--port")) -> None:
    """Start Dagster's UI and daemon on this code location (`dagster dev`); Ctrl-C stops it."""
    from pipelines.runner import prepare_environment

    home = prepare_environment()
    console.print(f"DAGSTER_HOME={home}; UI on http://127.0.0.1:{port}")
    args = [os.path.join(os.path.dirname(sys.executable), "dagster"), "dev", "-m", "pipelines.definitions",
            "-h", "127.0.0.1", "-p", str(port)]
    raise typer.Exit(subprocess.call(args))


def _day(option: str, value: str) -> date:
    from ops_store.errors import InvalidInput

    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{option}: {value!r} is not a date (YYYY-MM-DD)", field=option) from None
