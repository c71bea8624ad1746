"""Payment-provider webhook events, in the fake provider's format.

A real adapter turns its provider's notification into a ``ProviderEvent``; the store applies it
once (ops_store.services.payment_events). The fake's format, which the simulator and the tests
send::

    {"id": "evt_...", "type": "payment.authorized", "created_at": "2026-12-05T10:00:00Z",
     "data": {"order_id": 12, "provider_ref": "fake_...", "amount": "59.90", "currency": "EUR",
              "refund_id": null, "idempotency_key": null, "reason": null}}

signed with ``Webhook-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ops_store.errors import InvalidInput
from ops_store.messaging.inbound import SIGNATURE_HEADER, verified_json
from ops_store.messaging.webhooks import DEFAULT_TOLERANCE_S, signature

PaymentEventType = Literal["payment.authorized", "payment.captured", "payment.refunded", "payment.failed"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PaymentEventData(_Strict):
    order_id: int = Field(gt=0, le=2**63 - 1)
    provider_ref: str | None = Field(default=None, max_length=100)
    amount: Decimal = Field(ge=0, max_digits=12, decimal_places=2)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    refund_id: str | None = Field(default=None, max_length=100)
    idempotency_key: str | None = Field(default=None, max_length=200)  # ours, when we asked for it
    reason: str | None = Field(default=None, max_length=200)  # payments.failure_reason


class ProviderEvent(_Strict):
    id: str = Field(min_length=1, max_length=200)
    type: PaymentEventType
    created_at: datetime
    data: PaymentEventData


def field_errors(exc: ValidationError, what: str) -> InvalidInput:
    """A pydantic error as InvalidInput naming the first field (never the value sent)."""
    problems = [{"field": ".".join(str(p) for p in e["loc"]) or what, "reason": e["msg"]}
                for e in exc.errors(include_input=False)]
    first = problems[0]
    return InvalidInput(f"{first['field']}: {first['reason']}", field=first["field"], details=problems)


def parse_event(model: type[BaseModel], raw: dict[str, Any], what: str, *, time_field: str = "created_at") -> Any:
    """The validated event; its ``time_field`` must carry a time zone."""
    try:
        event = model.model_validate(raw)
    except ValidationError as exc:
        raise field_errors(exc, what) from None
    if getattr(event, time_field).tzinfo is None:
        raise InvalidInput(f"{time_field} needs a time zone (e.g. 2026-12-05T10:00:00Z)", field=time_field)
    return event


def parse_fake_payment_event(body: bytes, headers: Mapping[str, str], secret: str, *,
                             tolerance_s: int = DEFAULT_TOLERANCE_S) -> ProviderEvent:
    raw = verified_json(body, headers, secret, tolerance_s=tolerance_s)
    return parse_event(ProviderEvent, raw, "event")


def signed_body(event: Mapping[str, Any], secret: str, *, at: int | None = None) -> tuple[bytes, dict[str, str]]:
    """What a sender posts: the JSON body and the signature header (the simulator, the tests)."""
    body = json.dumps(event, separators=(",", ":"), default=str).encode()
    return body, {SIGNATURE_HEADER: signature(secret, body, at if at is not None else int(time.time())),
                  "Content-Type": "application/json"}
