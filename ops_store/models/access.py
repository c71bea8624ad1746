"""Users, API clients and the append-only audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ops_store.models.base import Base, created_at_column, id_column, updated_at_column
from ops_store.types import UTCDateTime

ROLES = ("admin", "merchant", "analyst", "support", "engineer")


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('admin','merchant','analyst','support','engineer')", name="role_known"),
        CheckConstraint("role <> 'merchant' OR merchant_id IS NOT NULL", name="merchant_role_bound"),
    )

    id: Mapped[int] = id_column()
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(10))
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchants.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class ApiClient(Base):
    """A channel's or merchant's API key. Only a hash of the key is kept; the prefix finds the row."""

    __tablename__ = "api_clients"

    id: Mapped[int] = id_column()
    name: Mapped[str] = mapped_column(String(100))
    key_prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(20))
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchants.id"))
    scopes: Mapped[str] = mapped_column(Text)  # space-separated
    rate_limit_per_minute: Mapped[int | None] = mapped_column(Integer)  # None: ECOM_API_RATE_LIMIT
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = created_at_column()
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = updated_at_column()


class AuditEntry(Base):
    """Sensitive actions. Append-only: database triggers refuse UPDATE and DELETE."""

    __tablename__ = "audit_log"

    id: Mapped[int] = id_column()
    at: Mapped[datetime] = created_at_column()
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(50), index=True)
    target_type: Mapped[str | None] = mapped_column(String(30))
    target_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[str | None] = mapped_column(Text)  # JSON, never personal data in clear
