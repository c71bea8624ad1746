"""Requests the store refused, kept with their reason (the dead letter of the intake)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ops_store.models.base import Base, created_at_column, id_column


class RejectedRequest(Base):
    __tablename__ = "rejected_requests"

    id: Mapped[int] = id_column()
    kind: Mapped[str] = mapped_column(String(30))  # order, ...
    source: Mapped[str] = mapped_column(String(100))  # channel or actor that sent it
    reference: Mapped[str | None] = mapped_column(String(100))  # e.g. the channel order ref
    error_code: Mapped[str] = mapped_column(String(40))
    field: Mapped[str | None] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    # The request as received, with card numbers and security codes masked.
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()
