"""Webhooks we receive: check the signature over the raw body (with a timestamp tolerance
against replays), then read the JSON event. Errors name the header or field; a body that fails
the signature is never parsed."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ops_store.errors import DomainError, InvalidInput
from ops_store.messaging.webhooks import DEFAULT_TOLERANCE_S, verify

SIGNATURE_HEADER = "Webhook-Signature"


class SignatureInvalid(DomainError):
    code = "signature_invalid"


def verified_json(body: bytes, headers: Mapping[str, str], secret: str, *,
                  tolerance_s: int = DEFAULT_TOLERANCE_S, header: str = SIGNATURE_HEADER) -> dict[str, Any]:
    """The JSON object of a webhook whose ``header`` signs ``body`` with ``secret`` within the
    tolerance; SignatureInvalid otherwise (missing, wrong, or too old / too far ahead)."""
    given = next((v for k, v in headers.items() if k.lower() == header.lower()), None)
    if not given:
        raise SignatureInvalid(f"the {header} header is missing", field=header)
    if not verify(secret, body, given, tolerance_s=tolerance_s):
        raise SignatureInvalid(
            f"the {header} header does not sign this body with the shared secret, or its timestamp is more "
            f"than {tolerance_s} s away from now", field=header,
        )
    try:
        event = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidInput("the body is not valid JSON", field="body") from None
    if not isinstance(event, dict):
        raise InvalidInput("the body must be a JSON object", field="body")
    return event
