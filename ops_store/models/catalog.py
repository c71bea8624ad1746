"""Merchants, warehouses, products and suppliers."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ops_store.models.base import Base, created_at_column, id_column, updated_at_column
from ops_store.types import ExactDecimal, Money, UnitCost


class Merchant(Base):
    __tablename__ = "merchants"

    id: Mapped[int] = id_column()
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    # Sales tax on goods, as a fraction (0.0800 = 8%). Prices in the catalog exclude tax.
    tax_rate: Mapped[Decimal] = mapped_column(ExactDecimal(6, 4), default=Decimal("0"))
    preferred_warehouse_id: Mapped[int | None] = mapped_column(ForeignKey("warehouses.id"))
    # Where reports and stock alerts go (docs/reports.md): the language of the merchant's reports
    # ('en' or 'zh'), a business mailbox, and a webhook whose requests are signed with a secret
    # kept encrypted like personal data.
    locale: Mapped[str] = mapped_column(String(10), default="en", server_default="en")
    notify_email: Mapped[str | None] = mapped_column(String(320))
    webhook_url: Mapped[str | None] = mapped_column(String(2000))
    webhook_secret_enc: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class Warehouse(Base):
    __tablename__ = "warehouses"

    id: Mapped[int] = id_column()
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # Lower number = tried earlier by the allocation rule (docs/allocation.md).
    priority: Mapped[int] = mapped_column(Integer, default=100)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        UniqueConstraint("merchant_id", "sku"),
        CheckConstraint("price >= 0", name="price_not_negative"),
        CheckConstraint("unit_cost >= 0", name="cost_not_negative"),
    )

    id: Mapped[int] = id_column()
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(300))
    category: Mapped[str] = mapped_column(String(100), default="uncategorised")
    price: Mapped[Decimal] = mapped_column(Money())
    # Standard (list) cost from the catalog; stock is valued at weighted average cost.
    unit_cost: Mapped[Decimal] = mapped_column(UnitCost())
    currency: Mapped[str] = mapped_column(String(3))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class Supplier(Base):
    __tablename__ = "suppliers"
    __table_args__ = (UniqueConstraint("merchant_id", "code"),)

    id: Mapped[int] = id_column()
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    lead_time_days: Mapped[int] = mapped_column(Integer, default=7)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
