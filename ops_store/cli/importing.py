"""`ecom import products|customers|stock|orders FILE`: a merchant's own history from CSV or Parquet.

The lead registers it with ``app.command("import")(import_command)``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from ops_store.cli.output import JSON_OPTION, console, run, store
from ops_store.importer import ENTITIES, ImportResult, import_file


class RichReporter:
    """One progress bar per phase (read, validate, write ...), on stderr."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None

    def start(self, phase: str, total: int) -> None:
        if self.task is not None:
            self.progress.update(self.task, completed=self.progress.tasks[-1].total)
        self.task = self.progress.add_task(phase, total=max(total, 1))

    def advance(self, n: int) -> None:
        if self.task is not None:
            self.progress.advance(self.task, n)

    def finish(self) -> None:
        if self.task is not None:
            self.progress.update(self.task, completed=self.progress.tasks[-1].total)


def _render(result: ImportResult) -> None:
    console.print(f"[bold]import {result.entity}[/bold] from {result.file}")
    console.print(f"  accepted: {result.accepted}   rejected: {result.rejected}   skipped (imported before): "
                  f"{result.skipped}")
    for key, value in result.details.items():
        if key != "reasons":
            console.print(f"  {key.replace('_', ' ')}: {value}")
    for item in result.details.get("reasons", []):
        console.print(f"  refused {item['rows']} row(s): {item['field']} ({item['code']})")
    if result.rejects_file:
        console.print(f"  rejected rows with their row number and reason: {result.rejects_file}")


def import_command(
    entity: str = typer.Argument(..., help="products, customers, stock or orders"),
    file: Path = typer.Argument(..., help="A .csv or .parquet file (columns: docs/import.md)."),
    merchant: str | None = typer.Option(None, "--merchant", help="Merchant code for rows without one."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Import products, customers, stock receipts or past orders from a file. Invalid rows are
    quarantined and written to FILE.rejects.csv; a re-run skips what was imported before."""
    progress = Progress(TextColumn("{task.description:<20}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=Console(stderr=True), disable=as_json)
    reporter = RichReporter(progress)

    def action() -> Any:
        with progress:
            result = import_file(store(), entity, file, merchant=merchant, reporter=reporter)
            reporter.finish()
        return result

    def render(result: ImportResult) -> None:
        _render(result)

    if as_json:
        run(True, lambda: action().as_json())
    else:
        run(False, action, render)


__all__ = ["ENTITIES", "import_command"]
