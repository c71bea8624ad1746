"""Webhooks signed with HMAC-SHA256, in the style payment providers use: the header
``Ecom-Signature: t=<unix seconds>,v1=<hex HMAC of "<t>.<raw body>">`` lets the receiver check
both who sent the body and when (reject old timestamps to stop replays)."""

from __future__ import annotations

import hashlib
import hmac
import time
import urllib.error
import urllib.request

SIGNATURE_HEADER = "Ecom-Signature"
DEFAULT_TOLERANCE_S = 300


class WebhookError(RuntimeError):
    """The receiver could not be reached or did not answer 2xx."""


def signature(secret: str, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, body: bytes, header: str, *, tolerance_s: int = DEFAULT_TOLERANCE_S,
           now: float | None = None) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` and its timestamp is recent."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance_s:
        return False
    expected = signature(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def post(url: str, body: bytes, secret: str, *, timeout_s: float = 10.0, event_id: str | None = None) -> int:
    """POST the JSON ``body`` signed with ``secret``; returns the status, raises WebhookError."""
    if not url.startswith(("https://", "http://")):
        raise WebhookError(f"webhook URL must be http(s): {url!r}")
    headers = {"Content-Type": "application/json", "User-Agent": "ecom-webhooks/1",
               SIGNATURE_HEADER: signature(secret, body, int(time.time()))}
    if event_id:
        headers["Ecom-Event-Id"] = event_id
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 (scheme checked)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as error:
        raise WebhookError(f"{url} answered {error.code} {error.reason}") from error
    except (OSError, urllib.error.URLError) as error:
        raise WebhookError(f"{url}: {error}") from error
