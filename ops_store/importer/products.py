"""Catalog products from a file. A SKU the merchant already has is skipped (never updated)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from ops_store.importer.common import (
    REASON,
    ROW,
    Reporter,
    as_text,
    bool_expr,
    bool_rule,
    decimal_rules,
    duplicate_rule,
    first_reason,
    merchant_column,
    merchants_frame,
    missing,
    reason,
    scaled,
    too_long,
    write_chunks,
)
from ops_store.models import Product
from ops_store.security import access

COLUMNS = ("merchant", "sku", "name", "category", "price", "cost", "currency", "active")
REQUIRED = ("sku", "name", "category", "price", "cost")
SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-/]{0,63}$"  # services.catalog.SKU_RE


def run(session: Session, df: pl.DataFrame, *, merchant: str | None, path: Path, reporter: Reporter
        ) -> tuple[int, int, pl.DataFrame, dict[str, int]]:
    df = merchant_column(df, merchant).join(merchants_frame(session), on="merchant", how="left", maintain_order="left")
    ids = df.get_column("merchant_id").drop_nulls().unique().to_list()
    existing = pl.DataFrame(
        session.execute(select(Product.merchant_id, Product.sku).where(Product.merchant_id.in_(ids))).all(),
        schema={"merchant_id": pl.Int64, "sku": pl.String}, orient="row",
    ).with_columns(_known=pl.lit(True))
    df = df.join(existing, on=["merchant_id", "sku"], how="left", maintain_order="left")
    df = df.with_columns(pl.col("_known").fill_null(False))
    skipped = int(df.get_column("_known").sum())
    df = df.filter(~pl.col("_known"))
    reporter.start("validate", df.height)
    rules = [
        (pl.col("merchant").is_null(), reason("missing", "merchant", "merchant is required (column or --merchant)")),
        (pl.col("merchant_id").is_null(),
         reason("not_found", "merchant", pl.format("merchant '{}' does not exist", pl.col("merchant")))),
        *missing(["sku", "name", "category"]),
        (~pl.col("sku").str.contains(SKU_PATTERN),
         reason("invalid_input", "sku", "sku must be 1-64 letters, digits, '_', '.', '-' or '/'")),
        too_long("name", 300), too_long("category", 100),
        *decimal_rules("price", 2), *decimal_rules("cost", 4),
        (pl.col("currency").is_not_null() & ~pl.col("currency").str.contains(r"^[A-Z]{3}$"),
         reason("invalid_input", "currency", "currency must be a three-letter ISO 4217 code such as USD")),
        bool_rule("active"),
        duplicate_rule(["merchant", "sku"], pl.format("sku {} appears more than once in the file", pl.col("sku"))),
    ]
    df = df.with_columns(first_reason(rules))
    reporter.advance(df.height)
    rejects = df.filter(pl.col(REASON).is_not_null()).select(ROW, *COLUMNS, REASON)
    good = df.filter(pl.col(REASON).is_null())
    for merchant_id in good.get_column("merchant_id").unique().to_list():
        access.require("catalog.write", merchant_id=merchant_id)
    now = datetime.now(UTC)
    rows = good.select(
        "merchant_id", "sku", "name", "category", as_text(scaled("price", 2), 2).alias("price"),
        as_text(scaled("cost", 4), 4).alias("unit_cost"),
        pl.col("currency").fill_null(pl.col("merchant_currency")).alias("currency"),
        bool_expr("active", True).alias("active"),
        pl.lit(now, dtype=pl.Datetime("us", "UTC")).alias("created_at"),
        pl.lit(now, dtype=pl.Datetime("us", "UTC")).alias("updated_at"),
    )
    reporter.start("write products", rows.height)
    write_chunks(session.connection(), "products", rows.columns, rows, reporter)
    return good.height, skipped, rejects, {}
