"""What every file import shares: reading CSV or Parquet as text, vectorised checks that give
each bad row a reason, the quarantine (rejected_requests + a rejects file) and the result.

A reason is kept as ``"<code>|<field>|<message>"`` in the frame's ``_reason`` column (the first
failed rule wins); rows without a reason are valid."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import polars as pl
from sqlalchemy import Connection, select, text
from sqlalchemy.orm import Session

from ops_store import bulk
from ops_store.errors import InvalidInput
from ops_store.importer import frames
from ops_store.models import Merchant, RejectedRequest

ROW = "_row"
REASON = "_reason"
CHUNK = 50_000
TRUE_WORDS = ("true", "1", "yes", "y", "t")
FALSE_WORDS = ("false", "0", "no", "n", "f")


class Reporter(Protocol):
    """Progress of one import, phase by phase (the CLI shows a bar per phase)."""

    def start(self, phase: str, total: int) -> None: ...

    def advance(self, n: int) -> None: ...


class SilentReporter:
    def start(self, phase: str, total: int) -> None:
        pass

    def advance(self, n: int) -> None:
        pass


@dataclass
class ImportResult:
    entity: str
    file: str
    accepted: int = 0
    rejected: int = 0
    skipped: int = 0
    rejects_file: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "rejected": self.rejected, "skipped": self.skipped,
                "rejects_file": self.rejects_file}


def read_table(path: Path, columns: Sequence[str], required: Sequence[str] = ()) -> pl.DataFrame:
    """The file's rows, every column as stripped text (empty -> null), with ``_row``: the data
    row number, 1 for the first row after the header. Unknown extra columns are dropped; a
    missing required column refuses the file."""
    suffix = path.suffix.lower()
    if not path.exists():
        raise InvalidInput(f"file {str(path)!r} does not exist", field="file")
    try:
        if suffix == ".csv":
            df = pl.read_csv(path, infer_schema=False)
        elif suffix in (".parquet", ".pq"):
            df = pl.read_parquet(path)
            df = df.with_columns(pl.all().cast(pl.String))
        else:
            raise InvalidInput("the file must be .csv or .parquet", field="file")
    except (pl.exceptions.PolarsError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(f"{path.name} could not be read as {suffix[1:]}: {first}", field="file") from None
    df = df.rename({c: c.strip().lower() for c in df.columns})
    absent = [c for c in required if c not in df.columns]
    if absent:
        raise InvalidInput(f"{path.name} lacks the column(s) {', '.join(absent)} (see docs/import.md)", field="file")
    for name in columns:
        if name not in df.columns:
            df = df.with_columns(pl.lit(None, dtype=pl.String).alias(name))
    text = [pl.col(c).str.strip_chars().replace("", None).alias(c) for c in columns]
    return df.select(text).with_row_index(ROW, offset=1).with_columns(pl.col(ROW).cast(pl.Int64))


def reason(code: str, fld: str, message: str | pl.Expr) -> pl.Expr:
    msg = pl.lit(message) if isinstance(message, str) else message
    return pl.concat_str([pl.lit(f"{code}|{fld}|"), msg])


def first_reason(rules: Iterable[tuple[pl.Expr, pl.Expr]], existing: pl.Expr | None = None) -> pl.Expr:
    """The first rule whose condition holds gives the row's reason (an earlier reason is kept)."""
    expr: Any = pl.when(existing.is_not_null()).then(existing) if existing is not None else None
    for cond, why in rules:
        expr = pl.when(cond).then(why) if expr is None else expr.when(cond).then(why)
    return expr.otherwise(pl.lit(None, dtype=pl.String)).alias(REASON)


def missing(columns: Sequence[str]) -> list[tuple[pl.Expr, pl.Expr]]:
    return [(pl.col(c).is_null(), reason("missing", c, f"{c} is required")) for c in columns]


def too_long(column: str, limit: int) -> tuple[pl.Expr, pl.Expr]:
    return (pl.col(column).str.len_chars() > limit,
            reason("invalid_input", column, f"{column} is longer than {limit} characters"))


def decimal_rules(column: str, places: int, *, required: bool = True) -> list[tuple[pl.Expr, pl.Expr]]:
    """A non-negative decimal with at most ``places`` decimals (no exponent, no thousands mark)."""
    c = pl.col(column)
    rules = [(c.is_null(), reason("missing", column, f"{column} is required"))] if required else []
    number = r"^-?(\d+(\.\d*)?|\.\d+)$"
    rules += [
        (c.is_not_null() & ~c.str.contains(number),
         reason("invalid_input", column, pl.format("{} must be a number, got '{}'", pl.lit(column), c))),
        (c.is_not_null() & c.str.starts_with("-"), reason("invalid_input", column, f"{column} must not be negative")),
        (c.is_not_null() & c.str.contains(rf"\.\d{{{places + 1},}}$"),
         reason("invalid_input", column, f"{column} has more than {places} decimal places")),
        (c.is_not_null() & (c.str.split(".").list.first().str.len_chars() > 10),
         reason("invalid_input", column, f"{column} is too large")),
    ]
    return rules


