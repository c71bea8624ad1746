"""The payment-provider interface and a faithful fake.

A real adapter (a card acquirer, an e-wallet) implements ``PaymentProvider``; the store calls it
outside its database transactions and records each outcome as a ``payment_transactions`` row."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol

from ops_store.payments.events import ProviderEvent, parse_fake_payment_event

Outcome = Literal["approved", "declined", "error"]


@dataclass(frozen=True)
class ProviderResult:
    outcome: Outcome
    provider_ref: str | None = None
    message: str | None = None


class PaymentProvider(Protocol):
    name: str

    def authorize(self, token: str, amount: Decimal, currency: str, idempotency_key: str) -> ProviderResult: ...

    def sale(self, token: str, amount: Decimal, currency: str, idempotency_key: str) -> ProviderResult:
        """Authorise and capture in one call (e-wallets)."""
        ...

    def capture(self, provider_ref: str, amount: Decimal) -> ProviderResult: ...

    def refund(self, provider_ref: str, amount: Decimal, idempotency_key: str | None = None) -> ProviderResult:
        """Refund part of a capture; the same idempotency key replays the first answer."""
        ...

    def void(self, provider_ref: str) -> ProviderResult: ...

    def parse_webhook(self, body: bytes, headers: Mapping[str, str], secret: str, tolerance_s: int) -> ProviderEvent:
        """Check the provider's signature on a webhook and read its event (SignatureInvalid or
        InvalidInput naming the field otherwise)."""
        ...


class FakeProvider:
    """Behaves like a card acquirer, decided by the token so tests and the demo can steer it:

    - ``tok_decline...``: declined (insufficient funds); ``tok_timeout...``: the provider does not
      answer (an error outcome, the payment stays pending and can be retried);
    - anything else is approved. Captures and refunds beyond what was authorised or captured are
      declined, as a real acquirer would; repeated calls with the same idempotency key replay the
      first result. State is in memory: references it has not seen are treated as authorised."""

    name = "fake"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[str, ProviderResult] = {}
        self._authorized: dict[str, Decimal] = {}
        self._captured: dict[str, Decimal] = {}
        self._refunded: dict[str, Decimal] = {}

    def _new(self, token: str, amount: Decimal, key: str, capture: bool) -> ProviderResult:
        with self._lock:
            if key in self._by_key:
                return self._by_key[key]
            if token.startswith("tok_timeout"):
                return ProviderResult("error", None, "provider timed out")
            if token.startswith("tok_decline"):
                result = ProviderResult("declined", None, "insufficient funds")
            elif amount <= 0:
                result = ProviderResult("declined", None, "amount must be positive")
            else:
                ref = f"fake_{uuid.uuid4().hex[:16]}"
                self._authorized[ref] = amount
                if capture:
                    self._captured[ref] = amount
                result = ProviderResult("approved", ref, "approved")
            self._by_key[key] = result
            return result

    def authorize(self, token: str, amount: Decimal, currency: str, idempotency_key: str) -> ProviderResult:
        return self._new(token, amount, idempotency_key, capture=False)

    def sale(self, token: str, amount: Decimal, currency: str, idempotency_key: str) -> ProviderResult:
        return self._new(token, amount, idempotency_key, capture=True)

    def capture(self, provider_ref: str, amount: Decimal) -> ProviderResult:
        with self._lock:
            limit = self._authorized.get(provider_ref, amount)
            done = self._captured.get(provider_ref, Decimal("0"))
            if amount <= 0 or done + amount > limit:
                return ProviderResult("declined", provider_ref, "capture exceeds the authorised amount")
            self._captured[provider_ref] = done + amount
            return ProviderResult("approved", provider_ref, "captured")

    def refund(self, provider_ref: str, amount: Decimal, idempotency_key: str | None = None) -> ProviderResult:
        with self._lock:
            if idempotency_key is not None and idempotency_key in self._by_key:
                return self._by_key[idempotency_key]
            result = self._refund(provider_ref, amount)
            if idempotency_key is not None:
                self._by_key[idempotency_key] = result
            return result

    def _refund(self, provider_ref: str, amount: Decimal) -> ProviderResult:
        """Called with the lock held."""
        captured = self._captured.get(provider_ref, self._authorized.get(provider_ref, amount))
        done = self._refunded.get(provider_ref, Decimal("0"))
        if amount <= 0 or done + amount > captured:
            return ProviderResult("declined", provider_ref, "refund exceeds the captured amount")
        self._refunded[provider_ref] = done + amount
        return ProviderResult("approved", provider_ref, "refunded")

    def parse_webhook(self, body: bytes, headers: Mapping[str, str], secret: str, tolerance_s: int) -> ProviderEvent:
        return parse_fake_payment_event(body, headers, secret, tolerance_s=tolerance_s)

    def void(self, provider_ref: str) -> ProviderResult:
        with self._lock:
            if self._captured.get(provider_ref):
                return ProviderResult("declined", provider_ref, "already captured; refund instead")
            self._authorized.pop(provider_ref, None)
            return ProviderResult("approved", provider_ref, "voided")


_PROVIDERS: dict[str, PaymentProvider] = {}


def get_provider(name: str = "fake") -> PaymentProvider:
    """The provider registered under ``name`` (the fake unless a real adapter is registered)."""
    if name not in _PROVIDERS:
        if name != "fake":
            raise LookupError(f"no payment provider adapter named {name!r} is installed")
        _PROVIDERS[name] = FakeProvider()
    return _PROVIDERS[name]


def register_provider(provider: PaymentProvider) -> None:
    _PROVIDERS[provider.name] = provider
