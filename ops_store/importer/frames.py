"""A vectorised sibling of ``bulk.insert_rows`` for polars frames (the import's big tables).

``bulk.insert_rows`` converts each value in Python (about 4 us per money or timestamp value),
which is most of an order import's time. Here the same conversions happen column-wise in polars,
to exactly what the ORM and ``bulk`` store: on SQLite money as integers scaled by 10**scale and
UTC timestamps as naive ``YYYY-MM-DD HH:MM:SS.ffffff`` text (SQLAlchemy's own format); on
PostgreSQL the frame goes in as one CSV ``COPY`` per chunk. Inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
from sqlalchemy import Boolean, Connection, Date

from ops_store import bulk
from ops_store.types import ExactDecimal, UTCDateTime


def scaled_text(column: str, places: int) -> pl.Expr:
    """Exact decimal text ("12.3", "-0.50") as an integer in units of 10**-places."""
    c = pl.col(column)
    negative = c.str.starts_with("-")
    parts = c.str.strip_prefix("-").str.split_exact(".", 1)
    whole = parts.struct.field("field_0").replace("", "0").cast(pl.Int64)
    frac = parts.struct.field("field_1").fill_null("").str.pad_end(places, "0")
    units = whole * (10 ** places) + frac.replace("", "0").cast(pl.Int64)
    return pl.when(c.is_null()).then(None).when(negative).then(-units).otherwise(units)


def _converted(frame: pl.DataFrame, table_name: str, columns: Sequence[str], dialect: str) -> pl.DataFrame:
    tbl = bulk.table(table_name)
    exprs = []
    for name in columns:
        col_type, c = tbl.c[name].type, pl.col(name)
        dtype = frame.schema[name]
        if isinstance(col_type, ExactDecimal):
            text = c if dtype == pl.String else c.cast(pl.String)
            exprs.append(scaled_text(name, col_type.scale).alias(name) if dialect == "sqlite" else text.alias(name))
        elif isinstance(col_type, UTCDateTime):
            utc = c.dt.convert_time_zone("UTC")
            fmt = "%Y-%m-%d %H:%M:%S%.6f" if dialect == "sqlite" else "%Y-%m-%d %H:%M:%S%.6f+00:00"
            exprs.append(utc.dt.strftime(fmt).alias(name))
        elif isinstance(col_type, Date):
            exprs.append(c.dt.strftime("%Y-%m-%d").alias(name))
        elif isinstance(col_type, Boolean) and dialect == "sqlite":
            exprs.append(c.cast(pl.Int64).alias(name))
        else:
            exprs.append(c)
    return frame.select(exprs)


def write_frame(conn: Connection, table_name: str, columns: Sequence[str], frame: pl.DataFrame) -> int:
    """Write ``frame[columns]`` into ``table_name``; returns the number of rows written."""
    if frame.height == 0:
        return 0
    dialect = conn.dialect.name
    data = _converted(frame, table_name, columns, dialect)
    cols = ", ".join(f'"{c}"' for c in columns)
    name = bulk.table(table_name).name
    raw = conn.connection.driver_connection
    if dialect == "postgresql":
        payload = data.write_csv(include_header=False, null_value="")
        with raw.cursor() as cur, cur.copy(f'COPY "{name}" ({cols}) FROM STDIN WITH (FORMAT csv)') as copy:
            copy.write(payload)
        return data.height
    marks = ", ".join("?" for _ in columns)
    cursor = raw.cursor()
    try:
        cursor.executemany(f'INSERT INTO "{name}" ({cols}) VALUES ({marks})', data.iter_rows())  # noqa: S608
    finally:
        cursor.close()
    return data.height
