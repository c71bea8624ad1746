"""The published read-only snapshot that dashboards and reports read.

File warehouse: DuckDB lets one process hold a file for writing, and every other process (readers
included) is locked out meanwhile. So readers never open the warehouse itself: after each
successful build the pipeline, holding the writer lock, checkpoints the warehouse, copies it to a
new file under snapshots/, checks the copy opens, and atomically swaps the `current.duckdb` link to
it. A reader resolves the link once and opens that file read-only. Old snapshots are pruned,
keeping the newest few so a reader that resolved the link a moment ago still finds its file.

DuckLake warehouse: every commit already is a snapshot of the whole lake, so publishing copies
nothing: it appends the lake's current snapshot version to meta.published (one insert, atomic). A
reader attaches the lake read-only at the newest published version (`SNAPSHOT_VERSION`), from any
machine. Snapshots older than the newest ECOM_SNAPSHOTS_KEPT published versions are expired and
their files deleted.

Either way a reader sees one whole build, never half of one, and never waits for the pipeline;
`open_snapshot()` and `published()` work the same in both modes.
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pipelines.dbt_steps import DBT_LOCK, check_whole
from pipelines.extract import WATERMARK_LOG, compact_watermarks
from pipelines.settings import PipelineSettings
from pipelines.warehouse import (
    LAKE_ALIAS,
    WarehouseBusy,
    catalog_name,
    connect,
    create_if_missing,
    lake_locks,
    open_lake,
    quote_literal,
    table_exists,
    writer,
    writer_lock,
)

CURRENT = "current.duckdb"
PUBLISHED_DDL = ("CREATE TABLE IF NOT EXISTS meta.published "
                 "(snapshot_id BIGINT NOT NULL, published_at TIMESTAMP NOT NULL)")


class NoSnapshot(RuntimeError):
    """Nothing has been published yet."""


@dataclass(frozen=True)
class Published:
    """One published build: a snapshot file (file mode) or a version of the lake (ducklake mode)."""

    ref: str  # the snapshot file's path, or "ducklake snapshot <version>"
    published_at: datetime
    path: Path | None = None
    version: int | None = None

    def metadata(self) -> dict[str, object]:
        if self.path is not None:
            return {"path": str(self.path), "bytes": self.path.stat().st_size}
        return {"ducklake_snapshot": self.version, "published_at": self.published_at.isoformat()}


def publish(settings: PipelineSettings | None = None) -> Published:
    """Make the warehouse as it is now what readers see (after a successful build)."""
    settings = settings or PipelineSettings()
    if settings.warehouse_mode == "ducklake":
        return _publish_lake_version(settings)
    return _file_snapshot(publish_snapshot(settings))


def published(settings: PipelineSettings | None = None) -> Published:
    """What readers open now (raises NoSnapshot before the first publish)."""
    settings = settings or PipelineSettings()
    if settings.warehouse_mode == "ducklake":
        con = open_lake(settings, read_only=True)
        try:
            return _latest_lake_version(con)
        finally:
            con.close()
    return _file_snapshot(current_snapshot(settings))


def publish_snapshot(settings: PipelineSettings | None = None) -> Path:
    """File mode: copy the warehouse to a new snapshot file and make it the current one; returns its
    path."""
    settings = settings or PipelineSettings()
    folder = settings.snapshot_dir
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    target = folder / f"warehouse-{stamp}-{uuid.uuid4().hex[:6]}.duckdb"
    partial = target.with_name("." + target.name + ".partial")
    with writer_lock(settings.warehouse_path):  # no writer mid-transaction, no second publisher
        con = connect(settings.warehouse_path, extension_dir=settings.extension_dir)
        try:
            check_whole(con)  # no part of a dbt build (dbt holds this same lock while it builds)
            compact_watermarks(con)
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
    """File mode: the file the current link points to (resolve once, then open that file)."""
    settings = settings or PipelineSettings()
    if settings.warehouse_mode == "ducklake":
        raise ValueError("a DuckLake warehouse publishes versions, not files: use published() or open_snapshot()")
    link = settings.snapshot_dir / CURRENT
    if not link.is_symlink():
        raise NoSnapshot(f"no warehouse snapshot published under {settings.snapshot_dir} yet: "
                         "run `ecom pipeline run` first")
    return (link.parent / os.readlink(link)).resolve()


def open_snapshot(settings: PipelineSettings | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the published build, attached under the warehouse's own catalog
    name (dbt's views name their tables with it, e.g. "warehouse"."raw"."orders")."""
    settings = settings or PipelineSettings()
    if settings.warehouse_mode == "ducklake":
        con = open_lake(settings, read_only=True)
        try:
            version = _latest_lake_version(con).version
            con.execute(f"USE memory; DETACH {LAKE_ALIAS}")
            return open_lake(settings, read_only=True, version=version, con=con)
        except BaseException:
            con.close()
            raise
    con = connect(":memory:", extension_dir=settings.extension_dir)
    catalog = catalog_name(settings)
    con.execute(f"ATTACH {quote_literal(str(current_snapshot(settings)))} AS \"{catalog}\" (READ_ONLY)")
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


