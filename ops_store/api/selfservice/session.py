"""The self-service session and the headers of every /account answer.

The session is one signed cookie (itsdangerous, keyed by the API's ``session_secret``): the
signed-in customer's id (None before signing in) and a CSRF token that every POST form carries.
It is re-signed on every answer, so it ends after ``IDLE_SECONDS`` without a request. The cookie is
HttpOnly, SameSite=Lax, limited to /account, and Secure when ``ECOM_API_SECURE_COOKIES`` is set.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request, cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PREFIX = "/account"
COOKIE = "ecom_account"
IDLE_SECONDS = 30 * 60
SALT = "ecom self-service session"
SECURITY_HEADERS = {
    # form-action and frame-ancestors do not fall back to default-src: named as well.
    "content-security-policy": "default-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
}


def _new_csrf() -> str:
    return secrets.token_urlsafe(32)


@dataclass
class AccountSession:
    customer_id: int | None = None
    csrf: str = field(default_factory=_new_csrf)

    def sign_in(self, customer_id: int) -> None:
        """A new session for ``customer_id`` (a new CSRF token too: nothing carries over)."""
        self.customer_id, self.csrf = customer_id, _new_csrf()

    def sign_out(self) -> None:
        self.customer_id, self.csrf = None, _new_csrf()

    def csrf_ok(self, sent: str | None) -> bool:
        return bool(sent) and hmac.compare_digest(self.csrf.encode(), (sent or "").encode())


def account_session(request: Request) -> AccountSession:
    return request.state.account


class AccountMiddleware:
    """Pure ASGI: for paths under /account, load the session before the route and, on the way
    out, re-sign it into the cookie and add the security headers."""

    def __init__(self, app: ASGIApp, secret: str, secure: bool) -> None:
        self.app = app
        self.serializer = URLSafeTimedSerializer(secret, salt=SALT)
        self.secure = secure

    def load(self, scope: Scope) -> AccountSession:
        raw = dict(scope.get("headers") or []).get(b"cookie", b"").decode("latin-1")
        value = cookie_parser(raw).get(COOKIE)
        if not value:
            return AccountSession()
        try:
            data: Any = self.serializer.loads(value, max_age=IDLE_SECONDS)
            cid, csrf = data["c"], data["t"]
            if not (cid is None or isinstance(cid, int)) or not isinstance(csrf, str) or not csrf:
                raise BadSignature("unexpected session content")
        except (BadSignature, KeyError, TypeError):
            return AccountSession()  # too old (idle), or not signed by us: a new, anonymous session
        return AccountSession(customer_id=cid, csrf=csrf)

    def cookie(self, session: AccountSession) -> bytes:
        value = self.serializer.dumps({"c": session.customer_id, "t": session.csrf})
        parts = [f"{COOKIE}={value}", f"Path={PREFIX}", f"Max-Age={IDLE_SECONDS}", "HttpOnly", "SameSite=Lax"]
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts).encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        session = self.load(scope)
        scope.setdefault("state", {})["account"] = session
        static = path.startswith(PREFIX + "/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.decode("latin-1").lower()
                           not in SECURITY_HEADERS]
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                if not static:
                    headers.append((b"set-cookie", self.cookie(session)))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
