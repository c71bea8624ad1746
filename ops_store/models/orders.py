"""Orders, their lines and the event trail of every status change."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ops_store.models.base import Base, created_at_column, id_column, updated_at_column
from ops_store.types import Money, UnitCost

CHANNELS = ("web", "mobile_app", "marketplace", "phone")
ORDER_STATUSES = (
    "placed", "paid", "allocated", "shipped", "delivered", "completed", "cancelled", "returned", "refunded",
)


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("channel", "channel_order_ref"),
        CheckConstraint("channel IN ('web','mobile_app','marketplace','phone')", name="channel_known"),
        CheckConstraint("total = subtotal - discount + shipping + tax", name="total_adds_up"),
    )

    id: Mapped[int] = id_column()
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    channel_order_ref: Mapped[str] = mapped_column(String(100))
    # SHA-256 of the canonical order document: tells a replay from a conflicting reuse of the ref.
    payload_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="placed", index=True)
    currency: Mapped[str] = mapped_column(String(3))
    subtotal: Mapped[Decimal] = mapped_column(Money())
    discount: Mapped[Decimal] = mapped_column(Money())
    shipping: Mapped[Decimal] = mapped_column(Money())
    tax: Mapped[Decimal] = mapped_column(Money())
    total: Mapped[Decimal] = mapped_column(Money())
    delivery_option_id: Mapped[int] = mapped_column(ForeignKey("delivery_options.id"))
    # Marketing attribution: the coupon applied (if any) and its campaign; loyalty points redeemed.
    coupon_id: Mapped[int | None] = mapped_column(ForeignKey("coupons.id"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"), index=True)
    points_redeemed: Mapped[int] = mapped_column(Integer, default=0)
    promised_on: Mapped[date] = mapped_column(Date)
    placed_at: Mapped[datetime] = created_at_column()
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class OrderLine(Base):
    __tablename__ = "order_lines"
    __table_args__ = (
        UniqueConstraint("order_id", "line_no"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[int] = id_column()
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    line_no: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    sku: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(Money())
    discount: Mapped[Decimal] = mapped_column(Money())  # this line's share of the order discount
    line_total: Mapped[Decimal] = mapped_column(Money())  # quantity x unit_price - discount
    # Weighted average unit cost when the goods left the warehouse (COGS basis); set on shipping.
    unit_cost: Mapped[Decimal | None] = mapped_column(UnitCost())
    updated_at: Mapped[datetime] = updated_at_column()


class OrderEvent(Base):
    """Every status change of an order: who, when, from, to."""

    __tablename__ = "order_events"

    id: Mapped[int] = id_column()
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = created_at_column()
