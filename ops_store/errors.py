"""Domain errors: each has a stable machine code and a message that names the problem."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error a caller can act on. ``code`` is stable; ``message`` is for people."""

    code = "domain_error"
    kept = False  # set once the refused request was kept in the dead letter (rejected_requests)

    def __init__(self, message: str, *, field: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        if self.details is not None:
            body["details"] = self.details
        return body


class NotFound(DomainError):
    code = "not_found"


class InvalidInput(DomainError):
    code = "invalid_input"


class AlreadyExists(DomainError):
    code = "already_exists"


class Conflict(DomainError):
    code = "conflict"


class IllegalTransition(DomainError):
    code = "illegal_transition"


class InsufficientStock(DomainError):
    code = "insufficient_stock"


class CardDataRefused(DomainError):
    """Input carried something that looks like a card number or a security code.

    The message names the field only; the value is never echoed, stored or logged."""

    code = "card_data_refused"


class PaymentDeclined(DomainError):
    code = "payment_declined"


class ProviderUnavailable(DomainError):
    code = "provider_unavailable"
