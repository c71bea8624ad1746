"""Backup and restore of a SQLite store: the online backup API, one step each way."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from ops_store.backup.errors import BackupFailed
from ops_store.backup.manifest import SQLITE_FILE, Progress, digests, refuse_rows
from ops_store.db import Store
from ops_store.migrate import revision_of


def _sqlite_path(store: Store) -> Path:
    database = make_url(store.url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise BackupFailed("only a SQLite store in a file can be backed up or restored", field="url")
    return Path(database)


@contextmanager
def _sqlite_file(path: Path, *, read_only: bool) -> Iterator[Connection]:
    """A SQLAlchemy connection on a SQLite file as it is (no WAL switch, no pool)."""
    uri = path.resolve().as_uri() + ("?mode=ro" if read_only else "")
    engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def backup_sqlite(store: Store, work: Path, progress: Progress | None) -> dict[str, Any]:
    """Copy the store into ``work``; the manifest's body, computed from the copy itself."""
    _sqlite_path(store)
    target = work / SQLITE_FILE
    raw = store.engine.raw_connection()
    try:
        with closing(sqlite3.connect(target)) as dst:
            raw.driver_connection.backup(dst)  # one step: one read transaction, a consistent copy
            dst.execute("PRAGMA journal_mode=DELETE")  # a self-contained single file
    finally:
        raw.close()
    with _sqlite_file(target, read_only=True) as conn:
        check = conn.exec_driver_sql("PRAGMA quick_check").scalar()
        if check != "ok":
            raise BackupFailed(f"the copy failed its integrity check: {check}")
        return {"format": "sqlite", "revision": revision_of(conn), "tables": digests(conn, None, progress)}


def restore_sqlite(target: Store, folder: Path) -> None:
    """Copy the backup's file over the target's, which must hold no row."""
    path = _sqlite_path(target)
    if path.exists() and path.stat().st_size:
        with _sqlite_file(path, read_only=True) as conn:
            refuse_rows(conn, None)
    target.engine.dispose()
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect((folder / SQLITE_FILE).resolve().as_uri() + "?mode=ro", uri=True)) as src, \
            closing(sqlite3.connect(path, timeout=60)) as dst:
        src.backup(dst)
