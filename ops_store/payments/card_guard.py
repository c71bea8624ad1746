"""Refuse any input that carries a full card number or a security code.

A card number is a run of 13-19 digits (spaces or dashes allowed between them) that passes the
Luhn check. A security code is any field named like cvv/cvc/csc/security_code. The error names
the field only; the value is never echoed, so it cannot reach a log or the database."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ops_store.errors import CardDataRefused, InvalidInput

REDACTED = "[redacted: card data]"
_DIGIT_RUN = re.compile(r"\d(?:[ -]?\d){12,}")
_SECURITY_FIELDS = re.compile(r"^(cvv2?|cvc2?|csc|cid|security[_ -]?code|card[_ -]?verification.*)$", re.I)
_CARD_NUMBER_FIELDS = re.compile(r"^(pan|card[_ -]?number|cc[_ -]?number|number)$", re.I)


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def contains_card_number(text: str) -> bool:
    """True when a run of 13-19 digits (single spaces or dashes allowed between) passes Luhn."""
    for match in _DIGIT_RUN.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_ok(digits):
            return True
    return False


MAX_DEPTH = 64  # no document of ours nests this deep; deeper input is refused, not recursed into


def _walk(value: Any, path: str, depth: int = 0) -> Iterator[tuple[str, str | None, Any]]:
    if depth > MAX_DEPTH and isinstance(value, dict | list):
        raise InvalidInput(f"{path or 'document'}: nested deeper than {MAX_DEPTH} levels", field=path or "document")
    if isinstance(value, dict):
        for key, item in value.items():
            if contains_card_number(str(key)):
                raise CardDataRefused(
                    f"{path or 'document'}: a field name looks like a full card number, which is never accepted",
                    field=f"{path}.{REDACTED}" if path else REDACTED,
                )
            child = f"{path}.{key}" if path else str(key)
            yield child, str(key), item
            yield from _walk(item, child, depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            child = f"{path}[{i}]"
            yield child, None, item
            yield from _walk(item, child, depth + 1)


def check_no_card_data(document: Any) -> None:
    """Raise CardDataRefused naming the first offending field of a JSON-like document."""
    for path, key, value in _walk(document, ""):
        if key is not None and _SECURITY_FIELDS.match(key) and value not in (None, ""):
            raise CardDataRefused(
                f"{path}: security codes (CVV/CVC) must never be sent; send only the provider's token",
                field=path,
            )
        if isinstance(value, str | int) and not isinstance(value, bool):
            text = str(value)
            if (key is not None and _CARD_NUMBER_FIELDS.match(key) and len(re.sub(r"\D", "", text)) >= 12) or (
                contains_card_number(text)
            ):
                raise CardDataRefused(
                    f"{path}: looks like a full card number, which is never accepted; "
                    "send the payment provider's token, the brand and the last four digits",
                    field=path,
                )



def redact_card_data(document: Any, depth: int = 0) -> Any:
    """A copy of a JSON-like document with card numbers and security codes masked, so a refused
    request can be kept for inspection without keeping what must never be stored. Parts nested
    deeper than MAX_DEPTH are dropped."""
    if depth > MAX_DEPTH and isinstance(document, dict | list):
        return "[dropped: nested too deep]"
    if isinstance(document, dict):
        return {
            (REDACTED if contains_card_number(str(k)) else k): (
                REDACTED if _SECURITY_FIELDS.match(str(k)) else redact_card_data(v, depth + 1)
            )
            for k, v in document.items()
        }
    if isinstance(document, list):
        return [redact_card_data(v, depth + 1) for v in document]
    if isinstance(document, str | int) and not isinstance(document, bool) and contains_card_number(str(document)):
        return REDACTED
    return document
