"""Loyalty: the points ledger, accounts with a balance that never goes negative, member tiers."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ops_store.models.base import Base, created_at_column, id_column, updated_at_column
from ops_store.types import ExactDecimal, Money, UTCDateTime


class LoyaltyProgramme(Base):
    """The programme's rules (one row): points earned per unit of net spend, the value of a point
    when redeemed, and how long points live."""

    __tablename__ = "loyalty_programme"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    points_per_unit: Mapped[Decimal] = mapped_column(ExactDecimal(8, 4), default=Decimal("1"))
    point_value: Mapped[Decimal] = mapped_column(ExactDecimal(8, 4), default=Decimal("0.01"))
    expiry_days: Mapped[int] = mapped_column(Integer, default=365)
    updated_at: Mapped[datetime] = updated_at_column()


class LoyaltyTier(Base):
    __tablename__ = "loyalty_tiers"

    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    rank: Mapped[int] = mapped_column(Integer, unique=True)
    min_spend_12m: Mapped[Decimal] = mapped_column(Money())
    points_multiplier: Mapped[Decimal] = mapped_column(ExactDecimal(6, 2), default=Decimal("1"))
    free_shipping: Mapped[bool] = mapped_column(Boolean, default=False)


class LoyaltyAccount(Base):
    """Maintained balance (equals the ledger sum; tests prove it) and the row locked by redemptions."""

    __tablename__ = "loyalty_accounts"
    __table_args__ = (CheckConstraint("balance >= 0", name="balance_not_negative"),)

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    balance: Mapped[int] = mapped_column(Integer, default=0)
    tier: Mapped[str | None] = mapped_column(ForeignKey("loyalty_tiers.code"))
    updated_at: Mapped[datetime] = updated_at_column()


class LoyaltyEntry(Base):
    """One change of a customer's points. Earned points keep ``remaining`` for first-in, first-out
    redemption and expiry."""

    __tablename__ = "loyalty_entries"
    __table_args__ = (
        CheckConstraint("kind IN ('earn','redeem','expire','reverse','adjust')", name="kind_known"),
        CheckConstraint("points <> 0", name="points_not_zero"),
        CheckConstraint("remaining >= 0", name="remaining_not_negative"),
    )

    id: Mapped[int] = id_column()
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    points: Mapped[int] = mapped_column(Integer)
    remaining: Mapped[int] = mapped_column(Integer, default=0)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    expires_on: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = created_at_column()


class TierChange(Base):
    __tablename__ = "loyalty_tier_changes"

    id: Mapped[int] = id_column()
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    from_tier: Mapped[str | None] = mapped_column(String(20))
    to_tier: Mapped[str | None] = mapped_column(String(20))
    spend_12m: Mapped[Decimal] = mapped_column(Money())
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
