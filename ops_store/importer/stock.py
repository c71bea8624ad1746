"""Stock receipts from a file: each valid row is a ``receipt`` movement, posted in file order with
the ledger's rules (balance = sum of movements; weighted average cost per product, the same
formula as ``services.ledger.weighted_average``), under the ledger's locks (valuations, then
balances). Each movement remembers its file and row (in ``reason``), so a second import of the
same file is skipped."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ops_store import bulk
from ops_store.importer.common import (
    REASON,
    ROW,
    Reporter,
    as_text,
    decimal_rules,
    first_reason,
    int_rules,
    missing,
    reason,
    scaled,
)
from ops_store.models import Merchant, Product, StockLevel, StockMovement, Warehouse
from ops_store.security import access
from ops_store.services import alerts
from ops_store.services.ledger import lock_levels, lock_valuations, weighted_average

COLUMNS = ("sku", "warehouse", "quantity", "unit_cost", "merchant")
REQUIRED = ("sku", "warehouse", "quantity", "unit_cost")
ACTOR = "import"


def _marks(df: pl.DataFrame, path: Path) -> pl.Series:
    """``import <file>:<row> <hash>``: the file, the row and a hash of its content."""
    texts = df.select(pl.concat_str([pl.col(c).fill_null("") for c in COLUMNS], separator="|")).to_series()
    rows = df.get_column(ROW).to_list()
    name = path.name[:120]
    return pl.Series([
        f"import {name}:{row} {hashlib.sha256(f'{name}|{row}|{t}'.encode()).hexdigest()[:16]}"
        for row, t in zip(rows, texts.to_list(), strict=True)
    ], dtype=pl.String)


def _products(session: Session) -> pl.DataFrame:
    rows = session.execute(select(Product.sku, Merchant.code, Product.id, Product.merchant_id)
                           .join(Merchant, Merchant.id == Product.merchant_id)).all()
    frame = pl.DataFrame(rows, schema={"sku": pl.String, "_merchant": pl.String, "product_id": pl.Int64,
                                       "merchant_id": pl.Int64}, orient="row")
    return frame.with_columns(_owners=pl.len().over("sku"))


def run(session: Session, df: pl.DataFrame, *, merchant: str | None, path: Path, reporter: Reporter
        ) -> tuple[int, int, pl.DataFrame, dict[str, int]]:
    df = df.with_columns(pl.col("merchant").fill_null(pl.lit(merchant, dtype=pl.String)), _mark=_marks(df, path))
    done = set(session.scalars(select(StockMovement.reason).where(
        StockMovement.ref_type == "import", StockMovement.reason.in_(df.get_column("_mark").to_list()))))
    skipped = df.filter(pl.col("_mark").is_in(list(done))).height
    df = df.filter(~pl.col("_mark").is_in(list(done)))
    reporter.start("validate", df.height)
    products = _products(session)
    by_merchant = df.join(products.drop("_owners"), left_on=["sku", "merchant"], right_on=["sku", "_merchant"],
                          how="left", maintain_order="left")
    # Without a merchant, the SKU must belong to exactly one merchant.
    only = products.filter(pl.col("_owners") == 1).select("sku", pl.col("product_id").alias("_pid"),
                                                           pl.col("merchant_id").alias("_mid"))
    counts = products.group_by("sku").agg(_owners=pl.len())
    df = by_merchant.join(only, on="sku", how="left", maintain_order="left")
    df = df.join(counts, on="sku", how="left", maintain_order="left").with_columns(
        pl.when(pl.col("merchant").is_null()).then(pl.col("_pid")).otherwise(pl.col("product_id")).alias("product_id"),
        pl.when(pl.col("merchant").is_null()).then(pl.col("_mid")).otherwise(pl.col("merchant_id")).alias("merchant_id"),
    )
    warehouses = pl.DataFrame(session.execute(select(Warehouse.code, Warehouse.id)).all(),
                              schema={"warehouse": pl.String, "warehouse_id": pl.Int64}, orient="row")
    known_merchants = list(session.scalars(select(Merchant.code)))
    df = df.join(warehouses, on="warehouse", how="left", maintain_order="left")
    rules = [
        *missing(["sku", "warehouse"]),
        (pl.col("merchant").is_not_null() & ~pl.col("merchant").is_in(known_merchants),
         reason("not_found", "merchant", pl.format("merchant '{}' does not exist", pl.col("merchant")))),
        (pl.col("merchant").is_null() & (pl.col("_owners") > 1),
         reason("invalid_input", "merchant", pl.format("sku '{}' exists for several merchants; give merchant",
                                                      pl.col("sku")))),
        (pl.col("product_id").is_null(), reason("not_found", "sku", pl.format("sku '{}' does not exist",
                                                                              pl.col("sku")))),
        (pl.col("warehouse_id").is_null(),
         reason("not_found", "warehouse", pl.format("warehouse '{}' does not exist", pl.col("warehouse")))),
        *int_rules("quantity"),
        *decimal_rules("unit_cost", 4),
    ]
    df = df.with_columns(first_reason(rules)).sort(ROW)
    reporter.advance(df.height)
    rejects = df.filter(pl.col(REASON).is_not_null()).select(ROW, *COLUMNS, REASON)
    good = df.filter(pl.col(REASON).is_null()).with_columns(
        _qty=pl.col("quantity").cast(pl.Int64), _cost=as_text(scaled("unit_cost", 4), 4))
    for merchant_id in good.get_column("merchant_id").unique().to_list():
        access.require("stock.write", merchant_id=merchant_id)
    if good.height == 0:
        return 0, skipped, rejects, {}
    _post(session, good, reporter)
    return good.height, skipped, rejects, {}


def _post(session: Session, good: pl.DataFrame, reporter: Reporter) -> None:
    rows = list(good.select("product_id", "warehouse_id", "_qty", "_cost", "_mark").iter_rows())
    product_ids = sorted({r[0] for r in rows})
    valuations = lock_valuations(session, product_ids)
    levels = lock_levels(session, [(r[0], r[1]) for r in rows])
    on_hand: dict[int, int] = defaultdict(int)
    for pid, qty in session.execute(select(StockLevel.product_id, func.coalesce(func.sum(StockLevel.on_hand), 0))
                                    .where(StockLevel.product_id.in_(product_ids)).group_by(StockLevel.product_id)):
        on_hand[pid] = int(qty)
    avg = {pid: valuations[pid].avg_unit_cost for pid in product_ids}
    added: dict[tuple[int, int], int] = defaultdict(int)
    movements = []
    now = datetime.now(UTC)
    reporter.start("post receipts", len(rows))
    for pid, wid, qty, cost_text, mark in rows:
        cost = Decimal(cost_text)
        avg[pid] = weighted_average(on_hand[pid], avg[pid], qty, cost)
        on_hand[pid] += qty
        added[(pid, wid)] += qty
        movements.append((pid, wid, "receipt", qty, cost, mark, "import", ACTOR, now))
    bulk.insert_rows(session.connection(), "stock_movements",
                     ["product_id", "warehouse_id", "kind", "quantity", "unit_cost", "reason", "ref_type", "actor",
                      "created_at"], movements)
    for pid in product_ids:
        valuations[pid].avg_unit_cost = avg[pid]
    for key, qty in added.items():
        levels[key].on_hand += qty
    session.flush()
    for key in sorted(added):
        alerts.evaluate(session, levels[key])
    reporter.advance(len(rows))
