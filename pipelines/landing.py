"""Landing files: the contract each kind of file must meet, as pure functions (polars in, polars
out). Rows that break it come back with the reason, to be quarantined, never dropped.

Clickstream events arrive as Parquet under landing/events/dt=YYYY-MM-DD/; competitor price
lists as CSV under landing/competitor_prices/YYYY-MM-DD.csv (the day they were observed)."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl

EVENT_TYPES = ("session_start", "page_view", "product_view", "search", "add_to_cart", "checkout", "purchase")
DEVICES = ("desktop", "mobile_web", "app", "call_centre")
EVENT_SCHEMA = {"event_id": pl.Int64, "session_id": pl.Int64, "customer_ref": pl.String, "device": pl.String,
                "channel": pl.String, "event_type": pl.String, "sku": pl.String, "order_ref": pl.String,
                "ts": pl.Datetime("us", "UTC")}
PRICE_SCHEMA = {"competitor": pl.String, "sku": pl.String, "price": pl.Decimal(12, 2), "promo": pl.Boolean}
QUARANTINE_SCHEMA = {"file": pl.String, "row_number": pl.Int64, "reason": pl.String, "raw": pl.String}


@dataclass
class Checked:
    """Rows that meet the contract, and those that do not with their reason."""

    good: pl.DataFrame
    bad: pl.DataFrame  # file, row_number, reason, raw (the row as JSON)


def empty_quarantine() -> pl.DataFrame:
    return pl.DataFrame(schema=QUARANTINE_SCHEMA)


def whole_file_rejected(path: Path, reason: str) -> pl.DataFrame:
    return pl.DataFrame({"file": [str(path)], "row_number": [None], "reason": [reason], "raw": [None]},
                        schema=QUARANTINE_SCHEMA)


def _split(frame: pl.DataFrame, reasons: list[tuple[pl.Expr, str]], path: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """First failing rule names the reason; rows with none are good."""
    reason = pl.lit(None, dtype=pl.String)
    for failed, why in reversed(reasons):
        reason = pl.when(failed.fill_null(True)).then(pl.lit(why)).otherwise(reason)
    tagged = frame.with_row_index("row_number", offset=1).with_columns(reason.alias("_reason"))
    good = tagged.filter(pl.col("_reason").is_null()).drop("row_number", "_reason")
    bad_rows = tagged.filter(pl.col("_reason").is_not_null())
    bad = pl.DataFrame({
        "file": [str(path)] * bad_rows.height,
        "row_number": bad_rows["row_number"].cast(pl.Int64),
        "reason": bad_rows["_reason"],
        "raw": [json.dumps(row, default=str) for row in bad_rows.drop("row_number", "_reason").to_dicts()],
    }, schema=QUARANTINE_SCHEMA)
    return good, bad


def check_events(frame: pl.DataFrame, day: date, path: Path) -> Checked:
    """Clickstream rows of one day: known event type and device, ids present, a timestamp on that
    day, a SKU where the event is about a product."""
    missing = [c for c in EVENT_SCHEMA if c not in frame.columns]
    if missing:
        return Checked(pl.DataFrame(schema=EVENT_SCHEMA), whole_file_rejected(path, f"missing columns: {missing}"))
    try:
        frame = frame.select([pl.col(c).cast(t, strict=False) if c != "ts" else _as_utc(frame, c)
                              for c, t in EVENT_SCHEMA.items()])
    except pl.exceptions.PolarsError as exc:
        return Checked(pl.DataFrame(schema=EVENT_SCHEMA), whole_file_rejected(path, f"unreadable columns: {exc}"))
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    good, bad = _split(frame, [
        (pl.col("event_id").is_null(), "event_id: missing or not an integer"),
        (pl.col("session_id").is_null(), "session_id: missing or not an integer"),
        (~pl.col("event_type").is_in(EVENT_TYPES), f"event_type: not one of {', '.join(EVENT_TYPES)}"),
        (~pl.col("device").is_in(DEVICES), f"device: not one of {', '.join(DEVICES)}"),
        (pl.col("ts").is_null(), "ts: missing or not a timestamp"),
        ((pl.col("ts") < start) | (pl.col("ts") >= start + timedelta(days=1)), f"ts: not on {day}"),
        (pl.col("event_type").is_in(["product_view", "add_to_cart"]) & pl.col("sku").is_null(),
         "sku: missing on a product event"),
        (pl.col("event_id").is_duplicated(), "event_id: appears more than once"),
    ], path)
    return Checked(good, bad)


def _as_utc(frame: pl.DataFrame, column: str) -> pl.Expr:
    dtype = frame.schema[column]
    if isinstance(dtype, pl.Datetime):
        expr = pl.col(column).dt.cast_time_unit("us")
        return (expr.dt.replace_time_zone("UTC") if dtype.time_zone is None
                else expr.dt.convert_time_zone("UTC")).alias(column)
    return pl.col(column).cast(pl.String).str.to_datetime(time_zone="UTC", strict=False).dt.cast_time_unit(
        "us").alias(column)


def check_competitor_prices(frame: pl.DataFrame, path: Path, *, last_line: str | None = None) -> Checked:
    """One competitor price list: competitor and SKU named, a positive price with at most two
    decimals, promo true or false. ``last_line`` is the file's last line when the file does not end
    with a line break (it may have been cut short): that row, if it fails, says so."""
    missing = [c for c in PRICE_SCHEMA if c not in frame.columns]
    if missing:
        return Checked(pl.DataFrame(schema=PRICE_SCHEMA), whole_file_rejected(path, f"missing columns: {missing}"))
    text = frame.select([pl.col(c).cast(pl.String) for c in PRICE_SCHEMA])
    price = pl.col("price").str.strip_chars()
    good, bad = _split(text, [
        (pl.col("competitor").str.strip_chars().str.len_chars() == 0, "competitor: missing"),
        (pl.col("sku").str.strip_chars().str.len_chars() == 0, "sku: missing"),
        (~price.str.contains(r"^\d{1,10}(\.\d{1,2})?$"), "price: not an amount with at most 2 decimals"),
        (price.cast(pl.Float64, strict=False) <= 0, "price: not positive"),
        (~pl.col("promo").str.to_lowercase().is_in(["true", "false"]), "promo: not true or false"),
    ], path)
    if last_line is not None and frame.height:
        bad = _cut_short(bad, frame.height, len(frame.columns), last_line)
    good = good.select(
        pl.col("competitor").str.strip_chars(), pl.col("sku").str.strip_chars(),
        pl.col("price").str.strip_chars().cast(pl.Decimal(12, 2)),
        (pl.col("promo").str.to_lowercase() == "true").alias("promo"))
    return Checked(good, bad)


def _cut_short(bad: pl.DataFrame, last_row: int, columns: int, last_line: str) -> pl.DataFrame:
    """A file that ends mid-line was most likely cut short in transfer: its last row, when it
    breaks the contract, is quarantined for that reason (the missing fields read as empty, so the
    rule it happens to break would mislead)."""
    fields = len(next(csv.reader([last_line]), []))
    detail = f"its last line has {fields} of {columns} fields" if fields < columns else "its last line is incomplete"
    return bad.with_columns(
        pl.when(pl.col("row_number") == last_row)
        .then(pl.lit(f"cut short: the file ends mid-line, {detail} (") + pl.col("reason") + pl.lit(")"))
        .otherwise(pl.col("reason")).alias("reason"))


def unterminated_last_line(data: bytes) -> str | None:
    """The last line of a text file that does not end with a line break, else None."""
    if not data or data.endswith((b"\n", b"\r")):
        return None
    return data.rsplit(b"\n", 1)[-1].decode("utf-8", errors="replace")


def observed_on(path: Path) -> date | None:
    """The day a competitor file was observed, from its name (YYYY-MM-DD.csv)."""
    try:
        return date.fromisoformat(path.stem)
    except ValueError:
        return None
