"""Connections to the DuckDB warehouse and to the store as DuckDB sees it.

DuckDB lets one process write a file at a time; every writer here first takes an advisory lock
on a file beside the warehouse, so two pipeline steps (or two runs) queue instead of failing with
"Could not set lock on file". Extensions come from the pinned PyPI wheels into a folder in the
data dir; automatic installs are off so nothing ever tries the network.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import duckdb_extensions
from sqlalchemy.engine import make_url

from pipelines.settings import PipelineSettings

SCHEMAS = ("raw",)
WRITER_WAIT_S = 1800


class WarehouseBusy(RuntimeError):
    """Another writer held the warehouse for longer than we are willing to wait."""


def connect(path: Path | str, *, read_only: bool = False,
            extension_dir: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection in UTC with network installs off."""
    ext_dir = extension_dir or PipelineSettings().extension_dir
    ext_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only, config={
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "extension_directory": str(ext_dir),
    })
    con.execute("SET TimeZone = 'UTC'")
    return con


@contextmanager
def writer_lock(path: Path, wait_s: float = WRITER_WAIT_S) -> Iterator[None]:
    """Hold the warehouse's writer lock (waits for the current holder, up to wait_s)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".writer.lock"), "a+") as handle:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise WarehouseBusy(f"{path} is being written by another run for over {wait_s:.0f}s; "
                                        "wait for it to finish or stop it") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def writer(settings: PipelineSettings | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """The only way to write the warehouse: lock, connect, make sure the schemas exist."""
    settings = settings or PipelineSettings()
    path = settings.warehouse_path
    with writer_lock(path):
        con = connect(path, extension_dir=settings.extension_dir)
        try:
            for schema in SCHEMAS:
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            yield con
        finally:
            con.close()


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def attach_store(con: duckdb.DuckDBPyConnection, store_url: str, alias: str = "store") -> str:
    """Attach the operational store read-only under `alias`; returns the backend name.

    SQLite through DuckDB's sqlite scanner, PostgreSQL through its postgres scanner (binary COPY,
    parallel scans), both from the offline extension wheels."""
    url = make_url(store_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        duckdb_extensions.import_extension("sqlite", con=con)
        con.execute(f"ATTACH {quote_literal(url.database or '')} AS {alias} (TYPE sqlite, READ_ONLY)")
    elif backend == "postgresql":
        duckdb_extensions.import_extension("postgres", con=con)
        con.execute(f"ATTACH {quote_literal(libpq_conninfo(store_url))} AS {alias} "
                    f"(TYPE postgres, READ_ONLY, SCHEMA {quote_literal(pg_schema(store_url))})")
    else:
        raise ValueError(f"OPS_STORE_URL: the warehouse loads from sqlite or postgresql, not {backend!r}")
    return backend


def libpq_conninfo(store_url: str) -> str:
    """The SQLAlchemy URL as a libpq key=value string (what the postgres scanner takes)."""
    url = make_url(store_url)
    parts = {"host": url.host or "127.0.0.1", "port": str(url.port or 5432), "dbname": url.database,
             "user": url.username, "password": url.password}
    return " ".join(f"{key}={_conninfo_value(str(val))}" for key, val in parts.items() if val)


def pg_schema(store_url: str) -> str:
    """The schema the store lives in: from `options=-csearch_path=...` if given, else public."""
    options = make_url(store_url).query.get("options") or ""
    if isinstance(options, tuple):
        options = " ".join(options)
    for option in options.split():
        if option.startswith("-csearch_path="):
            return option.split("=", 1)[1].split(",")[0].strip('"')
    return "public"


def _conninfo_value(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"
