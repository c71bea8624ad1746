"""Every error as an RFC 9457 problem+json body: a stable ``code``, the ``field`` at fault and the
reason, never a stack trace or the value sent (it may be a card number or personal data)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from ops_store.errors import DomainError

PROBLEM_JSON = "application/problem+json"
BODY_UNREADABLE = "There was an error parsing the body"  # FastAPI's 400 when reading the body raised

STATUS: dict[str, int] = {
    "invalid_input": 422, "card_data_refused": 422, "not_found": 404, "already_exists": 409,
    "conflict": 409, "illegal_transition": 409, "insufficient_stock": 409, "payment_declined": 402,
    "provider_unavailable": 503, "permission_denied": 403, "authentication_failed": 401,
    "signature_invalid": 401, "rate_limited": 429, "too_large": 413, "in_progress": 409,
}
TITLES = {400: "Bad request", 401: "Unauthorized", 402: "Payment declined", 403: "Forbidden",
          404: "Not found", 405: "Method not allowed", 409: "Conflict", 413: "Request body too large",
          415: "Unsupported media type", 422: "Invalid request", 429: "Too many requests",
          500: "Internal error", 503: "Service unavailable"}


class FieldProblem(BaseModel):
    field: str
    reason: str


class Problem(BaseModel):
    """The body of every error response (media type application/problem+json)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "type": "about:blank", "title": "Invalid request", "status": 422, "code": "invalid_input",
        "detail": "lines[0].qty: Input should be greater than 0", "field": "lines[0].qty"}]})

    type: str = "about:blank"
    title: str
    status: int
    code: str
    detail: str
    field: str | None = None
    errors: list[FieldProblem] | None = None


class ApiProblem(DomainError):
    """An error of the HTTP layer itself (rate limit, size, ...), with its status and headers."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message, field=field)
        self.code = code
        self.status = status
        self.headers = headers or {}


def problem(status: int, code: str, detail: str, *, field: str | None = None,
            errors: list[dict[str, str]] | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": TITLES.get(status, "Error"), "status": status,
                            "code": code, "detail": detail}
    if field:
        body["field"] = field
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def from_domain(exc: DomainError) -> JSONResponse:
    status = exc.status if isinstance(exc, ApiProblem) else STATUS.get(exc.code, 422)
    errors = None
    if isinstance(exc.details, list) and all(isinstance(d, dict) and "field" in d for d in exc.details):
        errors = [{"field": str(d["field"]), "reason": str(d.get("reason", ""))} for d in exc.details]
    headers = exc.headers if isinstance(exc, ApiProblem) else None
    return problem(status, exc.code, exc.message, field=exc.field, errors=errors, headers=headers)


def field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    """FastAPI's error location as the name a client sent: body.lines.0.qty -> lines[0].qty,
    header.idempotency-key -> Idempotency-Key."""
    parts = list(loc)
    where = parts.pop(0) if parts and parts[0] in ("body", "query", "path", "header", "cookie") else "body"
    if where == "header" and parts:
        return "-".join(p.capitalize() for p in str(parts[0]).replace("_", "-").split("-"))
    name = ""
    for part in parts:
        if isinstance(part, int):
            name += f"[{part}]"
        elif not str(part).startswith("function-"):
            name += f".{part}" if name else str(part)
    return name or where


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        return from_domain(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        # never e["input"]: it may be a card number or personal data. A body that is not JSON at all
        # is located at ("body", <character offset>): the field at fault is the body itself.
        errors = [{"field": "body" if e.get("type") == "json_invalid" else field_name(e.get("loc", ())),
                   "reason": str(e.get("msg", "invalid"))} for e in exc.errors()]
        first = errors[0] if errors else {"field": "body", "reason": "invalid"}
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return problem(422, "invalid_input", f"{first['field']}: {first['reason']}{more}", field=first["field"],
                       errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = getattr(exc, "headers", None)
        if exc.status_code == 400 and exc.detail == BODY_UNREADABLE:
            # A body FastAPI could not read as JSON (not UTF-8, nested past the parser's depth):
            # like any other malformed body, a 422 naming the body.
            return problem(422, "invalid_input", "body: the body is not valid JSON (UTF-8)", field="body",
                           errors=[{"field": "body", "reason": "the body is not valid JSON (UTF-8)"}])
        if exc.status_code == 405:
            # Starlette's Allow names the first route matching the path only (POST for /v1/orders);
            # RFC 9110 wants every method the resource supports.
            headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "error")
        return problem(exc.status_code, code, detail, headers=headers)


HTTP_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route fully matches at this request's path (asked of the routes
    themselves: included routers keep theirs inside)."""
    routes = request.app.router.routes
    return [method for method in HTTP_METHODS
            if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes)]


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": TITLES[status], "content": {PROBLEM_JSON: {}}}
    for status in (401, 403, 404, 409, 413, 422, 429)
}
