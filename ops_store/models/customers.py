"""Customers of the portal, their addresses and marketing consents.

Name, email, phone and street address are stored encrypted (ops_store.security.pii); email and
phone also as keyed hashes (blind indexes) for look-ups. Region and country stay in clear: they
are coarse attributes the warehouse may hold."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ops_store.models.base import Base, IdType, created_at_column, id_column, updated_at_column
from ops_store.types import UTCDateTime


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    # The channel's own reference for the buyer (or one we issue); pseudonymous after erasure.
    customer_ref: Mapped[str] = mapped_column(String(100), unique=True)
    name_enc: Mapped[str | None] = mapped_column(Text)
    email_enc: Mapped[str | None] = mapped_column(Text)
    phone_enc: Mapped[str | None] = mapped_column(Text)
    email_bidx: Mapped[str | None] = mapped_column(String(64), index=True)
    phone_bidx: Mapped[str | None] = mapped_column(String(64), index=True)
    region: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(2))
    preferred_categories: Mapped[str | None] = mapped_column(Text)  # JSON list
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class CustomerAddress(Base):
    __tablename__ = "customer_addresses"
    __table_args__ = (CheckConstraint("kind IN ('shipping','billing')", name="kind_known"),)

    id: Mapped[int] = id_column()
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10), default="shipping")
    street_enc: Mapped[str | None] = mapped_column(Text)  # street and house number, encrypted
    city: Mapped[str | None] = mapped_column(String(100))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    region: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(2))
    is_default: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class CustomerConsent(Base):
    """Each grant or withdrawal of marketing consent; the latest row per channel is in force."""

    __tablename__ = "customer_consents"
    __table_args__ = (CheckConstraint("channel IN ('email','sms')", name="channel_known"),)

    id: Mapped[int] = id_column()
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    granted: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str | None] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = created_at_column()