def scaled(column: str, places: int) -> pl.Expr:
    """A valid decimal text as an integer in units of 10**-places (exact)."""
    parts = pl.col(column).str.split_exact(".", 1)
    whole = parts.struct.field("field_0").replace("", "0").cast(pl.Int64, strict=False).fill_null(0)
    frac = parts.struct.field("field_1").fill_null("").str.pad_end(places, "0").str.slice(0, places)
    return whole * (10 ** places) + frac.replace("", "0").cast(pl.Int64, strict=False).fill_null(0)


def as_text(units: pl.Expr, places: int) -> pl.Expr:
    """Integer units of 10**-places back to exact decimal text ("12.30")."""
    return pl.format("{}.{}", units // (10 ** places),
                     (units % (10 ** places)).cast(pl.String).str.pad_start(places, "0"))


def int_rules(column: str) -> list[tuple[pl.Expr, pl.Expr]]:
    c = pl.col(column)
    return [
        (c.is_null(), reason("missing", column, f"{column} is required")),
        (~c.str.contains(r"^-?\d{1,9}$"),
         reason("invalid_input", column, pl.format("{} must be a whole number, got '{}'", pl.lit(column), c))),
        (c.cast(pl.Int64, strict=False) <= 0, reason("invalid_input", column, f"{column} must be positive")),
    ]


def bool_expr(column: str, default: bool) -> pl.Expr:
    low = pl.col(column).str.to_lowercase()
    return (pl.when(low.is_null()).then(pl.lit(default)).when(low.is_in(TRUE_WORDS)).then(pl.lit(True))
            .otherwise(pl.lit(False)))


def bool_rule(column: str) -> tuple[pl.Expr, pl.Expr]:
    low = pl.col(column).str.to_lowercase()
    return (low.is_not_null() & ~low.is_in(TRUE_WORDS + FALSE_WORDS),
            reason("invalid_input", column, f"{column} must be true or false"))


def duplicate_rule(keys: Sequence[str], message: pl.Expr | str, fld: str | None = None) -> tuple[pl.Expr, pl.Expr]:
    """Every row of a key that occurs more than once in the file (none of them is trusted)."""
    cond = pl.all_horizontal([pl.col(k).is_not_null() for k in keys]) & (pl.len().over(keys) > 1)
    return cond, reason("duplicate", fld or keys[-1], message)


def merchant_column(df: pl.DataFrame, default: str | None) -> pl.DataFrame:
    """Rows without a merchant take the --merchant default."""
    return df.with_columns(pl.col("merchant").fill_null(pl.lit(default, dtype=pl.String)))


def merchants_frame(session: Session) -> pl.DataFrame:
    rows = session.execute(select(Merchant.code, Merchant.id, Merchant.currency)).all()
    return pl.DataFrame(rows, schema={"merchant": pl.String, "merchant_id": pl.Int64, "merchant_currency": pl.String},
                        orient="row")


def known_keys(session: Session, table: str, columns: Sequence[str], keys: pl.DataFrame,
               returning: Sequence[str] = ()) -> pl.DataFrame:
    """The rows of ``keys`` (text columns named like ``columns``) that ``table`` already holds. On
    PostgreSQL one join against unnest(arrays) (a long IN list there is compared row by row);
    on SQLite IN lists of a few thousand, through the unique index."""
    keys = keys.drop_nulls().unique()
    schema = {**dict.fromkeys(columns, pl.String), **dict.fromkeys(returning, pl.Int64)}
    if keys.height == 0:
        return pl.DataFrame(schema=schema)
    tbl = bulk.table(table)
    if session.get_bind().dialect.name == "postgresql":
        params = {f"k{i}": keys.get_column(c).to_list() for i, c in enumerate(columns)}
        arrays = ", ".join(f"CAST(:k{i} AS text[])" for i in range(len(columns)))
        names = ", ".join(f"k{i}" for i in range(len(columns)))
        match = " AND ".join(f't."{c}" = k.k{i}' for i, c in enumerate(columns))
        cols = ", ".join(f't."{c}"' for c in (*columns, *returning))
        sql = f'SELECT {cols} FROM "{tbl.name}" t JOIN unnest({arrays}) AS k({names}) ON {match}'  # noqa: S608
        return pl.DataFrame(session.execute(text(sql), params).all(), schema=schema, orient="row")
    found: list[Any] = []
    last = columns[-1]
    groups = keys.group_by(list(columns[:-1])) if len(columns) > 1 else [((), keys)]
    for prefix, group in groups:
        where = [tbl.c[c] == v for c, v in zip(columns[:-1], prefix, strict=True)]
        for part in in_chunks(group.get_column(last).to_list()):
            found += session.execute(select(*(tbl.c[c] for c in (*columns, *returning)))
                                     .where(*where, tbl.c[last].in_(part))).all()
    return pl.DataFrame(found, schema=schema, orient="row")


