"""Customers from a file. Name, email and phone are encrypted with the store's customer cipher
and indexed with its blind index, exactly as ``services.customers.add_customer`` stores them.
A customer_ref already in the store is skipped; an email another customer has is refused."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from ops_store import bulk
from ops_store.importer.common import (
    REASON,
    ROW,
    Reporter,
    bool_expr,
    bool_rule,
    duplicate_rule,
    first_reason,
    in_chunks,
    known_keys,
    missing,
    reason,
    too_long,
    write_chunks,
)
from ops_store.models import Customer
from ops_store.security import access
from ops_store.security.pii import PiiCipher

COLUMNS = ("customer_ref", "name", "email", "phone", "region", "country", "consent_email", "consent_sms")
REQUIRED = ("customer_ref", "name", "email")
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"  # security.pii.check_email
PHONE_PATTERN = r"^\+?\d{6,15}$"  # security.pii.check_phone


def run(session: Session, df: pl.DataFrame, *, merchant: str | None, path: Path, reporter: Reporter,
        cipher: PiiCipher) -> tuple[int, int, pl.DataFrame, dict[str, int]]:
    access.require("customers.write")
    refs = df.get_column("customer_ref").drop_nulls().unique().to_list()
    known = known_keys(session, "customers", ["customer_ref"], pl.DataFrame({"customer_ref": refs},
                       schema={"customer_ref": pl.String})).get_column("customer_ref").to_list()
    is_known = pl.col("customer_ref").is_in(known)
    skipped = df.filter(is_known).height
    df = df.filter(~is_known | pl.col("customer_ref").is_null())
    reporter.start("validate", df.height)
    df = df.with_columns(
        _email=pl.col("email").str.to_lowercase(),
        _phone=pl.col("phone").str.replace_all(r"[^\d+]", ""),
        _country=pl.col("country").str.to_uppercase(),
    )
    emails = df.get_column("_email").drop_nulls().unique().to_list()
    bidx = {e: cipher.blind_indexes(e) for e in emails}
    all_idx = [i for keys in bidx.values() for i in keys]
    taken_idx: set[str] = set()
    for part in in_chunks(all_idx):
        taken_idx.update(i for i in session.scalars(select(Customer.email_bidx).where(
            Customer.email_bidx.in_(part), Customer.erased_at.is_(None))) if i)
    taken = [e for e, keys in bidx.items() if taken_idx.intersection(keys)]
    rules = [
        *missing(["customer_ref", "name", "email"]),
        too_long("customer_ref", 100), too_long("name", 200), too_long("region", 100),
        (~pl.col("_email").str.contains(EMAIL_PATTERN),
         reason("invalid_input", "email", "email is not a valid address")),
        (pl.col("_phone").is_not_null() & ~pl.col("_phone").str.contains(PHONE_PATTERN),
         reason("invalid_input", "phone", "phone must have 6-15 digits, optionally starting with +")),
        (pl.col("_country").is_not_null() & ~pl.col("_country").str.contains(r"^[A-Z]{2}$"),
         reason("invalid_input", "country", "country must be a two-letter ISO 3166 code such as DE")),
        bool_rule("consent_email"), bool_rule("consent_sms"),
        duplicate_rule(["customer_ref"], pl.format("customer_ref {} appears more than once in the file",
                                                   pl.col("customer_ref"))),
        duplicate_rule(["_email"], "another row of the file has this email", "email"),
        (pl.col("_email").is_in(taken), reason("already_exists", "email", "a customer with this email already exists")),
    ]
    df = df.with_columns(first_reason(rules))
    reporter.advance(df.height)
    rejects = df.filter(pl.col(REASON).is_not_null()).select(ROW, *COLUMNS, REASON)
    good = df.filter(pl.col(REASON).is_null())
    if good.height == 0:
        return 0, skipped, rejects, {}
    conn = session.connection()
    now = datetime.now(UTC)
    first = bulk.reserve_ids(conn, "customers", good.height)
    enc, idx = cipher.encrypt, cipher.blind_index
    rows = good.select(
        pl.int_range(first, first + pl.len(), dtype=pl.Int64).alias("id"), "customer_ref",
        pl.col("name").map_elements(enc, return_dtype=pl.String).alias("name_enc"),
        pl.col("_email").map_elements(enc, return_dtype=pl.String).alias("email_enc"),
        pl.col("_phone").map_elements(enc, return_dtype=pl.String).alias("phone_enc"),
        pl.col("_email").map_elements(idx, return_dtype=pl.String).alias("email_bidx"),
        pl.col("_phone").map_elements(idx, return_dtype=pl.String).alias("phone_bidx"),
        "region", pl.col("_country").alias("country"),
        pl.lit(now, dtype=pl.Datetime("us", "UTC")).alias("created_at"),
        pl.lit(now, dtype=pl.Datetime("us", "UTC")).alias("updated_at"),
    )
    reporter.start("write customers", rows.height)
    write_chunks(conn, "customers", rows.columns, rows, reporter)
    consents = pl.concat([
        rows.select("id").with_columns(good.select(
            pl.lit(channel).alias("channel"), bool_expr(column, False).alias("granted"),
            pl.col(column).is_not_null().alias("_given")))
        for channel, column in (("email", "consent_email"), ("sms", "consent_sms"))
    ]).filter(pl.col("_given")).select(
        pl.col("id").alias("customer_id"), "channel", "granted", pl.lit("import").alias("source"),
        pl.lit(now, dtype=pl.Datetime("us", "UTC")).alias("recorded_at"),
    )
    if consents.height:
        bulk.insert_rows(conn, "customer_consents", consents.columns, consents.iter_rows())
    return good.height, skipped, rejects, {"consents": consents.height}
