"""The outbox: every report email and stock-alert notification, kept with its delivery state.

A message is written here before it is sent, so a failed send is retried and never lost, and
its ``dedup_key`` makes sending at most once per alert opening or report and channel."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ops_store.models.base import Base, created_at_column, id_column, updated_at_column
from ops_store.types import UTCDateTime


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint("channel IN ('email','webhook')", name="channel_known"),
        CheckConstraint("status IN ('pending','sent','failed','dead')", name="status_known"),
    )

    id: Mapped[int] = id_column()
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))  # weekly_report, daily_report, stock_alert
    channel: Mapped[str] = mapped_column(String(10))
    dedup_key: Mapped[str] = mapped_column(String(200), unique=True)
    target: Mapped[str] = mapped_column(String(2000))  # mailbox or URL
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)  # the mail's text, or the webhook's JSON
    attachments: Mapped[str | None] = mapped_column(Text)  # JSON list of file paths (mail)
    status: Mapped[str] = mapped_column(String(10), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