def _file_snapshot(path: Path) -> Published:
    return Published(str(path), datetime.fromtimestamp(path.stat().st_mtime, UTC), path=path)


def _publish_lake_version(settings: PipelineSettings) -> Published:
    """Record the lake's current version as published. Under the dbt lock, so no dbt step is half
    way (loads go on: their tables are whole at each commit); readers go on reading the version
    published before."""
    with writer(settings, hold=[DBT_LOCK]) as con:
        check_whole(con)
        create_if_missing(con, f"CREATE SCHEMA IF NOT EXISTS meta; {PUBLISHED_DDL}")
        version = con.execute(f"SELECT id FROM ducklake_current_snapshot('{LAKE_ALIAS}')").fetchone()[0]
        con.execute("INSERT INTO meta.published VALUES (?, now()::TIMESTAMP)", [version])
        result = _latest_lake_version(con)
        _expire_lake_versions(settings, con)
    return result


def _latest_lake_version(con: duckdb.DuckDBPyConnection) -> Published:
    row = con.execute("SELECT snapshot_id, published_at FROM meta.published ORDER BY snapshot_id DESC "
                      "LIMIT 1").fetchone() if table_exists(con, "meta.published") else None
    if row is None:
        raise NoSnapshot("no version of the DuckLake warehouse published yet: run `ecom pipeline run` first")
    return Published(f"ducklake snapshot {row[0]}", row[1].replace(tzinfo=UTC), version=row[0])


def _expire_lake_versions(settings: PipelineSettings, con: duckdb.DuckDBPyConnection) -> None:
    """Housekeeping after a publish: fold the watermark log when no load runs, expire the lake's
    snapshots older than the newest `snapshots_kept` published versions and delete their files.
    A clash with a concurrent commit leaves the work to the next publish."""
    kept = [r[0] for r in con.execute("SELECT DISTINCT snapshot_id FROM meta.published ORDER BY 1 DESC LIMIT ?",
                                      [settings.snapshots_kept]).fetchall()]
    try:
        with lake_locks(settings, [WATERMARK_LOG], wait_s=0):
            compact_watermarks(con)
        if len(kept) == settings.snapshots_kept:
            old = [r[0] for r in con.execute(f"SELECT snapshot_id FROM ducklake_snapshots('{LAKE_ALIAS}') "
                                             "WHERE snapshot_id < ?", [kept[-1]]).fetchall()]
            if old:
                con.execute(f"CALL ducklake_expire_snapshots('{LAKE_ALIAS}', versions => ?)", [old])
                con.execute(f"CALL ducklake_cleanup_old_files('{LAKE_ALIAS}', cleanup_all => true)")
    except (WarehouseBusy, duckdb.TransactionException):
        pass
