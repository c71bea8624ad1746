"""Campaigns with a held-out control group, and coupons applied to orders."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ops_store.models.base import Base, created_at_column, id_column, updated_at_column
from ops_store.types import ExactDecimal, Money, UTCDateTime


class Campaign(Base):
    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint("channel IN ('email','sms','push','ads','social')", name="channel_known"),
        CheckConstraint("ends_on >= starts_on", name="ends_after_start"),
        CheckConstraint("control_share >= 0", name="control_share_not_negative"),
    )

    id: Mapped[int] = id_column()
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchants.id"), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    budget: Mapped[Decimal] = mapped_column(Money())
    spend: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"))
    target_segment: Mapped[str | None] = mapped_column(String(50))
    control_share: Mapped[Decimal] = mapped_column(ExactDecimal(4, 3), default=Decimal("0.1"))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class CampaignMember(Base):
    """A customer assigned to a campaign, either contacted (target) or held out (control)."""

    __tablename__ = "campaign_members"
    __table_args__ = (
        UniqueConstraint("campaign_id", "customer_id"),
        CheckConstraint("grp IN ('target','control')", name="group_known"),
    )

    id: Mapped[int] = id_column()
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    grp: Mapped[str] = mapped_column(String(10))
    contacted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = created_at_column()


class Coupon(Base):
    __tablename__ = "coupons"
    __table_args__ = (
        CheckConstraint("kind IN ('percent','fixed','free_shipping')", name="kind_known"),
        CheckConstraint("value >= 0", name="value_not_negative"),
        CheckConstraint("max_uses IS NULL OR uses <= max_uses", name="uses_within_limit"),
    )

    id: Mapped[int] = id_column()
    code: Mapped[str] = mapped_column(String(40), unique=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"), index=True)
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchants.id"), index=True)
    kind: Mapped[str] = mapped_column(String(15))
    value: Mapped[Decimal] = mapped_column(Money())  # percent (10.00 = 10%) or an amount
    min_spend: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date] = mapped_column(Date)
    max_uses: Mapped[int | None] = mapped_column(Integer)
    max_uses_per_customer: Mapped[int | None] = mapped_column(Integer)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class CouponRedemption(Base):
    __tablename__ = "coupon_redemptions"

    id: Mapped[int] = id_column()
    coupon_id: Mapped[int] = mapped_column(ForeignKey("coupons.id"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    discount: Mapped[Decimal] = mapped_column(Money())
    created_at: Mapped[datetime] = created_at_column()
