"""Past orders from a file, one row per order line, recorded as finished historical orders.

They do not draw on today's stock (no reservations, no sale movements); each keeps its reference
(channel + order_ref), gets its events (placed -> final status, actor ``import``) and a payment
for its total. An order with any bad line is refused whole."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from ops_store import bulk
from ops_store.importer.common import (
    REASON,
    ROW,
    Reporter,
    SilentReporter,
    decimal_rules,
    duplicate_rule,
    first_reason,
    int_rules,
    known_keys,
    merchant_column,
    merchants_frame,
    missing,
    reason,
    scaled,
    too_long,
    write_chunks,
)
from ops_store.models import Carrier, DeliveryOption, Product
from ops_store.models.orders import CHANNELS
from ops_store.models.payments import PAYMENT_METHODS
from ops_store.security import access

COLUMNS = ("order_ref", "customer_ref", "ordered_at", "sku", "quantity", "unit_price", "channel", "merchant",
           "currency", "status", "discount", "shipping", "tax", "payment_method", "delivery_option")
REQUIRED = ("order_ref", "customer_ref", "ordered_at", "sku", "quantity", "unit_price")
# Columns that describe the order, not the line: every line of an order must agree on them.
ORDER_LEVEL = ("customer_ref", "ordered_at", "merchant", "currency", "status", "shipping", "tax",
               "payment_method", "delivery_option")
FINAL_STATUSES = ("completed", "cancelled", "returned", "refunded")
IMPORT_OPTION, IMPORT_CARRIER = "import", "IMPORT"
KEY = ["channel", "order_ref"]
MONEY_LIMIT = 10 ** 12  # NUMERIC(12, 2) in cents
ACTOR = "import"


def parse_timestamp(column: str) -> pl.Expr:
    """A date (midnight UTC) or an ISO date-time (with an offset, or taken as UTC)."""
    c = pl.col(column)
    day = c.str.strptime(pl.Date, "%Y-%m-%d", strict=False).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    t = c.str.replace(" ", "T").str.replace(r"Z$", "+00:00")
    t = pl.when(t.str.contains(r"[+-]\d\d:\d\d$")).then(t).otherwise(t + "+00:00")
    moment = t.str.strptime(pl.Datetime("us", "UTC"), "%Y-%m-%dT%H:%M:%S%.f%:z", strict=False)
    return pl.when(c.str.len_chars() == 10).then(day).otherwise(moment)


def _lookups(session: Session, df: pl.DataFrame) -> pl.DataFrame:
    df = df.join(merchants_frame(session), on="merchant", how="left", maintain_order="left")
    merchant_ids = df.get_column("merchant_id").drop_nulls().unique().to_list()
    products = session.execute(
        select(Product.merchant_id, Product.sku, Product.id).where(Product.merchant_id.in_(merchant_ids))
    ).all()
    pframe = pl.DataFrame(products, schema={"merchant_id": pl.Int64, "sku": pl.String, "product_id": pl.Int64},
                          orient="row")
    options = session.execute(select(DeliveryOption.code, DeliveryOption.id, DeliveryOption.promised_days)).all()
    oframe = pl.DataFrame(options, schema={"delivery_option": pl.String, "option_id": pl.Int64,
                                           "promised_days": pl.Int64}, orient="row")
    df = df.join(pframe, on=["merchant_id", "sku"], how="left", maintain_order="left")
    return df.join(oframe, on="delivery_option", how="left", maintain_order="left")


def _already_imported(session: Session, df: pl.DataFrame) -> pl.Series:
    known = known_keys(session, "orders", ["channel", "channel_order_ref"],
                       df.select("channel", pl.col("order_ref").alias("channel_order_ref")))
    known = known.rename({"channel_order_ref": "order_ref"})
    marked = df.join(known.with_columns(pl.lit(True).alias("_known")), on=KEY, how="left", maintain_order="left")
    return marked.get_column("_known").fill_null(False)


def validate(df: pl.DataFrame, now: datetime) -> pl.DataFrame:
    qty = pl.col("quantity").cast(pl.Int64, strict=False)
    df = df.with_columns(
        _at=parse_timestamp("ordered_at"), _qty=qty, _price=scaled("unit_price", 2),
        _disc=scaled("discount", 2), _ship=scaled("shipping", 2), _tax=scaled("tax", 2),
    ).with_columns(_gross=pl.col("_qty") * pl.col("_price"))
    # Order-level figures once per order (cheaper than a window per rule).
    per_order = df.group_by(KEY).agg(
        *(pl.col(c).n_unique().alias(f"_nu_{c}") for c in ORDER_LEVEL),
        _order_sum=pl.col("_gross").sum() + pl.col("_ship").first() + pl.col("_tax").first(),
    )
    df = df.join(per_order, on=KEY, how="left", maintain_order="left")
    rules = [
        *missing(["order_ref", "customer_ref", "ordered_at", "sku"]),
        (pl.col("merchant").is_null(), reason("missing", "merchant", "merchant is required (column or --merchant)")),
        too_long("order_ref", 100), too_long("customer_ref", 100), too_long("sku", 64),
        (~pl.col("channel").is_in(CHANNELS),
         reason("invalid_input", "channel", pl.format("channel '{}' is not one of " + ", ".join(CHANNELS),
                                                      pl.col("channel")))),
        (pl.col("merchant_id").is_null(),
         reason("not_found", "merchant", pl.format("merchant '{}' does not exist", pl.col("merchant")))),
        (pl.col("_at").is_null(),
         reason("invalid_input", "ordered_at",
                pl.format("ordered_at '{}' is not a date (YYYY-MM-DD) or an ISO date-time", pl.col("ordered_at")))),
        (pl.col("_at") > pl.lit(now), reason("invalid_input", "ordered_at", "ordered_at is in the future")),
        *int_rules("quantity"),
        *decimal_rules("unit_price", 2),
        (pl.col("_price") == 0,
         reason("invalid_input", "unit_price", "unit_price must be positive (record a free item as a discount)")),
        *decimal_rules("discount", 2, required=False),
        *decimal_rules("shipping", 2, required=False),
        *decimal_rules("tax", 2, required=False),
        (pl.col("product_id").is_null(),
         reason("not_found", "sku", pl.format("sku '{}' is not in merchant {}'s catalog", pl.col("sku"),
                                              pl.col("merchant")))),
        (~pl.col("status").is_in(FINAL_STATUSES),
         reason("invalid_input", "status", pl.format("status '{}' is not one of " + ", ".join(FINAL_STATUSES),
                                                     pl.col("status")))),
        (pl.col("currency").is_not_null() & (pl.col("currency") != pl.col("merchant_currency")),
         reason("invalid_input", "currency", pl.format("currency {} differs from the merchant's currency {}",
                                                       pl.col("currency"), pl.col("merchant_currency")))),
        (~pl.col("payment_method").is_in(PAYMENT_METHODS),
         reason("invalid_input", "payment_method", pl.format("payment_method '{}' is not one of "
                                                             + ", ".join(PAYMENT_METHODS), pl.col("payment_method")))),
        (pl.col("delivery_option").is_not_null() & pl.col("option_id").is_null(),
         reason("not_found", "delivery_option", pl.format("delivery option '{}' does not exist",
                                                          pl.col("delivery_option")))),
        (pl.col("_disc") > pl.col("_gross"),
         reason("invalid_input", "discount", "discount is more than quantity x unit_price")),
        (pl.col("_order_sum") >= MONEY_LIMIT,
         reason("invalid_input", "unit_price", "the order's total is too large")),
        duplicate_rule([*KEY, "sku"], pl.format("sku {} appears more than once in order {}", pl.col("sku"),
                                                pl.col("order_ref"))),
        *[
            (pl.col("order_ref").is_not_null() & (pl.col(f"_nu_{c}") > 1),
             reason("inconsistent", c, pl.format("the lines of order {} disagree on {}", pl.col("order_ref"),
                                                 pl.lit(c))))
            for c in ORDER_LEVEL
        ],
    ]
    df = df.with_columns(first_reason(rules))
    # One bad line refuses the whole order: its other lines say why.
    bad_row = pl.when(pl.col(REASON).is_not_null()).then(pl.col(ROW)).min().over(KEY)
    bad_why = pl.col(REASON).sort_by(pl.col(REASON).is_null(), pl.col(ROW)).first().over(KEY)
    whole = reason("order_rejected", "order_ref",
                   pl.format("another line of order {} is invalid (row {}: {})", pl.col("order_ref"), bad_row,
                             bad_why.str.split("|").list.get(2, null_on_oob=True)))
    return df.with_columns(
        pl.when(pl.col(REASON).is_null() & bad_row.is_not_null()).then(whole).otherwise(pl.col(REASON)).alias(REASON)
    )


def _customer_ids(session: Session, conn, refs: list[str], now: datetime) -> tuple[pl.DataFrame, int]:  # type: ignore[no-untyped-def]
    found = list(known_keys(session, "customers", ["customer_ref"], pl.DataFrame({"customer_ref": refs}),
                            returning=["id"]).iter_rows())
    known = {r for r, _ in found}
    new = [r for r in refs if r not in known]
    if new:
        first = bulk.reserve_ids(conn, "customers", len(new))
        rows = pl.DataFrame({"customer_ref": new}, schema={"customer_ref": pl.String}).select(
            pl.int_range(first, first + pl.len(), dtype=pl.Int64).alias("id"), "customer_ref",
            pl.lit(now, dtype=pl.Datetime("us", "UTC")).alias("created_at"),
            pl.lit(now, dtype=pl.Datetime("us", "UTC")).alias("updated_at"))
        write_chunks(conn, "customers", rows.columns, rows, SilentReporter())
        found += [(ref, first + i) for i, ref in enumerate(new)]
    frame = pl.DataFrame(found, schema={"customer_ref": pl.String, "customer_id": pl.Int64}, orient="row")
    return frame, len(new)


def _import_option(session: Session) -> tuple[int, int]:
    """The delivery option ``import`` (carrier IMPORT) for orders that name none; made on first use."""
    option = session.scalar(select(DeliveryOption).where(DeliveryOption.code == IMPORT_OPTION))
    if option is None:
        carrier = session.scalar(select(Carrier).where(Carrier.code == IMPORT_CARRIER))
        if carrier is None:
            carrier = Carrier(code=IMPORT_CARRIER, name="Imported history", active=True)
            session.add(carrier)
            session.flush()
        option = DeliveryOption(code=IMPORT_OPTION, kind="standard", name="Imported order (history)",
                                carrier_id=carrier.id, price=Decimal("0"), promised_days=0, active=False)
        session.add(option)
        session.flush()
    return option.id, option.promised_days


def _money(units: str) -> pl.Expr:
    return pl.format("{}.{}", pl.col(units) // 100, (pl.col(units) % 100).cast(pl.String).str.pad_start(2, "0"))


def write(session: Session, good: pl.DataFrame, path: Path, reporter: Reporter, now: datetime) -> dict[str, int]:
    conn = session.connection()
    for merchant_id in good.get_column("merchant_id").unique().to_list():
        access.require("orders.write", merchant_id=merchant_id)
    if good.height == 0:
        return {"orders": 0, "customers_created": 0}
    if good.get_column("option_id").null_count():
        option_id, days = _import_option(session)
        good = good.with_columns(pl.col("option_id").fill_null(option_id), pl.col("promised_days").fill_null(days))
    refs = good.get_column("customer_ref").unique(maintain_order=True).to_list()
    customers, created = _customer_ids(session, conn, refs, now)
    good = good.sort(ROW).join(customers, on="customer_ref", how="left", maintain_order="left").with_columns(
        _line_total=pl.col("_gross") - pl.col("_disc"),
        _line_no=pl.int_range(1, pl.len() + 1).over(KEY),
        _doc=pl.concat_str([pl.col("sku"), pl.col("_qty"), pl.col("_price"), pl.col("_disc")], separator=":"),
    )
    orders = good.group_by(KEY, maintain_order=True).agg(
        pl.col("merchant_id", "customer_id", "status", "merchant_currency", "option_id", "promised_days", "_at",
               "_ship", "_tax", "payment_method", "customer_ref").first(),
        _subtotal=pl.col("_gross").sum(), _discount=pl.col("_disc").sum(), _doc=pl.col("_doc").str.join(";"),
    )
    first_id = bulk.reserve_ids(conn, "orders", orders.height)
    orders = orders.with_columns(
        order_id=pl.int_range(first_id, first_id + pl.len(), dtype=pl.Int64),
        _total=pl.col("_subtotal") - pl.col("_discount") + pl.col("_ship") + pl.col("_tax"),
        promised_on=(pl.col("_at") + pl.duration(days=pl.col("promised_days"))).dt.date(),
        _now=pl.lit(now, dtype=pl.Datetime("us", "UTC")),
    )
    docs = orders.select(pl.concat_str([*KEY, "customer_ref", pl.col("_at").cast(pl.String), "_doc", "_ship",
                                        "_tax", "status"], separator="|")).to_series().to_list()
    orders = orders.with_columns(payload_hash=pl.Series([hashlib.sha256(d.encode()).hexdigest() for d in docs]))
    orders = orders.with_columns(
        subtotal=_money("_subtotal"), discount=_money("_discount"), shipping=_money("_ship"), tax=_money("_tax"),
        total=_money("_total"),
    )
    reporter.start("write orders", orders.height)
    write_chunks(conn, "orders", [
        "id", "merchant_id", "customer_id", "channel", "channel_order_ref", "payload_hash", "status", "currency",
        "subtotal", "discount", "shipping", "tax", "total", "delivery_option_id", "points_redeemed", "promised_on",
        "placed_at", "created_at", "updated_at",
    ], orders.select(
        pl.col("order_id").alias("id"), "merchant_id", "customer_id", "channel",
        pl.col("order_ref").alias("channel_order_ref"), "payload_hash", "status",
        pl.col("merchant_currency").alias("currency"), "subtotal", "discount", "shipping", "tax", "total",
        pl.col("option_id").alias("delivery_option_id"), pl.lit(0).alias("points_redeemed"), "promised_on",
        pl.col("_at").alias("placed_at"), pl.col("_now").alias("created_at"), pl.col("_now").alias("updated_at"),
    ), reporter)

    lines = good.join(orders.select(*KEY, "order_id"), on=KEY, how="left", maintain_order="left").select(
        "order_id", pl.col("_line_no").alias("line_no"), "product_id", "sku", pl.col("_qty").alias("quantity"),
        _money("_price").alias("unit_price"), _money("_disc").alias("discount"),
        _money("_line_total").alias("line_total"), pl.lit(now, dtype=pl.Datetime("us", "UTC")).alias("updated_at"),
    )
    reporter.start("write order lines", lines.height)
    write_chunks(conn, "order_lines", lines.columns, lines, reporter)

    note = f"imported from {path.name}"[:300]
    placed = orders.select("order_id", pl.lit(None, dtype=pl.String).alias("from_status"),
                           pl.lit("placed").alias("to_status"), pl.col("_at").alias("created_at"))
    final = orders.select("order_id", pl.lit("placed").alias("from_status"), pl.col("status").alias("to_status"),
                          pl.col("_at").alias("created_at"))
    events = pl.concat([placed, final]).sort("order_id", maintain_order=True).select(
        "order_id", "from_status", "to_status", pl.lit(ACTOR).alias("actor"), pl.lit(note).alias("note"),
        "created_at")
    reporter.start("write order events", events.height)
    write_chunks(conn, "order_events", events.columns, events, reporter)

    status = pl.col("status")
    payments = orders.select(
        "order_id", pl.col("payment_method").alias("method"),
        pl.when(status == "cancelled").then(pl.lit("voided")).when(status == "refunded").then(pl.lit("refunded"))
        .otherwise(pl.lit("captured")).alias("status"),
        pl.col("total").alias("amount"), pl.col("merchant_currency").alias("currency"),
        pl.when(status == "cancelled").then(pl.lit("0.00")).otherwise(pl.col("total")).alias("captured_amount"),
        pl.when(status == "refunded").then(pl.col("total")).otherwise(pl.lit("0.00")).alias("refunded_amount"),
        pl.lit(ACTOR).alias("provider"), pl.col("_at").alias("created_at"), pl.col("_now").alias("updated_at"),
    )
    reporter.start("write payments", payments.height)
    write_chunks(conn, "payments", payments.columns, payments, reporter)
    return {"orders": orders.height, "customers_created": created}


def run(session: Session, df: pl.DataFrame, *, merchant: str | None, path: Path, reporter: Reporter
        ) -> tuple[int, int, pl.DataFrame, dict[str, int]]:
    """(accepted lines, skipped lines, refused rows with reasons, details)."""
    now = datetime.now(UTC)
    df = merchant_column(df, merchant).with_columns(
        pl.col("channel").fill_null("web"), pl.col("status").str.to_lowercase().fill_null("completed"),
        pl.col("payment_method").fill_null("bank_transfer"),
    )
    known = _already_imported(session, df)
    skipped = int(known.sum())
    df = df.filter(~known)
    reporter.start("validate", df.height)
    df = validate(_lookups(session, df), now)
    reporter.advance(df.height)
    rejects = df.filter(pl.col(REASON).is_not_null()).select(ROW, *COLUMNS, REASON)
    good = df.filter(pl.col(REASON).is_null())
    details = write(session, good, path, reporter, now)
    return good.height, skipped, rejects, details
