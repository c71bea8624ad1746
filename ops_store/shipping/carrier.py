"""The carrier interface and a fake carrier.

A real adapter books a label with the carrier's service and returns its tracking number;
tracking events come back later, signed, to the API's carrier webhook (``parse_webhook`` checks
the carrier's signature and reads its format), or from ``ecom shipment track``."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from ops_store.shipping.events import CarrierEvent, parse_fake_carrier_event


@dataclass(frozen=True)
class LabelRequest:
    order_id: int
    warehouse_code: str
    parcel_no: int
    service: str  # delivery option kind: standard, express, pickup


class CarrierAdapter(Protocol):
    code: str

    def create_label(self, request: LabelRequest) -> str:
        """Book a label; returns the tracking number."""
        ...

    def parse_webhook(self, body: bytes, headers: Mapping[str, str], secret: str, tolerance_s: int) -> CarrierEvent:
        """Check the carrier's signature on a tracking webhook and read its event."""
        ...


class FakeCarrier:
    """Issues tracking numbers deterministically from the order and parcel (a replayed request
    gets the same number back, as a carrier's idempotent booking would)."""

    def __init__(self, code: str) -> None:
        self.code = code
        self._lock = threading.Lock()
        self.labels: dict[str, LabelRequest] = {}

    def create_label(self, request: LabelRequest) -> str:
        digest = hashlib.sha256(f"{self.code}:{request.order_id}:{request.parcel_no}".encode()).hexdigest()
        number = f"{self.code.upper()[:4]}{int(digest[:12], 16) % 10**12:012d}"
        with self._lock:
            self.labels[number] = request
        return number

    def parse_webhook(self, body: bytes, headers: Mapping[str, str], secret: str, tolerance_s: int) -> CarrierEvent:
        return parse_fake_carrier_event(body, headers, secret, tolerance_s=tolerance_s)


_CARRIERS: dict[str, CarrierAdapter] = {}


def get_carrier(code: str) -> CarrierAdapter:
    """The adapter registered for a carrier code; the fake one unless a real adapter is registered."""
    if code not in _CARRIERS:
        _CARRIERS[code] = FakeCarrier(code)
    return _CARRIERS[code]


def register_carrier(adapter: CarrierAdapter) -> None:
    _CARRIERS[adapter.code] = adapter
