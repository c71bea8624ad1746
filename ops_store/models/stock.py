"""The stock ledger, balances, reservations, replenishment and stock counts."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ops_store.models.base import Base, IdType, created_at_column, id_column, updated_at_column
from ops_store.types import Money, UnitCost, UTCDateTime

MOVEMENT_KINDS = ("receipt", "sale", "return", "adjustment", "transfer_out", "transfer_in", "count_correction")


class StockMovement(Base):
    """One change of stock. Append-only: on-hand is the sum of these rows."""

    __tablename__ = "stock_movements"
    __table_args__ = (
        CheckConstraint("quantity <> 0", name="quantity_not_zero"),
        CheckConstraint(
            "kind IN ('receipt','sale','return','adjustment','transfer_out','transfer_in','count_correction')",
            name="kind_known",
        ),
        Index("ix_stock_movements_product_warehouse", "product_id", "warehouse_id"),
    )

    id: Mapped[int] = id_column()
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"))
    kind: Mapped[str] = mapped_column(String(20))
    quantity: Mapped[int] = mapped_column(Integer)  # signed: + in, - out
    unit_cost: Mapped[Decimal] = mapped_column(UnitCost())
    reason: Mapped[str | None] = mapped_column(String(200))
    ref_type: Mapped[str | None] = mapped_column(String(30))  # order_line, purchase_order, count, return...
    ref_id: Mapped[int | None] = mapped_column(IdType)
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = created_at_column()


class StockLevel(Base):
    """Maintained balance per product and warehouse (equals the ledger sum; tests prove it).

    This row is also the lock that serialises stock decisions for one product in one warehouse."""

    __tablename__ = "stock_levels"
    __table_args__ = (
        CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        CheckConstraint("reserved <= on_hand", name="reserved_within_on_hand"),
    )

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"), primary_key=True)
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = updated_at_column()


class StockValuation(Base):
    """Weighted average unit cost per product (all warehouses). Stock value = on hand x this."""

    __tablename__ = "stock_valuations"

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    avg_unit_cost: Mapped[Decimal] = mapped_column(UnitCost(), default=Decimal("0"))
    updated_at: Mapped[datetime] = updated_at_column()


class Reservation(Base):
    __tablename__ = "reservations"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("status IN ('active','released','consumed')", name="status_known"),
    )

    id: Mapped[int] = id_column()
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10), default="active")
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class ReplenishmentPolicy(Base):
    __tablename__ = "replenishment_policies"
    __table_args__ = (
        CheckConstraint("safety_stock >= 0 AND reorder_point >= 0", name="levels_not_negative"),
        CheckConstraint("reorder_qty > 0 AND order_multiple > 0", name="quantities_positive"),
    )

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"), primary_key=True)
    safety_stock: Mapped[int] = mapped_column(Integer, default=0)
    reorder_point: Mapped[int] = mapped_column(Integer)
    reorder_qty: Mapped[int] = mapped_column(Integer)
    order_multiple: Mapped[int] = mapped_column(Integer, default=1)
    lead_time_days: Mapped[int] = mapped_column(Integer, default=7)
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id"))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class StockAlert(Base):
    """Low-stock alert. At most one open alert per product and warehouse (partial unique index)."""

    __tablename__ = "stock_alerts"
    __table_args__ = (
        CheckConstraint("status IN ('open','resolved')", name="status_known"),
        Index(
            "uq_stock_alerts_one_open",
            "product_id",
            "warehouse_id",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
    )

    id: Mapped[int] = id_column()
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"))
    status: Mapped[str] = mapped_column(String(10), default="open")
    available_at_open: Mapped[int] = mapped_column(Integer)
    reorder_point: Mapped[int] = mapped_column(Integer)
    suggested_qty: Mapped[int] = mapped_column(Integer)
    opened_at: Mapped[datetime] = created_at_column()
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = updated_at_column()


class PurchaseOrder(Base):
    __tablename__ = "purchase_orders"
    __table_args__ = (
        CheckConstraint(
            "status IN ('open','partially_received','received','cancelled')", name="status_known"
        ),
    )

    id: Mapped[int] = id_column()
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"))
    status: Mapped[str] = mapped_column(String(20), default="open")
    expected_on: Mapped[date] = mapped_column(Date)
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class PurchaseOrderLine(Base):
    __tablename__ = "purchase_order_lines"
    __table_args__ = (
        UniqueConstraint("purchase_order_id", "product_id"),
        CheckConstraint("qty_ordered > 0", name="ordered_positive"),
        CheckConstraint("qty_received >= 0 AND qty_received <= qty_ordered", name="received_within_ordered"),
    )

    id: Mapped[int] = id_column()
    purchase_order_id: Mapped[int] = mapped_column(ForeignKey("purchase_orders.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    qty_ordered: Mapped[int] = mapped_column(Integer)
    qty_received: Mapped[int] = mapped_column(Integer, default=0)
    unit_cost: Mapped[Decimal] = mapped_column(UnitCost())
    updated_at: Mapped[datetime] = updated_at_column()


class StockCount(Base):
    __tablename__ = "stock_counts"
    __table_args__ = (CheckConstraint("status IN ('open','posted','cancelled')", name="status_known"),)

    id: Mapped[int] = id_column()
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"))
    status: Mapped[str] = mapped_column(String(10), default="open")
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = created_at_column()
    posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = updated_at_column()


class StockCountLine(Base):
    __tablename__ = "stock_count_lines"
    __table_args__ = (
        UniqueConstraint("stock_count_id", "product_id"),
        CheckConstraint("counted_qty IS NULL OR counted_qty >= 0", name="counted_not_negative"),
    )

    id: Mapped[int] = id_column()
    stock_count_id: Mapped[int] = mapped_column(ForeignKey("stock_counts.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    counted_qty: Mapped[int | None] = mapped_column(Integer)
    # Filled when the count is posted (expected = on hand at that moment).
    expected_qty: Mapped[int | None] = mapped_column(Integer)
    variance_qty: Mapped[int | None] = mapped_column(Integer)
    unit_cost: Mapped[Decimal | None] = mapped_column(UnitCost())
    variance_value: Mapped[Decimal | None] = mapped_column(Money())
    updated_at: Mapped[datetime] = updated_at_column()
