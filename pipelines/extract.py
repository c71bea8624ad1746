"""Incremental, idempotent loads of store tables into the warehouse's `raw` schema.

Each table keeps its change watermark (the newest updated_at loaded with the id as tiebreak, or
the highest id for append-only tables), written in the same DuckDB transaction as the rows: a load
killed midway leaves the table and its watermark as the last committed load left them, and the
next run carries on. Watermarks are appended to `meta.watermark_log` (one row per load, numbered
per table) and read through the view `meta.watermarks` (the latest row per table): on a DuckLake,
loads of different tables commit side by side only if none of them deletes from a table another
one inserts into. `compact_watermarks` drops the superseded rows when no load is running.

Each run re-reads a short overlap behind the watermark (rows whose commit came after their
timestamp) and merges by key, so re-reading a row replaces it with itself and a re-run changes
nothing.

Reads: a full load goes through DuckDB's sqlite or postgres scanner (parallel, binary COPY on
PostgreSQL). An incremental read pushes its filter down on PostgreSQL; DuckDB's sqlite scanner
cannot, so on SQLite the changed rows are read with SQLite's own index through sqlite3.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import duckdb
import pyarrow as pa
from sqlalchemy.engine import make_url

from pipelines.store_tables import TableSpec
from pipelines.warehouse import attach_store, create_if_missing, pg_schema, table_exists, transaction

Mode = Literal["full", "incremental"]

META_DDL = """
CREATE SCHEMA IF NOT EXISTS meta;
CREATE TABLE IF NOT EXISTS meta.watermark_log (
    table_name VARCHAR NOT NULL,
    seq BIGINT NOT NULL,
    watermark_at TIMESTAMP,
    watermark_id BIGINT,
    columns VARCHAR NOT NULL,
    loaded_at TIMESTAMP NOT NULL
);
"""
WATERMARKS_VIEW = """
CREATE VIEW IF NOT EXISTS meta.watermarks AS
SELECT table_name, watermark_at, watermark_id, columns, loaded_at FROM meta.watermark_log
QUALIFY row_number() OVER (PARTITION BY table_name ORDER BY seq DESC) = 1
"""
WATERMARK_LOG = "meta.watermark_log"  # the advisory lock loads share and compaction takes alone
SQLITE_TS = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy writes DateTime on SQLite: sorts as text
SAMPLE_KEYS = 20  # the most offending keys a check names (pipelines/reconcile.py)


@dataclass(frozen=True)
class StoreSource:
    """The store as the warehouse connection sees it."""

    backend: str
    prefix: str  # qualified schema of the attached store, e.g. store.main
    sqlite_path: str | None = None
    alias: str = "store"  # the attached database's name (postgres_query takes it)

    @classmethod
    def attach(cls, con: duckdb.DuckDBPyConnection, store_url: str) -> StoreSource:
        backend = attach_store(con, store_url)
        if backend == "sqlite":
            return cls(backend, "store.main", make_url(store_url).database)
        return cls(backend, f'store."{pg_schema(store_url)}"')


@dataclass(frozen=True)
class LoadResult:
    table: str
    mode: Mode
    rows_read: int
    rows_total: int
    watermark: str | None
    seconds: float
    # tables keyed by id, incremental loads: the ids this load wrote that appear more than once
    # (at most SAMPLE_KEYS of them); None when the load did not look (a full load, other keys)
    duplicated_ids: list[int] | None = None


def ensure_meta(con: duckdb.DuckDBPyConnection) -> None:
    create_if_missing(con, META_DDL)
    kind = con.execute("SELECT table_type FROM information_schema.tables WHERE table_catalog = current_database() "
                       "AND table_schema = 'meta' AND table_name = 'watermarks'").fetchone()
    if kind and kind[0] == "BASE TABLE":  # a warehouse from before the log: its watermarks carry over
        with transaction(con):
            con.execute("INSERT INTO meta.watermark_log SELECT table_name, 1, watermark_at, watermark_id, columns, "
                        "loaded_at FROM meta.watermarks")
            con.execute("DROP TABLE meta.watermarks")
    create_if_missing(con, WATERMARKS_VIEW)


def compact_watermarks(con: duckdb.DuckDBPyConnection) -> int:
    """Keep only the latest row per table in meta.watermark_log, numbered 1 (so the log reads the
    same after any history of loads), in one transaction; only while no load runs (see the module's
    docstring). Returns how many rows went."""
    ensure_meta(con)
    with transaction(con):
        removed = con.execute("DELETE FROM meta.watermark_log AS l USING (SELECT table_name, max(seq) AS seq "
                              "FROM meta.watermark_log GROUP BY ALL) AS k "
                              "WHERE l.table_name = k.table_name AND l.seq < k.seq").fetchone()[0]
        con.execute("UPDATE meta.watermark_log SET seq = 1 WHERE seq <> 1")
    return removed


def select_list(spec: TableSpec, backend: str) -> str:
    """Every kept column cast to its warehouse type; SQLite's scaled-integer decimals rescaled
    exactly (integer times 10^-scale as DECIMAL, never through a float)."""
    parts = []
    for col in spec.columns:
        expr = f'"{col.name}"'
        if col.scale is not None and backend == "sqlite":
            expr = f"CAST({expr} AS DECIMAL(18,0)) * CAST('1e-{col.scale}' AS DECIMAL(18,{col.scale}))"
        parts.append(f'CAST({expr} AS {col.duck_type}) AS "{col.name}"')
    return ", ".join(parts)


def _last_load(con: duckdb.DuckDBPyConnection, table: str) -> tuple[datetime | None, int | None, str | None]:
    """The table's watermark and the columns it was loaded with (None when raw.<table> is gone)."""
    if not table_exists(con, f"raw.{table}"):
        return None, None, None
    row = con.execute("SELECT watermark_at, watermark_id, columns FROM meta.watermarks WHERE table_name = ?",
                      [table]).fetchone()
    return (row[0], row[1], row[2]) if row else (None, None, None)


