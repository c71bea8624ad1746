"""Stock operations: receipts, adjustments, transfers, and what stock there is."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from ops_store.db import Store
from ops_store.errors import InvalidInput, NotFound
from ops_store.models import Product, StockLevel, StockMovement, StockValuation, Warehouse
from ops_store.security import access, audit
from ops_store.services.common import (
    SYSTEM_ACTOR,
    merchant_by_code,
    parse_decimal,
    parse_positive_int,
    product_by_sku,
    warehouse_by_code,
)
from ops_store.services.ledger import lock_levels, lock_valuations, post_movement

CENT = Decimal("0.01")


def receive_stock(
    store: Store, sku: str, warehouse: str, qty: Any, *, unit_cost: Any = None, merchant: str | None = None,
    reason: str | None = None, actor: str = SYSTEM_ACTOR,
) -> dict[str, Any]:
    """Goods in (outside a purchase order). The unit cost defaults to the catalog cost."""
    quantity = parse_positive_int(qty, "qty")

    def work(session):  # type: ignore[no-untyped-def]
        product = product_by_sku(session, sku, merchant)
        access.require("stock.write", merchant_id=product.merchant_id)
        wh = warehouse_by_code(session, warehouse)
        cost = product.unit_cost if unit_cost is None else parse_decimal(unit_cost, "unit_cost", places=4)
        valuation = lock_valuations(session, [product.id])[product.id]
        level = lock_levels(session, [(product.id, wh.id)])[(product.id, wh.id)]
        post_movement(
            session, level=level, valuation=valuation, kind="receipt", quantity=quantity, unit_cost=cost,
            reason=reason or "goods received", ref_type="manual", actor=actor, sku=sku,
        )
        return _position(product, wh, level, valuation)

    return store.run_write(work)


def adjust_stock(
    store: Store, sku: str, warehouse: str, qty: Any, *, reason: str, unit_cost: Any = None,
    merchant: str | None = None, actor: str = SYSTEM_ACTOR,
) -> dict[str, Any]:
    """A signed correction with a reason (damage, found goods...). Outflows cannot take reserved units."""
    try:
        delta = int(qty)
    except (TypeError, ValueError):
        raise InvalidInput("qty must be a whole number (negative to remove units)", field="qty") from None
    if not (reason or "").strip():
        raise InvalidInput("an adjustment needs a reason", field="reason")

    def work(session):  # type: ignore[no-untyped-def]
        product = product_by_sku(session, sku, merchant)
        access.require("stock.write", merchant_id=product.merchant_id)
        wh = warehouse_by_code(session, warehouse)
        cost = None if unit_cost is None else parse_decimal(unit_cost, "unit_cost", places=4)
        valuation = lock_valuations(session, [product.id])[product.id]
        level = lock_levels(session, [(product.id, wh.id)])[(product.id, wh.id)]
        movement = post_movement(
            session, level=level, valuation=valuation, kind="adjustment", quantity=delta, unit_cost=cost,
            reason=reason, ref_type="manual", actor=actor, sku=sku,
        )
        audit.record(session, "stock.adjust", target_type="stock_movement", target_id=movement.id,
                     details={"sku": sku, "warehouse": warehouse, "qty": delta, "reason": reason})
        return _position(product, wh, level, valuation)

    return store.run_write(work)


def transfer_stock(
    store: Store, sku: str, from_warehouse: str, to_warehouse: str, qty: Any, *,
    merchant: str | None = None, actor: str = SYSTEM_ACTOR,
) -> list[dict[str, Any]]:
    """Move available units between warehouses at the current average cost."""
    quantity = parse_positive_int(qty, "qty")
    if from_warehouse == to_warehouse:
        raise InvalidInput("a transfer needs two different warehouses", field="to_warehouse")

    def work(session):  # type: ignore[no-untyped-def]
        product = product_by_sku(session, sku, merchant)
        access.require("stock.write", merchant_id=product.merchant_id)
        src, dst = warehouse_by_code(session, from_warehouse), warehouse_by_code(session, to_warehouse)
        valuation = lock_valuations(session, [product.id])[product.id]
        levels = lock_levels(session, [(product.id, src.id), (product.id, dst.id)])
        out = post_movement(
            session, level=levels[(product.id, src.id)], valuation=valuation, kind="transfer_out",
            quantity=-quantity, reason=f"transfer to {dst.code}", ref_type="transfer", actor=actor, sku=sku,
        )
        post_movement(
            session, level=levels[(product.id, dst.id)], valuation=valuation, kind="transfer_in",
            quantity=quantity, unit_cost=out.unit_cost, reason=f"transfer from {src.code}",
            ref_type="transfer", ref_id=out.id, actor=actor, sku=sku,
        )
        return [
            _position(product, w, levels[(product.id, w.id)], valuation) for w in (src, dst)
        ]

    return store.run_write(work)


def _position(product: Product, wh: Warehouse, level: StockLevel, valuation: StockValuation | None) -> dict[str, Any]:
    avg = valuation.avg_unit_cost if valuation else Decimal("0")
    return {
        "sku": product.sku,
        "warehouse": wh.code,
        "on_hand": level.on_hand,
        "reserved": level.reserved,
        "available": level.on_hand - level.reserved,
        "avg_unit_cost": avg,
        "stock_value": (level.on_hand * avg).quantize(CENT),
    }


def stock_show(
    store: Store, sku: str | None = None, *, warehouse: str | None = None, merchant: str | None = None,
) -> list[dict[str, Any]]:
    """Stock per SKU and warehouse: on hand, reserved, available, average cost and value."""
    access.require("stock.read")
    with store.read() as session:
        query = (
            select(Product, Warehouse, StockLevel, StockValuation)
            .join(StockLevel, StockLevel.product_id == Product.id)
            .join(Warehouse, Warehouse.id == StockLevel.warehouse_id)
            .outerjoin(StockValuation, StockValuation.product_id == Product.id)
        )
        if access.merchant_scope() is not None:
            query = query.where(Product.merchant_id == access.merchant_scope())
        if sku is not None:
            product = product_by_sku(session, sku, merchant)
            access.require("stock.read", merchant_id=product.merchant_id)
            query = query.where(Product.id == product.id)
        elif merchant is not None:
            query = query.where(Product.merchant_id == merchant_by_code(session, merchant).id)
        if warehouse is not None:
            query = query.where(Warehouse.id == warehouse_by_code(session, warehouse).id)
        rows = session.execute(query.order_by(Product.sku, Warehouse.priority, Warehouse.code))
        return [_position(p, w, lvl, v) for p, w, lvl, v in rows]


def ledger(store: Store, sku: str, *, merchant: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """The movements of one SKU, newest first."""
    with store.read() as session:
        product = product_by_sku(session, sku, merchant)
        access.require("stock.read", merchant_id=product.merchant_id)
        rows = session.execute(
            select(StockMovement, Warehouse.code)
            .join(Warehouse, Warehouse.id == StockMovement.warehouse_id)
            .where(StockMovement.product_id == product.id)
            .order_by(StockMovement.id.desc())
            .limit(limit)
        )
        return [
            {
                "id": m.id, "at": m.created_at, "warehouse": code, "kind": m.kind, "quantity": m.quantity,
                "unit_cost": m.unit_cost, "reason": m.reason, "ref_type": m.ref_type, "ref_id": m.ref_id,
                "actor": m.actor,
            }
            for m, code in rows
        ]


MAX_AVAILABILITY_SKUS = 100


def availability(store: Store, merchant: str, skus: list[str]) -> dict[str, Any]:
    """What a channel can still sell of each SKU, over every active warehouse: on hand, reserved
    and available (on hand minus reserved), for one merchant's SKUs."""
    if not skus:
        raise InvalidInput("name at least one SKU", field="sku")
    if len(skus) > MAX_AVAILABILITY_SKUS:
        raise InvalidInput(f"ask for at most {MAX_AVAILABILITY_SKUS} SKUs at a time", field="sku")
    wanted = list(dict.fromkeys(skus))
    with store.read() as session:
        owner = merchant_by_code(session, merchant)
        if access.merchant_scope() not in (None, owner.id):
            raise NotFound(f"merchant {merchant!r} does not exist", field="merchant")
        access.require("stock.read", merchant_id=owner.id)
        known = dict(session.execute(select(Product.sku, Product.id).where(
            Product.merchant_id == owner.id, Product.sku.in_(wanted))).all())
        missing = [s for s in wanted if s not in known]
        if missing:
            raise NotFound(f"not in merchant {merchant}'s catalog: {', '.join(missing[:10])}", field="sku")
        totals = {pid: (0, 0) for pid in known.values()}
        for pid, on_hand, reserved in session.execute(
            select(StockLevel.product_id, func.sum(StockLevel.on_hand), func.sum(StockLevel.reserved))
            .join(Warehouse, Warehouse.id == StockLevel.warehouse_id)
            .where(StockLevel.product_id.in_(list(known.values())), Warehouse.active.is_(True))
            .group_by(StockLevel.product_id)
        ):
            totals[pid] = (int(on_hand or 0), int(reserved or 0))
    return {"merchant": merchant, "items": [
        {"sku": s, "on_hand": totals[known[s]][0], "reserved": totals[known[s]][1],
         "available": totals[known[s]][0] - totals[known[s]][1]} for s in wanted]}
