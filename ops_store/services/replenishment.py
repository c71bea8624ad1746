"""Replenishment: policies per SKU and warehouse, low-stock alerts, purchase orders and receipts."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ops_store.db import Store
from ops_store.errors import IllegalTransition, InvalidInput
from ops_store.models import (
    Merchant,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    ReplenishmentPolicy,
    StockAlert,
    Supplier,
    Warehouse,
)
from ops_store.security import access
from ops_store.services import alerts
from ops_store.services.common import (
    SYSTEM_ACTOR,
    get_or_404,
    merchant_by_code,
    parse_decimal,
    parse_positive_int,
    product_by_sku,
    supplier_by_code,
    warehouse_by_code,
)
from ops_store.services.ledger import lock_levels, lock_valuations, post_movement
from ops_store.types import utcnow


def set_policy(
    store: Store, sku: str, warehouse: str, *, reorder_point: Any, reorder_qty: Any, safety_stock: Any = 0,
    order_multiple: Any = 1, lead_time_days: Any = 7, supplier: str | None = None, merchant: str | None = None,
) -> dict[str, Any]:
    """Create or change the policy; the alert is evaluated at once against current stock."""
    rp = parse_positive_int(reorder_point, "reorder_point", allow_zero=True)
    rq = parse_positive_int(reorder_qty, "reorder_qty")
    ss = parse_positive_int(safety_stock, "safety_stock", allow_zero=True)
    om = parse_positive_int(order_multiple, "order_multiple")
    lt = parse_positive_int(lead_time_days, "lead_time_days", allow_zero=True)
    if ss > rp:
        raise InvalidInput("safety_stock cannot exceed the reorder point", field="safety_stock")

    def work(session: Session) -> dict[str, Any]:
        product = product_by_sku(session, sku, merchant)
        access.require("stock.write", merchant_id=product.merchant_id)
        wh = warehouse_by_code(session, warehouse)
        supplier_id = supplier_by_code(session, product.merchant_id, supplier).id if supplier else None
        level = lock_levels(session, [(product.id, wh.id)])[(product.id, wh.id)]
        policy = session.get(ReplenishmentPolicy, (product.id, wh.id))
        if policy is None:
            policy = ReplenishmentPolicy(product_id=product.id, warehouse_id=wh.id)
            session.add(policy)
        policy.reorder_point, policy.reorder_qty, policy.safety_stock = rp, rq, ss
        policy.order_multiple, policy.lead_time_days, policy.supplier_id = om, lt, supplier_id
        session.flush()
        alerts.evaluate(session, level)
        return {"sku": sku, "warehouse": warehouse, "reorder_point": rp, "reorder_qty": rq, "safety_stock": ss,
                "order_multiple": om, "lead_time_days": lt, "supplier": supplier}

    return store.run_write(work)


def list_alerts(store: Store, *, status: str | None = "open", merchant: str | None = None) -> list[dict[str, Any]]:
    access.require("stock.read")
    with store.read() as session:
        query = (
            select(StockAlert, Product.sku, Warehouse.code, Merchant.code)
            .join(Product, Product.id == StockAlert.product_id)
            .join(Warehouse, Warehouse.id == StockAlert.warehouse_id)
            .join(Merchant, Merchant.id == Product.merchant_id)
        )
        if status:
            query = query.where(StockAlert.status == status)
        if merchant:
            query = query.where(Merchant.code == merchant)
        if access.merchant_scope() is not None:
            query = query.where(Merchant.id == access.merchant_scope())
        rows = session.execute(query.order_by(StockAlert.id))
        return [
            {"alert_id": a.id, "merchant": m, "sku": sku, "warehouse": wh, "status": a.status,
             "available_at_open": a.available_at_open, "reorder_point": a.reorder_point,
             "suggested_qty": a.suggested_qty, "opened_at": a.opened_at, "resolved_at": a.resolved_at}
            for a, sku, wh, m in rows
        ]


def create_purchase_order(
    store: Store, merchant: str, supplier: str, warehouse: str, lines: list[tuple[str, Any, Any]], *,
    expected_on: date | None = None, actor: str = SYSTEM_ACTOR,
) -> dict[str, Any]:
    """``lines``: (sku, qty, unit cost or None for the catalog cost). The expected date defaults to
    today plus the supplier's lead time."""
    if not lines:
        raise InvalidInput("a purchase order needs at least one line", field="lines")

    def work(session: Session) -> int:
        m = merchant_by_code(session, merchant)
        access.require("stock.write", merchant_id=m.id)
        sup = supplier_by_code(session, m.id, supplier)
        wh = warehouse_by_code(session, warehouse)
        po = PurchaseOrder(merchant_id=m.id, supplier_id=sup.id, warehouse_id=wh.id, status="open",
                           expected_on=expected_on or (utcnow().date() + timedelta(days=sup.lead_time_days)),
                           actor=actor)
        session.add(po)
        session.flush()
        seen: set[str] = set()
        for i, (sku, qty, cost) in enumerate(lines):
            if sku in seen:
                raise InvalidInput(f"lines[{i}]: SKU {sku!r} appears twice", field=f"lines[{i}].sku")
            seen.add(sku)
            product = product_by_sku(session, sku, merchant)
            session.add(PurchaseOrderLine(
                purchase_order_id=po.id, product_id=product.id,
                qty_ordered=parse_positive_int(qty, f"lines[{i}].qty"), qty_received=0,
                unit_cost=product.unit_cost if cost is None else parse_decimal(cost, f"lines[{i}].unit_cost", places=4),
            ))
        return po.id

    return purchase_order_view(store, store.run_write(work))