def _changed_rows_predicate(spec: TableSpec, since_at: datetime | None, since_id: int | None,
                            backend: str) -> tuple[str, list[object]]:
    """The filter for rows changed since the watermark, with its bound value."""
    if spec.kind == "changes":
        assert since_at is not None
        # SQLite keeps timestamps as text in SQLAlchemy's format; PostgreSQL as timestamptz.
        value = since_at.strftime(SQLITE_TS) if backend == "sqlite" else since_at.replace(tzinfo=UTC)
        return "updated_at >= ?", [value]
    return "id > ?", [int(since_id or 0)]


def _sqlite_changes(path: str, spec: TableSpec, predicate: str, params: list[object]) -> pa.Table:
    """Changed rows through SQLite's own index (the scanner would read the whole table)."""
    names = ", ".join(f'"{n}"' for n in spec.column_names)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute(f'SELECT {names} FROM "{spec.name}" WHERE {predicate}', params).fetchall()
    finally:
        conn.close()
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in spec.columns]
    arrays = [pa.array(values, type=_arrow_type(col.duck_type, col.scale)) for values, col in
              zip(columns, spec.columns, strict=True)]
    return pa.Table.from_arrays(arrays, names=list(spec.column_names))


def _arrow_type(duck_type: str, scale: int | None) -> pa.DataType:
    if duck_type in ("BIGINT", "BOOLEAN") or scale is not None:
        return pa.int64()
    return pa.string()


