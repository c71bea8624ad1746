"""The order document channels send (docs/order-document.md), validated with field-named errors."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ops_store.errors import InvalidInput
from ops_store.payments.card_guard import check_no_card_data

Channel = Literal["web", "mobile_app", "marketplace", "phone"]
Method = Literal["card", "e_wallet", "bank_transfer", "cash_on_delivery"]
OPTIONAL_EXTRAS = ("coupon", "points")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class OrderLineIn(_Strict):
    sku: str = Field(min_length=1, max_length=64)
    qty: int = Field(gt=0, le=100_000, strict=True)


class PaymentIn(_Strict):
    method: Method
    token: str | None = Field(default=None, min_length=1, max_length=200)
    brand: str | None = Field(default=None, min_length=1, max_length=20)
    last4: str | None = Field(default=None, pattern=r"^\d{4}$")

    @model_validator(mode="after")
    def _needs(self) -> PaymentIn:
        if self.method in ("card", "e_wallet") and not self.token:
            raise ValueError(f"a {self.method} payment needs the provider's token")
        if self.method == "card" and not (self.brand and self.last4):
            raise ValueError("a card payment needs brand and last4")
        return self


class OrderDocument(_Strict):
    channel: Channel
    channel_order_ref: str = Field(min_length=1, max_length=100)
    merchant: str = Field(min_length=1, max_length=32)
    customer_ref: str = Field(min_length=1, max_length=100)
    lines: list[OrderLineIn] = Field(min_length=1, max_length=500)
    delivery_option: str = Field(min_length=1, max_length=32)
    payment: PaymentIn
    discount: str | None = Field(default=None, pattern=r"^\d{1,10}(\.\d{1,2})?$")
    placed_at: datetime | None = None
    # Optional extras (docs/loyalty-and-marketing.md); left out of the payload hash when absent, so
    # documents sent before they existed hash as they did.
    coupon: str | None = Field(default=None, min_length=1, max_length=40)
    points: int | None = Field(default=None, gt=0, le=100_000_000, strict=True)

    @field_validator("lines")
    @classmethod
    def _one_line_per_sku(cls, lines: list[OrderLineIn]) -> list[OrderLineIn]:
        seen: set[str] = set()
        for line in lines:
            if line.sku in seen:
                raise ValueError(f"SKU {line.sku!r} appears on two lines; send one line per SKU")
            seen.add(line.sku)
        return lines

    @field_validator("placed_at", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, str | datetime):
            raise ValueError("placed_at must be a date-time string such as 2026-01-31T12:00:00Z")
        return value

    @field_validator("placed_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("placed_at needs a time zone (use UTC, e.g. 2026-01-31T12:00:00Z)")
        if value is not None and not 1970 <= value.year <= 9000:
            raise ValueError("placed_at must be a real order time (years 1970 to 9000)")
        return value

    def payload_hash(self) -> str:
        body = self.model_dump(mode="json")
        for extra in OPTIONAL_EXTRAS:
            if body[extra] is None:
                del body[extra]
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def _loc(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part and not str(part).startswith("function-"):
            path += f".{part}" if path else str(part)
    return path or "document"


def parse_order_document(raw: Any) -> OrderDocument:
    """Validate a channel's order document. Card data is refused before anything else looks at it;
    errors name the field and the reason, never the value sent."""
    if not isinstance(raw, dict):
        raise InvalidInput("the order document must be a JSON object", field="document")
    check_no_card_data(raw)
    try:
        return OrderDocument.model_validate(raw)
    except ValidationError as exc:
        problems = [{"field": _loc(e["loc"]), "reason": e["msg"]} for e in exc.errors(include_input=False)]
        first = problems[0]
        raise InvalidInput(
            f"{first['field']}: {first['reason']}" + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
            field=first["field"],
            details=problems,
        ) from None
