"""The published read-only snapshot that dashboards and reports read.

DuckDB lets one process hold a file for writing, and every other process (readers included) is
locked out meanwhile. So readers never open the warehouse itself: after each successful build the
pipeline, holding the writer lock, checkpoints the warehouse, copies it to a new file under
snapshots/, checks the copy opens, and atomically swaps the `current.duckdb` link to it. A reader
resolves the link once and opens that file read-only: it sees one whole build, never half of
one, and never waits for the pipeline. Old snapshots are pruned, keeping the newest few so a
reader that resolved the link a moment ago still finds its file.
"""

from __future__ import annotations

import os
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pipelines.settings import PipelineSettings
from pipelines.warehouse import connect, writer_lock

CURRENT = "current.duckdb"


class NoSnapshot(RuntimeError):
    """Nothing has been published yet."""


def publish_snapshot(settings: PipelineSettings | None = None) -> Path:
    """Copy the warehouse to a new snapshot file and make it the current one; returns its path."""
    settings = settings or PipelineSettings()
    folder = settings.snapshot_dir
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    target = folder / f"warehouse-{stamp}-{uuid.uuid4().hex[:6]}.duckdb"
    partial = target.with_name("." + target.name + ".partial")
    with writer_lock(settings.warehouse_path):  # no writer mid-transaction, no second publisher
        con = connect(settings.warehouse_path, extension_dir=settings.extension_dir)
        try:
            con.execute("CHECKPOINT")
        finally:
            con.close()
        shutil.copyfile(settings.warehouse_path, partial)
        with open(partial, "rb+") as handle:
            os.fsync(handle.fileno())
        check = connect(partial, read_only=True, extension_dir=settings.extension_dir)
        check.execute("SELECT count(*) FROM duckdb_tables()").fetchone()
        check.close()
        os.replace(partial, target)
        link = folder / f".{CURRENT}.{uuid.uuid4().hex[:6]}"
        os.symlink(target.name, link)
        os.replace(link, folder / CURRENT)  # atomic: readers see the old snapshot or the new, nothing between
        _fsync_dir(folder)
        prune(settings)
    return target


def current_snapshot(settings: PipelineSettings | None = None) -> Path:
    """The file the current link points to (resolve once, then open that file)."""
    settings = settings or PipelineSettings()
    link = settings.snapshot_dir / CURRENT
    if not link.is_symlink():
        raise NoSnapshot(f"no warehouse snapshot published under {settings.snapshot_dir} yet: "
                         "run `ecom pipeline run` first")
    return (link.parent / os.readlink(link)).resolve()


def open_snapshot(settings: PipelineSettings | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the current snapshot, attached under the warehouse's own catalog
    name (dbt's views name their tables with it, e.g. "warehouse"."raw"."orders")."""
    settings = settings or PipelineSettings()
    con = connect(":memory:", extension_dir=settings.extension_dir)
    catalog = settings.warehouse_path.stem.replace('"', "")
    con.execute(f"ATTACH '{str(current_snapshot(settings)).replace(chr(39), chr(39) * 2)}' AS \"{catalog}\" "
                "(READ_ONLY)")
    con.execute(f'USE "{catalog}"')
    return con


def prune(settings: PipelineSettings) -> list[Path]:
    """Delete snapshots beyond the newest `snapshots_kept` (never the current one)."""
    current = current_snapshot(settings)
    files = sorted(settings.snapshot_dir.glob("warehouse-*.duckdb"), key=lambda p: p.stat().st_mtime, reverse=True)
    removed = []
    for path in files[settings.snapshots_kept:]:
        if path.resolve() != current:
            path.unlink(missing_ok=True)
            removed.append(path)
    for stale in settings.snapshot_dir.glob(".warehouse-*.partial"):
        stale.unlink(missing_ok=True)
    return removed


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
