"""Stock counts (cycle counts): open, record what was counted, post the differences.

Posting compares each counted quantity with the on-hand at that moment and books the difference
as a count_correction movement at the average cost. A posted count never changes again. A count
below the units reserved for open orders is refused: ship or cancel those orders first."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ops_store.db import Store
from ops_store.errors import IllegalTransition, InsufficientStock, InvalidInput, NotFound
from ops_store.models import Product, StockCount, StockCountLine, StockLevel, Warehouse
from ops_store.security import access
from ops_store.services.common import (
    SYSTEM_ACTOR,
    get_or_404,
    parse_positive_int,
    product_by_sku,
    warehouse_by_code,
)
from ops_store.services.ledger import lock_levels, lock_valuations, post_movement
from ops_store.types import utcnow

CENT = Decimal("0.01")


def open_count(
    store: Store, warehouse: str, *, skus: list[str] | None = None, actor: str = SYSTEM_ACTOR
) -> dict[str, Any]:
    """A count of the given SKUs, or of every SKU the warehouse has held stock of."""
    access.require("stock.count")

    def work(session: Session) -> int:
        wh = warehouse_by_code(session, warehouse)
        if skus:
            product_ids = sorted({product_by_sku(session, s).id for s in skus})
        else:
            product_ids = list(session.scalars(
                select(StockLevel.product_id).where(StockLevel.warehouse_id == wh.id).order_by(StockLevel.product_id)))
        if not product_ids:
            raise InvalidInput(f"warehouse {warehouse} holds no stock to count; name the SKUs", field="skus")
        count = StockCount(warehouse_id=wh.id, status="open", actor=actor)
        session.add(count)
        session.flush()
        session.add_all(StockCountLine(stock_count_id=count.id, product_id=p) for p in product_ids)
        return count.id

    return count_view(store, store.run_write(work))


def record_count(store: Store, count_id: int, sku: str, qty: Any, *, actor: str = SYSTEM_ACTOR) -> dict[str, Any]:
    access.require("stock.count")
    counted = parse_positive_int(qty, "qty", allow_zero=True)

    def work(session: Session) -> None:
        count = get_or_404(session, StockCount, count_id, "count", lock=True)
        if count.status != "open":
            raise IllegalTransition(f"count {count_id} is {count.status} and can no longer change", field="status")
        product = product_by_sku(session, sku)
        line = session.scalar(select(StockCountLine).where(
            StockCountLine.stock_count_id == count_id, StockCountLine.product_id == product.id))
        if line is None:
            raise NotFound(f"SKU {sku!r} is not part of count {count_id}", field="sku")
        line.counted_qty = counted

    store.run_write(work)
    return count_view(store, count_id)


def post_count(store: Store, count_id: int, *, actor: str = SYSTEM_ACTOR) -> dict[str, Any]:
    access.require("stock.count")
    def work(session: Session) -> None:
        count = get_or_404(session, StockCount, count_id, "count", lock=True)
        if count.status != "open":
            raise IllegalTransition(f"count {count_id} is {count.status}; a posted count is immutable",
                                    field="status")
        lines = list(session.scalars(select(StockCountLine).where(StockCountLine.stock_count_id == count_id)
                                     .order_by(StockCountLine.product_id)))
        skus = dict(session.execute(select(Product.id, Product.sku).where(
            Product.id.in_([ln.product_id for ln in lines]))).all())
        missing = [skus[ln.product_id] for ln in lines if ln.counted_qty is None]
        if missing:
            raise InvalidInput(f"count {count_id} has SKUs not counted yet: {', '.join(missing)}", field="lines",
                               details=missing)
        valuations = lock_valuations(session, [ln.product_id for ln in lines])
        levels = lock_levels(session, [(ln.product_id, count.warehouse_id) for ln in lines])
        short = [
            {"sku": skus[ln.product_id], "counted": ln.counted_qty,
             "reserved": levels[(ln.product_id, count.warehouse_id)].reserved}
            for ln in lines if ln.counted_qty < levels[(ln.product_id, count.warehouse_id)].reserved  # type: ignore[operator]
        ]
        if short:
            raise InsufficientStock(
                "counted below the units reserved for open orders: "
                + ", ".join(f"{s['sku']} (counted {s['counted']}, reserved {s['reserved']})" for s in short)
                + "; ship or cancel those orders, then post the count again",
                field="lines", details=short,
            )
        for ln in lines:
            level = levels[(ln.product_id, count.warehouse_id)]
            valuation = valuations[ln.product_id]
            ln.expected_qty = level.on_hand
            ln.variance_qty = ln.counted_qty - level.on_hand  # type: ignore[operator]
            ln.unit_cost = valuation.avg_unit_cost
            ln.variance_value = (ln.variance_qty * valuation.avg_unit_cost).quantize(CENT)
            if ln.variance_qty:
                post_movement(
                    session, level=level, valuation=valuation, kind="count_correction", quantity=ln.variance_qty,
                    reason=f"count {count_id}", ref_type="count", ref_id=count_id, actor=actor,
                    sku=skus[ln.product_id],
                )
        count.status = "posted"
        count.posted_at = utcnow()

    store.run_write(work)
    return count_view(store, count_id)


def count_view(store: Store, count_id: int) -> dict[str, Any]:
    access.require("stock.read")
    with store.read() as session:
        count = get_or_404(session, StockCount, count_id, "count")
        rows = session.execute(
            select(StockCountLine, Product.sku).join(Product, Product.id == StockCountLine.product_id)
            .where(StockCountLine.stock_count_id == count_id).order_by(Product.sku)
        )
        lines = [
            {"sku": sku, "counted": ln.counted_qty, "expected": ln.expected_qty, "variance": ln.variance_qty,
             "unit_cost": ln.unit_cost, "variance_value": ln.variance_value}
            for ln, sku in rows
        ]
        return {
            "count_id": count.id, "warehouse": session.get(Warehouse, count.warehouse_id).code,  # type: ignore[union-attr]
            "status": count.status, "opened_at": count.created_at, "posted_at": count.posted_at, "lines": lines,
            "variance_value": sum((ln["variance_value"] or Decimal("0") for ln in lines), Decimal("0.00")),
        }
