"""What the HTTP API keeps: idempotency keys, inbound webhook events, rate-limit state and the
customers' one-time sign-in links. None of it goes to the warehouse."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ops_store.models.base import Base, IdType, created_at_column, id_column
from ops_store.types import UTCDateTime


class IdempotencyKey(Base):
    """A client's ``Idempotency-Key``: the request it first came with and the response it got.

    The row is written in the same transaction as the order it created, so a key never points at
    a half-made order; the response is stored once it is known and replayed byte for byte."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("api_client_id", "key"),)

    id: Mapped[int] = id_column()
    api_client_id: Mapped[int] = mapped_column(ForeignKey("api_clients.id"))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))  # the order document's payload hash
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class InboundEvent(Base):
    """A webhook event from a payment provider or a carrier, applied once: the row is inserted in
    the same transaction as the event's effect, and the unique key refuses a second delivery."""

    __tablename__ = "inbound_events"
    __table_args__ = (UniqueConstraint("source", "event_id"),)

    id: Mapped[int] = id_column()
    source: Mapped[str] = mapped_column(String(60))  # "payments:fake", "carrier:FASTSHIP"
    event_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(60))
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str] = mapped_column(String(20))  # applied | ignored
    note: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = created_at_column()


class ApiRateLimit(Base):
    """Per bucket ("key:<prefix>", "sign-in:<address>"), the generic cell-rate algorithm's
    theoretical arrival time in epoch seconds. One row per bucket, updated in one statement, so
    the limit holds across workers and machines."""

    __tablename__ = "api_rate_limits"

    bucket: Mapped[str] = mapped_column(String(120), primary_key=True)
    tat: Mapped[float] = mapped_column(Float)


class SignInLink(Base):
    """A one-time sign-in link for the self-service site; only a hash of its token is kept."""

    __tablename__ = "sign_in_links"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = created_at_column()
