"""Payments and the trail of every call to the payment provider.

No card number or security code is ever stored: only the provider's token, the brand and the
last four digits."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ops_store.models.base import Base, created_at_column, id_column, updated_at_column
from ops_store.types import Money

PAYMENT_METHODS = ("card", "e_wallet", "bank_transfer", "cash_on_delivery")
PAYMENT_STATUSES = (
    "pending", "authorized", "captured", "partially_refunded", "refunded", "failed", "voided",
)


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint(
            "method IN ('card','e_wallet','bank_transfer','cash_on_delivery')", name="method_known"
        ),
        CheckConstraint("captured_amount <= amount", name="capture_within_amount"),
        CheckConstraint("refunded_amount <= captured_amount", name="refund_within_capture"),
    )

    id: Mapped[int] = id_column()
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), unique=True)
    method: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    amount: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))
    captured_amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"))
    refunded_amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"))
    provider: Mapped[str] = mapped_column(String(30))
    provider_token: Mapped[str | None] = mapped_column(String(200))
    provider_ref: Mapped[str | None] = mapped_column(String(100))  # the provider's payment id
    card_brand: Mapped[str | None] = mapped_column(String(20))
    card_last4: Mapped[str | None] = mapped_column(String(4))
    failure_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class PaymentTransaction(Base):
    """One attempt against the provider (authorize, capture, refund, void), with its outcome."""

    __tablename__ = "payment_transactions"
    __table_args__ = (
        CheckConstraint("kind IN ('authorize','capture','sale','refund','void')", name="kind_known"),
        CheckConstraint("outcome IN ('approved','declined','error')", name="outcome_known"),
    )

    id: Mapped[int] = id_column()
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    amount: Mapped[Decimal] = mapped_column(Money())
    outcome: Mapped[str] = mapped_column(String(10))
    from_status: Mapped[str] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    provider_ref: Mapped[str | None] = mapped_column(String(100))
    message: Mapped[str | None] = mapped_column(String(200))
    # What the call was for (e.g. "return:12"): a retried refund with the same reference is not paid twice.
    reference: Mapped[str | None] = mapped_column(String(60), index=True)
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = created_at_column()
