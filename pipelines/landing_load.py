"""Landing files into the warehouse: each partition (a day of clickstream, one competitor file)
replaces whatever it loaded before, with its quarantined rows and a record of each file (its
SHA-256, so a file that appears twice is recognised), all in one transaction with the partition's
rows: a competitor file is one transaction, and consecutive days of clickstream share one up to
about EVENTS_ROWS_PER_COMMIT rows. The landing tables are written under one lock name
(LANDING_LOCK): on a DuckLake, two loads that delete from the same table (meta.quarantine,
meta.landing_files) cannot commit side by side."""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq

from pipelines.landing import (
    check_competitor_prices,
    check_events,
    empty_quarantine,
    observed_on,
    unterminated_last_line,
    whole_file_rejected,
)
from pipelines.warehouse import create_if_missing, transaction

LANDING_LOCK = "landing tables"
# A year's backfill committed day by day (about 50,000 events a day at 1M orders a year) spent a
# fifth of its 33 s more than one committed in batches. Days are committed together up to this many
# rows; a run killed in between loses at most that batch, which the next run loads again.
EVENTS_ROWS_PER_COMMIT = 1_000_000
LANDING_DDL = """
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS meta;
CREATE TABLE IF NOT EXISTS raw.events (
    event_id BIGINT, session_id BIGINT, customer_ref VARCHAR, device VARCHAR, channel VARCHAR,
    event_type VARCHAR, sku VARCHAR, order_ref VARCHAR, ts TIMESTAMP, event_on DATE);
CREATE TABLE IF NOT EXISTS raw.competitor_prices (
    observed_on DATE, competitor VARCHAR, sku VARCHAR, price DECIMAL(12,2), promo BOOLEAN, source_file VARCHAR);
CREATE TABLE IF NOT EXISTS meta.quarantine (
    source VARCHAR, partition_key VARCHAR, file VARCHAR, row_number BIGINT, reason VARCHAR, raw VARCHAR,
    quarantined_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS meta.landing_files (
    source VARCHAR, partition_key VARCHAR, file VARCHAR, sha256 VARCHAR, rows_loaded BIGINT,
    rows_quarantined BIGINT, loaded_at TIMESTAMP, replaced_sha256 VARCHAR);
"""
# A file that can not be read at all is quarantined whole, whatever the reader raised (polars'
# PanicException derives from BaseException, not Exception).
READ_ERRORS = (Exception, pl.exceptions.PanicException)


@dataclass
class PartitionLoad:
    partition_key: str
    files: list[str] = field(default_factory=list)
    rows_loaded: int = 0
    rows_quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    replaced: list[str] = field(default_factory=list)  # files loaded before with other content

    def metadata(self) -> dict[str, object]:
        return {"files": len(self.files), "rows_loaded": self.rows_loaded, "rows_quarantined": self.rows_quarantined,
                "quarantine_reasons": self.reasons, "files_replaced": self.replaced}


def ensure_landing_tables(con: duckdb.DuckDBPyConnection) -> None:
    create_if_missing(con, LANDING_DDL)
    try:  # asked directly, not by listing the catalog (costly on a lake)
        con.execute("SELECT replaced_sha256 FROM meta.landing_files LIMIT 0")
    except duckdb.BinderException:  # a warehouse made before the column existed
        create_if_missing(con, "ALTER TABLE meta.landing_files ADD COLUMN IF NOT EXISTS replaced_sha256 VARCHAR")


def _unreadable(kind: str, exc: BaseException) -> str:
    """The reason a file could not be read, on one line (readers' messages run over several)."""
    message = " ".join(str(exc).split("\n", 1)[0].split()).removeprefix(
        "Could not open Parquet input source '<Buffer>': ")[:300]  # read from memory: the name says nothing
    if isinstance(exc, pl.exceptions.PanicException):
        return f"unreadable {kind}: the file is corrupt (the reader failed: {message})"
    return f"unreadable {kind}: {message}"


