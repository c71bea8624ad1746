"""The outer layer of every request (pure ASGI, so it also guards streamed bodies):

- the body-size limit: a declared Content-Length over the limit is refused before reading, a
  body that grows past it while streaming is cut off; both answer 413;
- a last-resort handler: an unexpected error answers a problem+json 500 and is logged by type
  only (never its text, the request, or a traceback, which could carry what the client sent);
  the store's database being away (restarting, unreachable, no free connection) answers 503
  ``store_unavailable`` with ``Retry-After`` instead: the request was fine, the same one later
  may succeed;
- the access log: method, the route's template (``/v1/orders/{order_id}``, never the values in
  the path or the query), status and time.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ops_store.api.problems import PROBLEM_JSON, TITLES
from ops_store.db import is_unavailable

log = logging.getLogger("ops_store.api.access")
errors = logging.getLogger("ops_store.api")
STORE_RETRY_AFTER_S = 1  # a PostgreSQL restart takes a second or two; clients back off from there


class _TooLarge(Exception):
    pass


def _problem_bytes(status: int, code: str, detail: str, field: str | None = None) -> bytes:
    body: dict[str, Any] = {"type": "about:blank", "title": TITLES[status], "status": status, "code": code,
                            "detail": detail}
    if field:
        body["field"] = field
    return json.dumps(body).encode()


class GuardMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500, "sent": False}
        limit = self.max_body_bytes

        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._answer(send, 413, "too_large", f"the request body is over the {limit}-byte limit",
                               "body")
            self._log(scope, 413, started)
            return

        seen, cut_off = 0, False

        async def limited_receive() -> Message:
            nonlocal seen, cut_off
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    cut_off = True
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            if cut_off:
                # The app caught the cut-off itself (FastAPI answers any error reading a body with a
                # 400): whatever it answers, the answer is the 413.
                if message["type"] == "http.response.start" and not status["sent"]:
                    await self._answer(send, 413, "too_large", f"the request body is over the {limit}-byte limit",
                                       "body")
                    status["code"], status["sent"] = 413, True
                return
            if message["type"] == "http.response.start":
                status["code"], status["sent"] = message["status"], True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not status["sent"]:
                await self._answer(send, 413, "too_large", f"the request body is over the {limit}-byte limit",
                                   "body")
            status["code"] = 413
        except Exception as exc:  # noqa: BLE001 - the last resort: answer, log the type only
            if is_unavailable(exc):
                errors.warning("store unavailable (%s) on %s %s", type(exc).__name__, scope.get("method"),
                               _route(scope))
                if not status["sent"]:
                    await self._answer(send, 503, "store_unavailable", "the store's database is not available right "
                                       f"now; retry in {STORE_RETRY_AFTER_S} s or more (with the same "
                                       "Idempotency-Key for an order)",
                                       headers=[(b"retry-after", str(STORE_RETRY_AFTER_S).encode())])
                status["code"] = 503
            else:
                errors.error("unexpected %s on %s %s", type(exc).__name__, scope.get("method"), _route(scope))
                if not status["sent"]:
                    await self._answer(send, 500, "internal_error", "something went wrong on our side; retry later "
                                       "(with the same Idempotency-Key for an order)")
                status["code"] = 500
        self._log(scope, int(status["code"]), started)

    @staticmethod
    async def _answer(send: Send, status: int, code: str, detail: str, field: str | None = None,
                      headers: list[tuple[bytes, bytes]] | None = None) -> None:
        body = _problem_bytes(status, code, detail, field)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", PROBLEM_JSON.encode()),
                                (b"content-length", str(len(body)).encode()), *(headers or [])]})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    def _log(scope: Scope, status: int, started: float) -> None:
        if log.isEnabledFor(logging.INFO):
            log.info("%s %s %d %.1fms", scope.get("method"), _route(scope), status,
                     (time.perf_counter() - started) * 1000)


def _route(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or "(no route)"