def in_chunks(values: Sequence[Any], size: int = 5_000) -> Iterable[Sequence[Any]]:
    for i in range(0, len(values), size):
        yield values[i:i + size]


def write_chunks(conn: Connection, table: str, columns: Sequence[str], frame: pl.DataFrame,
                 reporter: Reporter) -> int:
    """Write a frame chunk by chunk (vectorised conversions, see ``frames``), inside the caller's
    transaction."""
    written = 0
    for start in range(0, frame.height, CHUNK):
        part = frame.slice(start, CHUNK)
        written += frames.write_frame(conn, table, columns, part)
        reporter.advance(part.height)
    return written


def split_reason(text: str) -> tuple[str, str, str]:
    code, fld, message = text.split("|", 2)
    return code, fld, message


def quarantine(conn: Connection, entity: str, path: Path, rejects: pl.DataFrame, *, reference: str | None,
               mask: dict[str, Any] | None = None) -> None:
    """Refused rows into rejected_requests (kind ``import:<entity>``), inside the import's transaction.
    ``mask`` maps a column to a function hiding personal data in the kept payload."""
    if rejects.height == 0:
        return
    now = datetime.now(UTC)
    data_columns = [c for c in rejects.columns if not c.startswith("_")]
    source = f"import:{path.name}"[:100]
    kept = RejectedRequest.__table__
    # A re-run of the same file reports its refused rows again but keeps each only once.
    seen = set(conn.execute(select(kept.c.message).where(kept.c.kind == f"import:{entity}",
                                                         kept.c.source == source)).scalars())
    rows = []
    for rec in rejects.iter_rows(named=True):
        code, fld, message = split_reason(rec[REASON])
        if f"row {rec[ROW]}: {message}" in seen:
            continue
        payload = {c: rec[c] for c in data_columns if rec[c] is not None}
        for col, hide in (mask or {}).items():
            if payload.get(col) is not None:
                payload[col] = hide(payload[col])
        payload["_row"] = rec[ROW]
        ref = rec.get(reference) if reference else None
        rows.append((f"import:{entity}", source, (ref or "")[:100] or None, code[:40],
                     fld[:200] or None, f"row {rec[ROW]}: {message}", json.dumps(payload, sort_keys=True), now))
    bulk.insert_rows(conn, "rejected_requests",
                     ["kind", "source", "reference", "error_code", "field", "message", "payload", "created_at"], rows)


def rejects_path(path: Path) -> Path:
    return path.with_name(path.name + ".rejects.csv")


def write_rejects_file(path: Path, rejects: pl.DataFrame) -> str | None:
    """``<input>.rejects.csv`` next to the input: row, field, reason, then the row as given. A
    clean run removes a rejects file left by an earlier run."""
    target = rejects_path(path)
    if rejects.height == 0:
        target.unlink(missing_ok=True)
        return None
    data_columns = [c for c in rejects.columns if not c.startswith("_")]
    with target.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["row", "field", "reason", *data_columns])
        for rec in rejects.sort(ROW).iter_rows(named=True):
            _code, fld, message = split_reason(rec[REASON])
            out.writerow([rec[ROW], fld, message, *("" if rec[c] is None else rec[c] for c in data_columns)])
    return str(target)


def reasons_summary(rejects: pl.DataFrame, limit: int = 10) -> list[dict[str, Any]]:
    """The most frequent reasons (field and code), for the printed summary."""
    if rejects.height == 0:
        return []
    parts = rejects.select(pl.col(REASON).str.split_exact("|", 2).struct.rename_fields(["code", "field", "m"]))
    grouped = (parts.unnest(REASON).group_by("code", "field").len().sort("len", descending=True).head(limit))
    return [{"code": c, "field": f, "rows": n} for c, f, n in grouped.iter_rows()]
