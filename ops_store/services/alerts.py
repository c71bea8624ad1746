"""Low-stock alerts: opened once when available stock falls to the reorder point, resolved when
it rises above it again. Evaluated inside the unit of work that changed the stock."""

from __future__ import annotations

import math

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ops_store.models import PurchaseOrder, PurchaseOrderLine, ReplenishmentPolicy, StockAlert, StockLevel
from ops_store.types import utcnow

OPEN_PO_STATUSES = ("open", "partially_received")


def on_order(session: Session, product_id: int, warehouse_id: int) -> int:
    """Units ordered from suppliers and not yet received, for this product and warehouse."""
    return int(
        session.scalar(
            select(func.coalesce(func.sum(PurchaseOrderLine.qty_ordered - PurchaseOrderLine.qty_received), 0))
            .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.purchase_order_id)
            .where(
                PurchaseOrderLine.product_id == product_id,
                PurchaseOrder.warehouse_id == warehouse_id,
                PurchaseOrder.status.in_(OPEN_PO_STATUSES),
            )
        )
    )


def suggested_quantity(policy: ReplenishmentPolicy, level: StockLevel, units_on_order: int) -> int:
    """reorder point + reorder quantity (demand over the review period, until forecasts exist)
    - (on hand + on order - reserved), never below zero, rounded up to the order multiple."""
    need = policy.reorder_point + policy.reorder_qty - (level.on_hand + units_on_order - level.reserved)
    if need <= 0:
        return 0
    return math.ceil(need / policy.order_multiple) * policy.order_multiple


def evaluate(session: Session, level: StockLevel) -> StockAlert | None:
    """Open or resolve the alert for this balance row. Returns the alert it opened, if any."""
    policy = session.get(ReplenishmentPolicy, (level.product_id, level.warehouse_id))
    if policy is None:
        return None
    available = level.on_hand - level.reserved
    open_alert = session.scalar(
        select(StockAlert).where(
            StockAlert.product_id == level.product_id,
            StockAlert.warehouse_id == level.warehouse_id,
            StockAlert.status == "open",
        )
    )
    if available <= policy.reorder_point:
        if open_alert is not None:
            return None
        alert = StockAlert(
            product_id=level.product_id,
            warehouse_id=level.warehouse_id,
            status="open",
            available_at_open=available,
            reorder_point=policy.reorder_point,
            suggested_qty=suggested_quantity(
                policy, level, on_order(session, level.product_id, level.warehouse_id)
            ),
        )
        session.add(alert)
        session.flush()
        return alert
    if open_alert is not None:
        open_alert.status = "resolved"
        open_alert.resolved_at = utcnow()
    return None
