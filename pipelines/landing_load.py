"""Landing files into the warehouse: one partition (a day of clickstream, one competitor file)
per transaction, replacing whatever that partition loaded before, with its quarantined rows and
a record of each file (its SHA-256, so a file that appears twice is recognised)."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from pipelines.landing import (
    check_competitor_prices,
    check_events,
    empty_quarantine,
    observed_on,
    whole_file_rejected,
)

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
    rows_quarantined BIGINT, loaded_at TIMESTAMP);
"""


@dataclass
class PartitionLoad:
    partition_key: str
    files: list[str] = field(default_factory=list)
    rows_loaded: int = 0
    rows_quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def metadata(self) -> dict[str, object]:
        return {"files": len(self.files), "rows_loaded": self.rows_loaded, "rows_quarantined": self.rows_quarantined,
                "quarantine_reasons": self.reasons}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ensure_landing_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(LANDING_DDL)


def _replace_partition(con: duckdb.DuckDBPyConnection, source: str, key: str, table: str, where: str,
                       rows: pl.DataFrame, bad: pl.DataFrame, files: list[tuple[str, str, int, int]]) -> None:
    """Swap one partition's rows, quarantine and file records in a single transaction."""
    con.execute("BEGIN TRANSACTION")
    try:
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
            con.execute("INSERT INTO meta.landing_files VALUES (?, ?, ?, ?, ?, ?, now()::TIMESTAMP)",
                        [source, key, name, digest, loaded, quarantined])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def load_events_day(con: duckdb.DuckDBPyConnection, landing_dir: Path, day: date) -> PartitionLoad:
    """Every Parquet file of one day's clickstream folder; bad files and rows quarantined."""
    ensure_landing_tables(con)
    key = day.isoformat()
    result = PartitionLoad(key)
    goods: list[pl.DataFrame] = []
    bads: list[pl.DataFrame] = [empty_quarantine()]
    files: list[tuple[str, str, int, int]] = []
    seen: dict[str, str] = {}
    for path in sorted((landing_dir / "events" / f"dt={key}").glob("*.parquet")):
        digest = sha256_of(path)
        if digest in seen:
            bad = whole_file_rejected(path, f"duplicate: same content as {seen[digest]}")
            good = None
        else:
            seen[digest] = path.name
            try:
                checked = check_events(pl.read_parquet(path), day, path)
                good, bad = checked.good, checked.bad
            except (pl.exceptions.PolarsError, OSError) as exc:
                good, bad = None, whole_file_rejected(path, f"unreadable Parquet: {exc}")
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
    _replace_partition(con, "events", key, "raw.events", "event_on = CAST(? AS DATE)", rows, bad, files)
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
        digest = sha256_of(path)
        twin = con.execute("SELECT file FROM meta.landing_files WHERE source = 'competitor_prices' AND sha256 = ? "
                           "AND partition_key <> ? AND rows_loaded > 0 LIMIT 1", [digest, key]).fetchone()
        day = observed_on(path)
        if twin:
            bad = whole_file_rejected(path, f"duplicate: same content as {twin[0]}")
        elif day is None:
            bad = whole_file_rejected(path, "file name: not a date (YYYY-MM-DD.csv)")
        else:
            try:
                checked = check_competitor_prices(pl.read_csv(path, infer_schema=False), path)
                rows = checked.good.with_columns(pl.lit(day).alias("observed_on"), pl.lit(key).alias("source_file"))
                bad = checked.bad
            except (pl.exceptions.PolarsError, OSError) as exc:
                bad = whole_file_rejected(path, f"unreadable CSV: {exc}")
    _replace_partition(con, "competitor_prices", key, "raw.competitor_prices", "source_file = ?", rows, bad,
                       [(key, digest, rows.height, bad.height)])
    result.rows_loaded, result.rows_quarantined = rows.height, bad.height
    result.reasons = dict(Counter(bad["reason"].to_list()))
    return result
