"""Connections to the warehouse, in either of its two forms, and to the store as DuckDB sees it.

ECOM_WAREHOUSE=file (the default): one DuckDB file. DuckDB lets one process write a file at a
time, so every writer first takes an advisory lock on a file beside the warehouse: two pipeline
steps (or two runs) queue instead of failing with "Could not set lock on file".

ECOM_WAREHOUSE=ducklake: a DuckLake, its catalog in a PostgreSQL database and its data in Parquet
files under a shared path, attached as "warehouse" to an in-memory DuckDB. Every commit is a
catalog transaction with snapshot isolation, so any number of workers write and readers read at
once, from any machine. DuckLake refuses a commit that conflicts with one made since the
transaction began: two transactions replacing the same table, or one deleting from a table another
inserted into. So instead of the file lock a writer names what it will replace (`hold`): each
name is a PostgreSQL advisory lock in the catalog database, held for the whole step. Two workers
never load the same table at once and queue instead of failing, while different tables load side
by side; the shared bookkeeping tables are written insert-only (meta.watermark_log) or under one
name (the landing tables, dbt's models). Two commits that land at the same moment without a
conflict are sorted out by DuckLake's own retry. The locks belong to the writer's PostgreSQL
session: a worker that dies releases them with its connection.

Extensions come from the pinned PyPI wheels into a folder in the data dir; automatic installs are
off so nothing ever tries the network.
"""

from __future__ import annotations

import fcntl
import re
import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import duckdb_extensions
import psycopg
from sqlalchemy.engine import make_url

from pipelines.settings import PipelineSettings

SCHEMAS = ("raw",)
WRITER_WAIT_S = 1800
LAKE_ALIAS = "warehouse"  # dbt's views name their tables "warehouse"."raw"."orders", as the file's stem does
LOCK_NAMESPACE = 0x45434F4D  # "ECOM": the first key of every advisory lock the pipeline takes


class WarehouseBusy(RuntimeError):
    """Another writer held the warehouse (or a table of it) for longer than we are willing to wait."""


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