def _replace_partition(con: duckdb.DuckDBPyConnection, source: str, key: str, table: str, where: str,
                       rows: pl.DataFrame, bad: pl.DataFrame, files: list[tuple[str, str, int, int]]) -> list[str]:
    """Swap one partition's rows, quarantine and file records, in the caller's transaction. Returns
    the files this partition had loaded before with other content (re-delivered under the same
    name): the new content replaces the old, and meta.landing_files keeps the digest it replaced."""
    before = dict(con.execute("SELECT file, sha256 FROM meta.landing_files WHERE source = ? AND partition_key = ?",
                              [source, key]).fetchall())
    replaced = {name: before[name] for name, digest, _, _ in files
                if digest and before.get(name) and before[name] != digest}
    con.execute(f"DELETE FROM {table} WHERE {where}", [key])
    if rows.height:
        con.register("partition_rows", rows.to_arrow())
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM partition_rows")
        con.unregister("partition_rows")
    con.execute("DELETE FROM meta.quarantine WHERE source = ? AND partition_key = ?", [source, key])
    if bad.height:
        con.register("bad_rows", bad.to_arrow())
        con.execute("INSERT INTO meta.quarantine SELECT ?, ?, file, row_number, reason, raw, now()::TIMESTAMP "
                    "FROM bad_rows", [source, key])
        con.unregister("bad_rows")
    con.execute("DELETE FROM meta.landing_files WHERE source = ? AND partition_key = ?", [source, key])
    for name, digest, loaded, quarantined in files:
        con.execute("INSERT INTO meta.landing_files (source, partition_key, file, sha256, rows_loaded, "
                    "rows_quarantined, loaded_at, replaced_sha256) VALUES (?, ?, ?, ?, ?, ?, now()::TIMESTAMP, ?)",
                    [source, key, name, digest, loaded, quarantined, replaced.get(name)])
    return sorted(replaced)


def _read_parquet(data: bytes) -> pl.DataFrame:
    """A landing Parquet file, read by pyarrow: it turns a corrupt file into an error, where polars'
    own reader may panic or, given a footer that claims an absurd size, abort the whole process
    ("memory allocation of ... bytes failed"), taking the run down with it."""
    frame = pl.from_arrow(pq.read_table(io.BytesIO(data)))
    assert isinstance(frame, pl.DataFrame)
    return frame


def _twin(con: duckdb.DuckDBPyConnection, source: str, key: str, digest: str) -> str | None:
    """A file with this content already loaded into another partition (a copy under another name
    or in another day's folder), as partition/file."""
    row = con.execute("SELECT partition_key, file FROM meta.landing_files WHERE source = ? AND sha256 = ? "
                      "AND partition_key <> ? AND rows_loaded > 0 ORDER BY loaded_at LIMIT 1",
                      [source, digest, key]).fetchone()
    return None if row is None else (row[1] if row[0] == row[1] else f"{row[0]}/{row[1]}")


@dataclass
class _EventsFile:
    """One clickstream file read and checked, before anyone knows whether it is a duplicate."""

    path: Path
    digest: str
    good: pl.DataFrame | None  # None: unreadable (bad says why)
    bad: pl.DataFrame


def _read_events_files(landing_dir: Path, day: date) -> list[_EventsFile]:
    """Every Parquet file of one day's clickstream folder, read and checked (no warehouse access,
    so the next day can be read while this one is written)."""
    read = []
    for path in sorted((landing_dir / "events" / f"dt={day.isoformat()}").glob("*.parquet")):
        # One read: the digest and the rows are of the same bytes, even if the file is replaced meanwhile.
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        try:
            frame = _read_parquet(data)
        except READ_ERRORS as exc:
            read.append(_EventsFile(path, digest, None, whole_file_rejected(path, _unreadable("Parquet", exc))))
        else:
            checked = check_events(frame, day, path)
            read.append(_EventsFile(path, digest, checked.good, checked.bad))
    return read


def load_events_days(con: duckdb.DuckDBPyConnection, landing_dir: Path, days: list[date]) -> list[PartitionLoad]:
    """Each day's clickstream folder (every Parquet file in it; bad files and rows quarantined),
    one day after another in order, consecutive days in one transaction up to about
    EVENTS_ROWS_PER_COMMIT rows; the next day's files are read and checked in a second thread
    while a day is written (Parquet decoding, the checks and DuckDB's insert all run outside
    Python's lock)."""
    ensure_landing_tables(con)
    loads: list[PartitionLoad] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="events-reader") as reader:
        upcoming = reader.submit(_read_events_files, landing_dir, days[0]) if days else None
        while len(loads) < len(days):
            with transaction(con):
                rows = 0
                while len(loads) < len(days) and rows < EVENTS_ROWS_PER_COMMIT:
                    assert upcoming is not None
                    files, i = upcoming.result(), len(loads)
                    if i + 1 < len(days):
                        upcoming = reader.submit(_read_events_files, landing_dir, days[i + 1])
                    loads.append(_load_events_files(con, days[i], files))
                    rows += loads[-1].rows_loaded
    return loads


