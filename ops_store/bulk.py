"""Bulk writes for history (the simulator, file imports): COPY on PostgreSQL, batched inserts in
one transaction on SQLite. Values are converted exactly as the ORM would store them (exact
decimals scaled on SQLite, UTC timestamps), so bulk-written rows read back like service-written
ones. Callers keep the invariants the services keep; this module only moves rows fast.

Ids: ``reserve_ids`` hands out a block of primary keys for a table so related rows (orders and
their lines, movements and their references) can be built in memory before writing."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, Table, text

from ops_store.models import Base
from ops_store.types import ExactDecimal, UTCDateTime

SQLITE_BATCH = 5_000


def table(name: str) -> Table:
    return Base.metadata.tables[name]


def _converters(tbl: Table, columns: Sequence[str], dialect: str) -> list[Any]:
    """Per column, a function from a Python value to what the driver should receive (None: as is)."""
    return [
        _type_converter(tbl.c[name].type, dialect) if isinstance(tbl.c[name].type, ExactDecimal | UTCDateTime)
        else None
        for name in columns
    ]


def _type_converter(col_type: Any, dialect_name: str) -> Any:
    class _Dialect:  # the only dialect attribute the project's TypeDecorators read
        name = dialect_name

    def convert(value: Any) -> Any:
        return col_type.process_bind_param(value, _Dialect)

    return convert


def insert_rows(conn: Connection, table_name: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Write ``rows`` (tuples in ``columns`` order) into ``table_name`` inside the caller's
    transaction. Returns the number of rows written."""
    tbl = table(table_name)
    dialect = conn.dialect.name
    convert = _converters(tbl, columns, dialect)
    todo = [i for i, c in enumerate(convert) if c is not None]

    def prepared(row: Sequence[Any]) -> tuple[Any, ...]:
        if not todo:
            return tuple(row)
        values = list(row)
        for i in todo:
            if values[i] is not None:
                values[i] = convert[i](values[i])
        return tuple(values)

    count = 0
    if dialect == "postgresql":
        cols = ", ".join(f'"{c}"' for c in columns)
        raw = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(f'COPY "{tbl.name}" ({cols}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(prepared(row))
                count += 1
        return count
    cols = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" for _ in columns)
    sql = f'INSERT INTO "{tbl.name}" ({cols}) VALUES ({marks})'  # noqa: S608 - names from the model, values bound
    cursor = conn.connection.driver_connection.cursor()
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(tuple(_sqlite_value(v) for v in prepared(row)))
        if len(batch) >= SQLITE_BATCH:
            cursor.executemany(sql, batch)
            count += len(batch)
            batch.clear()
    if batch:
        cursor.executemany(sql, batch)
        count += len(batch)
    cursor.close()
    return count


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def reserve_ids(conn: Connection, table_name: str, count: int) -> int:
    """The first of ``count`` fresh primary-key values for ``table_name`` (an id column). The
    caller must hold the write lock for the table (SQLite's write transaction; on PostgreSQL the
    sequence is advanced atomically, so concurrent writers get disjoint blocks)."""
    if count <= 0:
        raise ValueError("count must be positive")
    if conn.dialect.name == "postgresql":
        seq = conn.execute(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table_name}).scalar_one()
        # nextval then jump: the block [first, first + count) is ours alone.
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": seq})
        first = conn.execute(text("SELECT nextval(CAST(:s AS regclass))"), {"s": seq}).scalar_one()
        conn.execute(text("SELECT setval(CAST(:s AS regclass), :v)"), {"s": seq, "v": first + count - 1})
        return int(first)
    top = conn.execute(text(f'SELECT COALESCE(MAX(id), 0) FROM "{table(table_name).name}"')).scalar_one()  # noqa: S608
    return int(top) + 1


def analyze_tables(engine: Engine, names: Iterable[str]) -> None:
    """Refresh the planner's statistics of tables just bulk-filled (PostgreSQL also sets the
    visibility map, so counts by key are index-only scans). Until then PostgreSQL plans from the
    empty tables' figures: the warehouse's incremental reads (`updated_at >= ...`, `id > ...`)
    scan whole tables instead of their indexes. Autovacuum would get there in time, if it is on."""
    quote = engine.dialect.identifier_preparer.quote
    if engine.dialect.name != "postgresql":
        with engine.begin() as conn:
            for name in names:
                conn.exec_driver_sql(f"ANALYZE {quote(name)}")
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:  # VACUUM: no transaction
        for name in names:
            conn.exec_driver_sql(f"VACUUM ANALYZE {quote(name)}")
