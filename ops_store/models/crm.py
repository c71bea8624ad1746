"""Customer relationship: communication log, support tickets, reviews and surveys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ops_store.models.base import Base, created_at_column, id_column, updated_at_column
from ops_store.types import UTCDateTime

TICKET_STATUSES = ("new", "open", "pending", "resolved", "closed")
TICKET_PRIORITIES = ("low", "normal", "high", "urgent")


class Communication(Base):
    __tablename__ = "communications"
    __table_args__ = (
        CheckConstraint("direction IN ('inbound','outbound')", name="direction_known"),
        CheckConstraint("channel IN ('email','call','chat','sms')", name="channel_known"),
    )

    id: Mapped[int] = id_column()
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    direction: Mapped[str] = mapped_column(String(10))
    channel: Mapped[str] = mapped_column(String(10))
    subject: Mapped[str | None] = mapped_column(String(200))
    summary: Mapped[str | None] = mapped_column(Text)
    agent: Mapped[str | None] = mapped_column(String(100))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = created_at_column()


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        CheckConstraint("status IN ('new','open','pending','resolved','closed')", name="status_known"),
        CheckConstraint("priority IN ('low','normal','high','urgent')", name="priority_known"),
        CheckConstraint("satisfaction IS NULL OR (satisfaction BETWEEN 1 AND 5)", name="satisfaction_range"),
    )

    id: Mapped[int] = id_column()
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchants.id"), index=True)
    category: Mapped[str] = mapped_column(String(50))
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    status: Mapped[str] = mapped_column(String(10), default="new")
    subject: Mapped[str] = mapped_column(String(200))
    assignee: Mapped[str | None] = mapped_column(String(100))
    first_response_due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolution_due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    satisfaction: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class TicketMessage(Base):
    __tablename__ = "ticket_messages"
    __table_args__ = (CheckConstraint("author_kind IN ('customer','agent')", name="author_kind_known"),)

    id: Mapped[int] = id_column()
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    author_kind: Mapped[str] = mapped_column(String(10))
    author: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()


class Review(Base):
    __tablename__ = "reviews"
    __table_args__ = (
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
        UniqueConstraint("customer_id", "product_id"),  # one review per customer and product
    )

    id: Mapped[int] = id_column()
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    rating: Mapped[int] = mapped_column(Integer)
    text: Mapped[str | None] = mapped_column(Text)
    verified_purchase: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class SurveyResponse(Base):
    __tablename__ = "survey_responses"
    __table_args__ = (
        CheckConstraint("kind IN ('nps','csat')", name="kind_known"),
        CheckConstraint(
            "(kind = 'nps' AND score BETWEEN 0 AND 10) OR (kind = 'csat' AND score BETWEEN 1 AND 5)",
            name="score_range",
        ),
    )

    id: Mapped[int] = id_column()
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(5))
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    created_at: Mapped[datetime] = created_at_column()
