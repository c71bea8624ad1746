"""The stock ledger's inner workings, used inside other services' units of work.

Every stock change goes through ``post_movement``: it appends the movement, keeps the balance
(stock_levels.on_hand) equal to the ledger sum, and keeps the weighted average unit cost per
product. Callers lock rows first with ``lock_valuations`` then ``lock_levels`` (that order).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ops_store.errors import InsufficientStock, InvalidInput
from ops_store.models import StockLevel, StockMovement, StockValuation
from ops_store.services import alerts
from ops_store.services.common import upsert_into

COST_QUANTUM = Decimal("0.0001")
INFLOWS = {"receipt", "return", "transfer_in"}
OUTFLOWS = {"sale", "transfer_out"}

LevelKey = tuple[int, int]  # (product_id, warehouse_id)


def lock_valuations(session: Session, product_ids: Iterable[int]) -> dict[int, StockValuation]:
    ids = sorted(set(product_ids))
    if not ids:
        return {}
    session.execute(
        upsert_into(session, StockValuation)
        .values([{"product_id": pid, "avg_unit_cost": Decimal("0")} for pid in ids])
        .on_conflict_do_nothing()
    )
    rows = session.scalars(
        select(StockValuation)
        .where(StockValuation.product_id.in_(ids))
        .order_by(StockValuation.product_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {row.product_id: row for row in rows}


def lock_levels(session: Session, keys: Iterable[LevelKey], *, create: bool = True) -> dict[LevelKey, StockLevel]:
    """Lock balance rows in (product, warehouse) order, creating the missing ones if asked."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    if create:
        session.execute(
            upsert_into(session, StockLevel)
            .values([{"product_id": p, "warehouse_id": w, "on_hand": 0, "reserved": 0} for p, w in wanted])
            .on_conflict_do_nothing()
        )
    product_ids = sorted({p for p, _ in wanted})
    rows = session.scalars(
        select(StockLevel)
        .where(StockLevel.product_id.in_(product_ids))
        .order_by(StockLevel.product_id, StockLevel.warehouse_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    wanted_set = set(wanted)
    return {(r.product_id, r.warehouse_id): r for r in rows if (r.product_id, r.warehouse_id) in wanted_set}


def lock_product_levels(session: Session, product_ids: Iterable[int]) -> list[StockLevel]:
    """Lock every balance row of these products (all warehouses), in the fixed order."""
    ids = sorted(set(product_ids))
    if not ids:
        return []
    return list(
        session.scalars(
            select(StockLevel)
            .where(StockLevel.product_id.in_(ids))
            .order_by(StockLevel.product_id, StockLevel.warehouse_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )


def product_on_hand(session: Session, product_id: int) -> int:
    total = select(func.coalesce(func.sum(StockLevel.on_hand), 0)).where(StockLevel.product_id == product_id)
    return int(session.scalar(total))


def weighted_average(on_hand: int, avg: Decimal, qty_in: int, unit_cost: Decimal) -> Decimal:
    """Moving weighted average after an inflow of ``qty_in`` units at ``unit_cost``."""
    if on_hand <= 0:
        return unit_cost.quantize(COST_QUANTUM, rounding=ROUND_HALF_EVEN)
    total = on_hand * avg + qty_in * unit_cost
    return (total / (on_hand + qty_in)).quantize(COST_QUANTUM, rounding=ROUND_HALF_EVEN)


def post_movement(
    session: Session,
    *,
    level: StockLevel,
    valuation: StockValuation,
    kind: str,
    quantity: int,
    actor: str,
    unit_cost: Decimal | None = None,
    reason: str | None = None,
    ref_type: str | None = None,
    ref_id: int | None = None,
    consumes_reservation: bool = False,
    sku: str = "",
) -> StockMovement:
    """Append one movement and update the balance and the average cost.

    Inflows carry a unit cost (default: the current average) and move the weighted average;
    outflows always leave at the current average. A sale that ships a reservation
    (``consumes_reservation``) takes the units out of both on-hand and reserved."""
    if quantity == 0:
        raise InvalidInput("quantity must not be zero", field="qty")
    avg = valuation.avg_unit_cost
    if quantity > 0:
        cost = avg if unit_cost is None else unit_cost
        if cost < 0:
            raise InvalidInput("unit cost must not be negative", field="unit_cost")
        valuation.avg_unit_cost = weighted_average(
            product_on_hand(session, level.product_id), avg, quantity, cost
        )
    else:
        cost = avg
        out = -quantity
        if consumes_reservation:
            if out > level.reserved:
                raise InvalidInput("cannot ship more than is reserved", field="qty")
            level.reserved -= out
        elif out > level.on_hand - level.reserved:
            raise InsufficientStock(
                f"only {level.on_hand - level.reserved} units of {sku or level.product_id} are available "
                f"(on hand {level.on_hand}, reserved {level.reserved}); {out} requested",
                field="qty",
                details=[{"sku": sku, "requested": out, "available": level.on_hand - level.reserved}],
            )
    level.on_hand += quantity
    movement = StockMovement(
        product_id=level.product_id,
        warehouse_id=level.warehouse_id,
        kind=kind,
        quantity=quantity,
        unit_cost=cost.quantize(COST_QUANTUM),
        reason=reason,
        ref_type=ref_type,
        ref_id=ref_id,
        actor=actor,
    )
    session.add(movement)
    session.flush()
    alerts.evaluate(session, level)
    return movement
