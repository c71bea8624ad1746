"""`ecom backup` and `ecom restore`: register with
``app.command("backup")(backup_command)`` and ``app.command("restore")(restore_command)``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ops_store import backup
from ops_store.cli.output import JSON_OPTION, console, run, store


def _table_line(verb: str) -> backup.Progress:
    def show(table: str, info: dict[str, Any]) -> None:
        console.print(f"  [green]✓[/green] {verb} [bold]{table}[/bold]: {info['rows']} rows, "
                      f"sha256 {info['sha256'][:12]}…")

    return show


def _summary(result: dict[str, Any]) -> None:
    verb = "restored from" if "target" in result else "written to"
    console.print(f"[bold]{len(result['tables'])} tables, {result['rows']} rows[/bold] {verb} {result['path']} "
                  f"({result['backend']}, {result['format']}, revision {result['revision']})")


def backup_command(
    dest: Path | None = typer.Option(None, "--dest", help="Parent folder; default $ECOM_DATA_DIR/backups."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Back up the store (a consistent snapshot) into DEST/<UTC timestamp>/ with a manifest."""
    progress = None if as_json else _table_line("backed up")
    run(as_json, lambda: backup.backup(store(), dest, progress=progress), render=_summary)


def restore_command(
    backup_dir: Path = typer.Argument(..., help="A backup folder (the one holding manifest.json)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Restore a backup into the (empty) store named by OPS_STORE_URL and verify every table."""
    progress = None if as_json else _table_line("verified")
    run(as_json, lambda: backup.restore(store(), backup_dir, progress=progress), render=_summary)
