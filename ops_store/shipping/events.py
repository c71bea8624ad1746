"""Carrier tracking webhooks, in the fake carrier's format.

A real adapter turns its carrier's notification into a ``CarrierEvent``; the store applies it
once (ops_store.services.tracking_events). The fake's format::

    {"id": "trk_...", "tracking_number": "FAST000123456789", "status": "in_transit",
     "occurred_at": "2026-12-05T10:00:00Z", "location": "Leipzig hub", "description": "sorted"}

signed like the payment provider's (``Webhook-Signature``, see ops_store.payments.events).
Events can arrive late and out of order: ``occurred_at`` (the carrier's clock), not arrival,
places them on the timeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ops_store.messaging.inbound import verified_json
from ops_store.messaging.webhooks import DEFAULT_TOLERANCE_S
from ops_store.payments.events import parse_event

TrackingStatus = Literal["label_created", "picked_up", "in_transit", "out_for_delivery", "delivered", "exception"]


class CarrierEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=200)
    tracking_number: str = Field(min_length=1, max_length=64)
    status: TrackingStatus
    occurred_at: datetime
    location: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=300)  # tracking_events.description


def parse_fake_carrier_event(body: bytes, headers: Mapping[str, str], secret: str, *,
                             tolerance_s: int = DEFAULT_TOLERANCE_S) -> CarrierEvent:
    raw = verified_json(body, headers, secret, tolerance_s=tolerance_s)
    return parse_event(CarrierEvent, raw, "event", time_field="occurred_at")