def _load_events_files(con: duckdb.DuckDBPyConnection, day: date, read: list[_EventsFile]) -> PartitionLoad:
    """Replace one day's events by these files' good rows. Whether a file repeats one loaded
    before is decided here, in day order, against what the warehouse holds by then."""
    key = day.isoformat()
    result = PartitionLoad(key)
    goods: list[pl.DataFrame] = []
    bads: list[pl.DataFrame] = [empty_quarantine()]
    files: list[tuple[str, str, int, int]] = []
    seen: dict[str, str] = {}
    for file in read:
        path, digest = file.path, file.digest
        twin = seen.get(digest) or _twin(con, "events", key, digest)
        good: pl.DataFrame | None = None
        if twin:
            bad = whole_file_rejected(path, f"duplicate: same content as {twin}")
        else:
            seen[digest] = path.name
            good, bad = file.good, file.bad
        if good is not None and good.height:
            goods.append(good)
        bads.append(bad)
        files.append((path.name, digest, good.height if good is not None else 0, bad.height))
        result.files.append(path.name)
    rows = pl.concat(goods) if goods else pl.DataFrame()
    if rows.height:
        # The same event in two files of the day: the first file's copy is kept.
        dup = rows.with_row_index("_n").filter(pl.col("event_id").is_duplicated() &
                                               (pl.col("_n") != pl.col("_n").min().over("event_id")))
        if dup.height:
            bads.append(pl.DataFrame({"file": [f"dt={key}"] * dup.height, "row_number": [None] * dup.height,
                                      "reason": ["event_id: already in an earlier file of the day"] * dup.height,
                                      "raw": [str(v) for v in dup["event_id"]]}, schema=empty_quarantine().schema))
            rows = rows.unique("event_id", keep="first", maintain_order=True)
        rows = rows.with_columns(pl.col("ts").dt.replace_time_zone(None), pl.lit(day).alias("event_on"))
    bad = pl.concat(bads)
    result.replaced = _replace_partition(con, "events", key, "raw.events", "event_on = CAST(? AS DATE)", rows, bad,
                                         files)
    result.rows_loaded, result.rows_quarantined = rows.height, bad.height
    result.reasons = dict(Counter(bad["reason"].to_list()))
    return result


def load_competitor_file(con: duckdb.DuckDBPyConnection, path: Path) -> PartitionLoad:
    """One competitor price list; a file whose content was already loaded under another name is
    quarantined whole as a duplicate."""
    ensure_landing_tables(con)
    key = path.name
    result = PartitionLoad(key, [key])
    rows = pl.DataFrame()
    if not path.exists():
        bad = whole_file_rejected(path, "file not found: it was removed after it arrived")
        digest = ""
    else:
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        twin = _twin(con, "competitor_prices", key, digest)
        day = observed_on(path)
        if twin:
            bad = whole_file_rejected(path, f"duplicate: same content as {twin}")
        elif day is None:
            bad = whole_file_rejected(path, "file name: not a date (YYYY-MM-DD.csv)")
        else:
            try:
                frame = pl.read_csv(io.BytesIO(data), infer_schema=False)
            except READ_ERRORS as exc:
                bad = whole_file_rejected(path, _unreadable("CSV", exc))
            else:
                checked = check_competitor_prices(frame, path, last_line=unterminated_last_line(data))
                rows = checked.good.with_columns(pl.lit(day).alias("observed_on"), pl.lit(key).alias("source_file"))
                bad = checked.bad
    with transaction(con):
        result.replaced = _replace_partition(con, "competitor_prices", key, "raw.competitor_prices",
                                             "source_file = ?", rows, bad, [(key, digest, rows.height, bad.height)])
    result.rows_loaded, result.rows_quarantined = rows.height, bad.height
    result.reasons = dict(Counter(bad["reason"].to_list()))
    return result