def load_table(con: duckdb.DuckDBPyConnection, source: StoreSource, spec: TableSpec, *, full: bool = False,
               overlap_s: int = 300, id_overlap: int = 10_000) -> LoadResult:
    """Bring raw.<table> up to date with the store, in one transaction with its watermark."""
    started = time.perf_counter()
    columns_signature = ",".join(f"{c.name}:{c.duck_type}" for c in spec.columns)
    since_at, since_id, loaded_columns = _last_load(con, spec.name)
    mode: Mode = "incremental"
    if (full or spec.kind == "snapshot" or loaded_columns != columns_signature
            or (since_at is None and since_id is None)):
        mode = "full"
    casts = select_list(spec, source.backend)
    duplicated_ids: list[int] | None = None
    try:
        with transaction(con):
            if mode == "full":
                con.execute(f"CREATE OR REPLACE TABLE raw.{spec.name} AS SELECT {casts} "
                            f"FROM {source.prefix}.{spec.name}")
                changes = f"raw.{spec.name}"
            else:
                low_at = since_at - timedelta(seconds=overlap_s) if since_at else None
                low_id = max(0, (since_id or 0) - id_overlap) if spec.kind == "appends" else since_id
                predicate, params = _changed_rows_predicate(spec, low_at, low_id, source.backend)
                if source.backend == "sqlite":
                    arrow_rows = _sqlite_changes(source.sqlite_path or "", spec, predicate, params)
                    con.register("arrow_rows", arrow_rows)
                    con.execute(f"CREATE OR REPLACE TEMP TABLE _changes AS SELECT {casts} FROM arrow_rows")
                    con.unregister("arrow_rows")
                else:
                    con.execute(f"CREATE OR REPLACE TEMP TABLE _changes AS SELECT {casts} "
                                f"FROM {source.prefix}.{spec.name} WHERE {predicate}", params)
                match = " AND ".join(f't."{k}" = c."{k}"' for k in spec.key)
                con.execute(f"DELETE FROM raw.{spec.name} AS t USING _changes AS c WHERE {match}")
                con.execute(f"INSERT INTO raw.{spec.name} SELECT * FROM _changes")
                changes = "_changes"
                if spec.key == ("id",):
                    duplicated_ids = _duplicated_ids_written(con, spec)
            rows_read = con.execute(f"SELECT count(*) FROM {changes}").fetchone()[0]
            new_at, new_id = _new_watermark(con, spec, changes)
            if rows_read:
                since_at, since_id = new_at, new_id
            con.execute("INSERT INTO meta.watermark_log SELECT ?, coalesce(max(seq), 0) + 1, ?, ?, ?, "
                        "now()::TIMESTAMP FROM meta.watermark_log WHERE table_name = ?",
                        [spec.name, since_at, since_id, columns_signature, spec.name])
    finally:
        con.execute("DROP TABLE IF EXISTS temp._changes")
    total = con.execute(f"SELECT count(*) FROM raw.{spec.name}").fetchone()[0]
    mark = since_at.isoformat() if since_at else (str(since_id) if since_id is not None else None)
    return LoadResult(spec.name, mode, rows_read, total, mark, time.perf_counter() - started, duplicated_ids)


def _duplicated_ids_written(con: duckdb.DuckDBPyConnection, spec: TableSpec) -> list[int]:
    """The ids of the rows just merged from _changes that now appear more than once in the table:
    only their rows are grouped (the id range of the changes lets DuckDB skip the rest)."""
    low, high = con.execute("SELECT min(id), max(id) FROM _changes").fetchone()
    if low is None:
        return []
    return [r[0] for r in con.execute(
        f"SELECT id FROM raw.{spec.name} WHERE id BETWEEN ? AND ? AND id IN (SELECT id FROM _changes) "
        f"GROUP BY id HAVING count(*) > 1 ORDER BY id LIMIT {SAMPLE_KEYS}", [low, high]).fetchall()]


def _new_watermark(con: duckdb.DuckDBPyConnection, spec: TableSpec, rows: str) -> tuple[datetime | None, int | None]:
    if spec.kind == "changes":
        tiebreak = spec.key[0]
        row = con.execute(f'SELECT updated_at, "{tiebreak}" FROM {rows} ORDER BY updated_at DESC, '
                          f'"{tiebreak}" DESC LIMIT 1').fetchone()
        return (row[0], row[1]) if row else (None, None)
    if spec.kind == "appends":
        return None, con.execute(f"SELECT max(id) FROM {rows}").fetchone()[0]
    return None, None
