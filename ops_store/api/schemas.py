"""The API's request and response bodies (the OpenAPI description is generated from them).

Money is a decimal string ("59.90") in the order's currency; times are ISO 8601 in UTC."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

Money = Decimal
MAX_ID = 2**63 - 1  # ids are BIGINT identities (a 64-bit INTEGER on SQLite): a larger one cannot be bound
ResourceId = Annotated[int, Path(ge=1, le=MAX_ID)]


class _In(BaseModel):
    # strict: the JSON types the description documents (no 0 for false, no "5" for 5)
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)


class _Out(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


# ----------------------------------------------------------------------------------------- orders


class Allocation(_Out):
    warehouse: str
    qty: int
    status: str


class OrderLineOut(_Out):
    line_no: int
    sku: str
    qty: int
    unit_price: Money
    discount: Money
    line_total: Money
    qty_shipped: int
    allocations: list[Allocation]


class PaymentSummary(_Out):
    method: str
    status: str
    amount: Money
    captured: Money
    refunded: Money
    brand: str | None = None
    last4: str | None = None
    failure_reason: str | None = None


class ShipmentSummary(_Out):
    shipment_id: int
    warehouse: str
    tracking_number: str
    status: str
    promised_on: date | None = None
    delivered_at: datetime | None = None


class OrderEventOut(_Out):
    at: datetime
    from_: str | None = Field(default=None, alias="from")
    to: str
    actor: str
    note: str | None = None


class OrderOut(_Out):
    order_id: int
    status: str
    merchant: str | None
    channel: str
    channel_order_ref: str
    customer_ref: str | None
    currency: str
    subtotal: Money
    discount: Money
    shipping: Money
    tax: Money
    total: Money
    delivery_option: str | None
    coupon: str | None = None
    campaign: str | None = None
    points_redeemed: int
    promised_on: date | None
    placed_at: datetime
    lines: list[OrderLineOut]
    payment: PaymentSummary | None
    shipments: list[ShipmentSummary]
    events: list[OrderEventOut]
    replayed: bool = Field(default=False, description="true when this answers a retry of an order already placed")


class OrderSummary(_Out):
    order_id: int
    status: str
    merchant: str
    customer_ref: str
    channel: str
    channel_order_ref: str
    total: Money
    currency: str
    placed_at: datetime


class OrderPage(_Out):
    items: list[OrderSummary]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class CancelIn(_In):
    reason: str | None = Field(default=None, max_length=300)  # kept as the order event's note (300)


# ------------------------------------------------------------------------------------------ stock


class StockItem(_Out):
    sku: str
    available: int = Field(description="units that can be sold now: on hand minus reserved, all warehouses")
    on_hand: int
    reserved: int


class StockOut(_Out):
    merchant: str
    items: list[StockItem]


# ---------------------------------------------------------------------------------------- returns


class ReturnIn(_In):
    sku: str = Field(min_length=1, max_length=64)
    qty: int = Field(gt=0, le=100_000)
    reason: str = Field(min_length=1, max_length=200)  # the return's reason column holds 200


class ReturnOut(_Out):
    return_id: int
    order_id: int
    sku: str | None
    qty: int
    reason: str
    status: str
    received_qty: int | None = None
    condition: str | None = None
    disposition: str | None = None
    refund_amount: Money | None = None
    created_at: datetime


# -------------------------------------------------------------------------------------- customers


class CustomerIn(_In):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    customer_ref: str | None = Field(default=None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$")
    region: str | None = Field(default=None, max_length=100)
    country: str | None = Field(default=None, min_length=2, max_length=2)
    preferred_categories: list[str] | None = Field(default=None, max_length=50)
    street: str | None = Field(default=None, max_length=200)
    city: str | None = Field(default=None, max_length=100)
    postal_code: str | None = Field(default=None, max_length=20)
    consent_email: bool | None = None
    consent_sms: bool | None = None


class CustomerPatch(_In):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    email: str | None = Field(default=None, min_length=3, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    region: str | None = Field(default=None, max_length=100)
    country: str | None = Field(default=None, min_length=2, max_length=2)
    preferred_categories: list[str] | None = Field(default=None, max_length=50)


class Consent(_Out):
    granted: bool
    at: datetime | None = None
    source: str | None = None


class AddressOut(_Out):
    kind: str
    street: str | None
    city: str | None
    postal_code: str | None
    region: str | None
    country: str | None
    is_default: bool


class CustomerOut(_Out):
    """Personal data is masked (``masked: true``) unless the key holds the ``pii.read`` scope."""

    customer_ref: str
    name: str | None
    email: str | None
    phone: str | None
    masked: bool
    region: str | None
    country: str | None
    preferred_categories: list[str]
    consents: dict[str, Consent]
    addresses: list[AddressOut]
    created_at: datetime
    erased: bool


# ---------------------------------------------------------------------------------------- tickets


class TicketIn(_In):
    customer_ref: str = Field(min_length=1, max_length=100)
    order_id: int | None = Field(default=None, gt=0, le=MAX_ID)
    category: str = Field(min_length=1, max_length=50)
    subject: str = Field(min_length=1, max_length=200)
    message: str = Field(min_length=1, max_length=10_000)
    priority: Literal["low", "normal", "high", "urgent"] = "normal"


class TicketMessageIn(_In):
    body: str = Field(min_length=1, max_length=10_000)


class TicketMessageOut(_Out):
    at: datetime
    author_kind: str
    body: str


class TicketOut(_Out):
    ticket_id: int
    status: str
    priority: str
    category: str
    subject: str
    order_id: int | None
    created_at: datetime
    first_response_due_at: datetime
    first_response_at: datetime | None
    resolution_due_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None
    messages: list[TicketMessageOut]


# --------------------------------------------------------------------------------------- webhooks


class WebhookResult(_Out):
    event_id: str
    outcome: Literal["applied", "ignored", "duplicate"]
    note: str | None = None
    order_id: int | None = None
    shipment_id: int | None = None


# ----------------------------------------------------------------------------------------- health


class Health(_Out):
    status: Literal["ok"]


class Readiness(_Out):
    status: Literal["ready", "not_ready"]
    database: str
    schema_revision: str | None
    expected_revision: str | None