def receive_purchase_order(
    store: Store, po_id: int, received: dict[str, Any] | None = None, *, actor: str = SYSTEM_ACTOR,
) -> dict[str, Any]:
    """Receive all that is outstanding, or ``received`` = {sku: qty} for a partial delivery. Each
    received line posts a receipt at the purchase price; alerts resolve when stock recovers."""

    def work(session: Session) -> None:
        po = get_or_404(session, PurchaseOrder, po_id, "purchase order", lock=True)
        access.require("stock.write", merchant_id=po.merchant_id)
        if po.status not in ("open", "partially_received"):
            raise IllegalTransition(f"purchase order {po_id} is {po.status}", field="status")
        lines = list(session.scalars(select(PurchaseOrderLine).where(PurchaseOrderLine.purchase_order_id == po.id)))
        skus = dict(session.execute(select(Product.id, Product.sku).where(
            Product.id.in_([ln.product_id for ln in lines]))).all())
        wanted: dict[int, int] = {}
        if received is None:
            wanted = {ln.id: ln.qty_ordered - ln.qty_received for ln in lines}
        else:
            by_sku = {skus[ln.product_id]: ln for ln in lines}
            for sku, qty in received.items():
                if sku not in by_sku:
                    raise InvalidInput(f"SKU {sku!r} is not on purchase order {po_id}", field="sku")
                wanted[by_sku[sku].id] = parse_positive_int(qty, f"{sku}.qty")
        for ln in lines:
            qty = wanted.get(ln.id, 0)
            if qty > ln.qty_ordered - ln.qty_received:
                raise InvalidInput(
                    f"{skus[ln.product_id]}: {qty} received but only {ln.qty_ordered - ln.qty_received} outstanding",
                    field="qty",
                )
        todo = [ln for ln in lines if wanted.get(ln.id, 0) > 0]
        valuations = lock_valuations(session, [ln.product_id for ln in todo])
        levels = lock_levels(session, [(ln.product_id, po.warehouse_id) for ln in todo])
        for ln in sorted(todo, key=lambda x: x.product_id):
            qty = wanted[ln.id]
            ln.qty_received += qty  # before posting, so "on order" in the alert check is current
            session.flush()
            post_movement(
                session, level=levels[(ln.product_id, po.warehouse_id)], valuation=valuations[ln.product_id],
                kind="receipt", quantity=qty, unit_cost=ln.unit_cost, reason=f"purchase order {po.id}",
                ref_type="purchase_order", ref_id=po.id, actor=actor, sku=skus[ln.product_id],
            )
        done = all(ln.qty_received == ln.qty_ordered for ln in lines)
        po.status = "received" if done else "partially_received"

    store.run_write(work)
    return purchase_order_view(store, po_id)


def cancel_purchase_order(store: Store, po_id: int, *, actor: str = SYSTEM_ACTOR) -> dict[str, Any]:
    def work(session: Session) -> None:
        po = get_or_404(session, PurchaseOrder, po_id, "purchase order", lock=True)
        access.require("stock.write", merchant_id=po.merchant_id)
        if po.status != "open":
            raise IllegalTransition(f"purchase order {po_id} is {po.status}; only open ones can be cancelled",
                                    field="status")
        po.status = "cancelled"

    store.run_write(work)
    return purchase_order_view(store, po_id)


def purchase_order_view(store: Store, po_id: int) -> dict[str, Any]:
    with store.read() as session:
        po = get_or_404(session, PurchaseOrder, po_id, "purchase order")
        access.require("stock.read", merchant_id=po.merchant_id)
        rows = session.execute(
            select(PurchaseOrderLine, Product.sku).join(Product, Product.id == PurchaseOrderLine.product_id)
            .where(PurchaseOrderLine.purchase_order_id == po.id).order_by(Product.sku)
        )
        return {
            "purchase_order_id": po.id, "status": po.status, "expected_on": po.expected_on,
            "merchant": session.get(Merchant, po.merchant_id).code,  # type: ignore[union-attr]
            "supplier": session.get(Supplier, po.supplier_id).code,  # type: ignore[union-attr]
            "warehouse": session.get(Warehouse, po.warehouse_id).code,  # type: ignore[union-attr]
            "lines": [{"sku": sku, "qty_ordered": ln.qty_ordered, "qty_received": ln.qty_received,
                       "unit_cost": ln.unit_cost} for ln, sku in rows],
        }