def open_lake(settings: PipelineSettings, *, read_only: bool = False, version: int | None = None,
              con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyConnection:
    """The DuckLake attached as "warehouse" (and made the default catalog) to an in-memory DuckDB;
    read-only at snapshot `version` when given. Pass `con` to re-attach on an open connection."""
    if con is None:
        con = connect(":memory:", extension_dir=settings.extension_dir)
        for extension in ("postgres", "ducklake"):
            duckdb_extensions.import_extension(extension, con=con)
    options = [f"DATA_PATH {quote_literal(settings.ducklake_data_path)}"]
    if read_only:
        options.append("READ_ONLY")
    if version is not None:
        options.append(f"SNAPSHOT_VERSION {int(version)}")
    attach = (f"ATTACH {quote_literal('ducklake:postgres:' + catalog_conninfo(settings))} AS {LAKE_ALIAS} "
              f"({', '.join(options)})")
    for attempt in range(3):
        try:
            con.execute(attach)
            break
        except duckdb.Error as error:
            # The first workers to attach a new catalog race to create its tables; the losers
            # find them made a moment later.
            if "Failed to initialize DuckLake" not in str(error) or attempt == 2:
                raise
            time.sleep(0.5)
    con.execute(f"USE {LAKE_ALIAS}")
    return con


@contextmanager
def writer_lock(path: Path, wait_s: float = WRITER_WAIT_S) -> Iterator[None]:
    """Hold the warehouse file's writer lock (waits for the current holder, up to wait_s)."""
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
def lake_locks(settings: PipelineSettings, names: Iterable[str], share: Iterable[str] = (),
               wait_s: float = WRITER_WAIT_S) -> Iterator[None]:
    """Hold a PostgreSQL advisory lock per name in the lake's catalog database, exclusive for
    `names` and shared for `share` (waits up to wait_s). Taken in sorted order, so two holders of
    overlapping sets never deadlock."""
    wanted = sorted({(name, "pg_try_advisory_lock") for name in names}
                    | {(name, "pg_try_advisory_lock_shared") for name in share})
    if not wanted:
        yield
        return
    with psycopg.connect(catalog_conninfo(settings), autocommit=True) as session:
        deadline = time.monotonic() + wait_s
        for name, take in wanted:
            while not session.execute(f"SELECT {take}(%s, %s)", [LOCK_NAMESPACE, lock_key(name)]).fetchone()[0]:
                if time.monotonic() >= deadline:
                    raise WarehouseBusy(f"{name} is being written by another worker for over {wait_s:.0f}s; "
                                        "wait for it to finish or stop it")
                time.sleep(0.2)
        yield  # closing the session releases every lock it holds


def lock_key(name: str) -> int:
    """A stable 32-bit key for a lock name (the second key of the advisory lock)."""
    return zlib.crc32(name.encode()) - 2**31


@contextmanager
def holding(settings: PipelineSettings, names: Iterable[str] = (), share: Iterable[str] = ()) -> Iterator[None]:
    """Exclusive use of what a step replaces: the whole file (file mode), or the named tables
    (ducklake mode; readers and writers of other tables go on meanwhile; `share` names what many
    steps may hold at once but a maintenance step holds alone)."""
    if settings.warehouse_mode == "ducklake":
        with lake_locks(settings, names, share):
            yield
    else:
        with writer_lock(settings.warehouse_path):
            yield


@contextmanager
def writer(settings: PipelineSettings | None = None, *, hold: Iterable[str] = (),
           share: Iterable[str] = ()) -> Iterator[duckdb.DuckDBPyConnection]:
    """The only way to write the warehouse: lock (`hold` names the tables the caller replaces,
    `share` what it appends to; see the module's docstring), connect, make sure the schemas exist."""
    settings = settings or PipelineSettings()
    with holding(settings, hold, share), held_writer(settings) as con:
        yield con


@contextmanager
def held_writer(settings: PipelineSettings) -> Iterator[duckdb.DuckDBPyConnection]:
    """A writing connection for a caller already inside `holding()` (one that lets another process,
    such as dbt, write in between its connections without giving up its lock)."""
    con = open_warehouse(settings)
    try:
        if settings.warehouse_mode == "file":
            # Closing would checkpoint the file (80 ms at 1M orders), and a run opens a writer a
            # dozen times; the commits are durable in the write-ahead log anyway, the next writer
            # reads it on opening, and publishing checkpoints once before it copies the file.
            con.execute("PRAGMA disable_checkpoint_on_shutdown")
        create_if_missing(con, "".join(f"CREATE SCHEMA IF NOT EXISTS {schema};" for schema in SCHEMAS))
        yield con
    finally:
        con.close()


def open_warehouse(settings: PipelineSettings, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """The warehouse itself (not the published snapshot), its latest state, without any lock: for
    `writer()`, and for tools and tests that know no writer runs."""
    if settings.warehouse_mode == "ducklake":
        return open_lake(settings, read_only=read_only)
    return connect(settings.warehouse_path, read_only=read_only, extension_dir=settings.extension_dir)


def create_if_missing(con: duckdb.DuckDBPyConnection, ddl: str) -> None:
    """Run idempotent DDL (CREATE ... IF NOT EXISTS; statements separated by ';'). On a lake, two
    workers creating the same new table at once conflict on commit; the loser runs its statement
    again and finds the table there."""
    for statement in filter(None, (s.strip() for s in ddl.split(";"))):
        try:
            con.execute(statement)
        except duckdb.TransactionException as error:
            if "by another transaction" not in str(error):
                raise
            con.execute(statement)


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """BEGIN ... COMMIT around the block; ROLLBACK if it raises (whatever it raises: a SIGTERM's
    exception too), so nothing half-written stays."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def replace_rows(con: duckdb.DuckDBPyConnection, table: str, key: str, rows: Iterable[Sequence[Any]]) -> int:
    """Keep one row per `key` in `table`: the rows given (all of the table's columns, in order)
    replace those with the same key, their old rows deleted and the new ones inserted in one
    transaction (a DuckLake table has no keys to INSERT OR REPLACE on). Returns how many."""
    rows = [list(row) for row in rows]
    if not rows:
        return 0
    con.execute(f"CREATE OR REPLACE TEMP TABLE _replacing AS SELECT * FROM {table} LIMIT 0")
    try:
        con.executemany(f"INSERT INTO _replacing VALUES ({', '.join('?' * len(rows[0]))})", rows)
        with transaction(con):
            con.execute(f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM _replacing)")
            con.execute(f"INSERT INTO {table} SELECT * FROM _replacing")
    finally:
        con.execute("DROP TABLE IF EXISTS _replacing")
    return len(rows)


def table_exists(con: duckdb.DuckDBPyConnection, relation: str) -> bool:
    """Whether `relation` (schema.table, in the current catalog) is there. Asked directly: listing
    the catalog (duckdb_tables()) makes a lake read every table's metadata after each commit."""
    try:
        con.execute(f"SELECT 1 FROM {relation} LIMIT 0")
    except duckdb.CatalogException:
        return False
    return True


def catalog_name(settings: PipelineSettings) -> str:
    """The warehouse's catalog name in SQL: the file's stem, or the lake's alias."""
    if settings.warehouse_mode == "ducklake":
        return LAKE_ALIAS
    return settings.warehouse_path.stem.replace('"', "")


def describe(settings: PipelineSettings) -> dict[str, str]:
    """Which warehouse this is, for status output: never a password."""
    if settings.warehouse_mode == "ducklake":
        return {"mode": "ducklake", "catalog": hide_password(settings.ducklake_catalog or ""),
                "data_path": settings.ducklake_data_path}
    return {"mode": "file", "path": str(settings.warehouse_path)}


def catalog_conninfo(settings: PipelineSettings) -> str:
    """ECOM_DUCKLAKE_CATALOG as the libpq string DuckDB's postgres scanner and psycopg take."""
    given = (settings.ducklake_catalog or "").strip()
    return libpq_conninfo(given) if "://" in given else given


def hide_password(catalog: str) -> str:
    """A catalog URL or libpq string with its password masked."""
    if "://" in catalog:
        return make_url(catalog).render_as_string(hide_password=True)
    return re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", catalog)


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
