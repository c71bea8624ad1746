"""The API application: ``create_app()`` builds it (uvicorn calls it once per worker)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from ops_store.api import housekeeping, problems
from ops_store.api.middleware import GuardMiddleware
from ops_store.api.routes import health, orders, service, webhooks
from ops_store.api.settings import ApiSettings
from ops_store.db import Store, make_engine
from ops_store.errors import DomainError
from ops_store.services import rate_limits, users
from ops_store.services.orders import keep_rejected
from ops_store.settings import StoreSettings

DESCRIPTION = """\
The store's API for sales channels (web shop, app, marketplace feeds), payment providers and
carriers. Send an API key from `ecom apikey create` as `Authorization: Bearer ek_...`; a key
acts only within its scopes and, if bound to a merchant, only on that merchant's data.

- Every error is `application/problem+json` with a stable `code` and the `field` at fault.
- Orders need an `Idempotency-Key` header: a retry with the same key and body replays the first
  answer; the same key with another body is refused (409). Keys are kept at least 24 hours.
- Lists are paged: follow `next_cursor`. Each key has a rate limit (429 with `Retry-After`).
- Card numbers and security codes are refused wherever they appear: send the provider's token.
- Webhooks carry no key: they are signed (`Webhook-Signature: t=...,v1=...`, HMAC-SHA256 of
  `"<t>.<raw body>"`) and each event is applied once.
"""
REFUSALS_KEPT = frozenset({402, 404, 409, 422})  # what a request said was refused: kept with the reason


def create_app(store: Store | None = None, settings: ApiSettings | None = None) -> FastAPI:
    settings = settings or ApiSettings()
    if store is None:
        url = StoreSettings().store_url
        StoreSettings().ensure_data_dir()
        # hide_parameters: a database error's text never carries the values a client sent.
        store = Store(url, engine=make_engine(url, hide_parameters=True))
    app = FastAPI(title="ecom API", version="1", description=DESCRIPTION, docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json", lifespan=housekeeping.lifespan)
    app.state.store, app.state.settings = store, settings
    # Per worker process: keys checked in the last seconds, and rate-limit cells taken ahead.
    app.state.key_cache, app.state.leases = users.ApiKeyCache(settings.key_cache_s), rate_limits.Leases()
    _install_errors(app)
    app.add_middleware(GuardMiddleware, max_body_bytes=settings.max_body_bytes)
    for module in (health, orders, service, webhooks):
        app.include_router(module.router)
    _install_docs(app)
    from ops_store.api.selfservice import routes as selfservice

    selfservice.install(app)
    return app


def _install_errors(app: FastAPI) -> None:
    problems.install(app)
    on_domain = app.exception_handlers[DomainError]
    on_invalid = app.exception_handlers[RequestValidationError]

    async def domain(request: Request, exc: Exception) -> JSONResponse:
        response = await on_domain(request, exc)
        await _keep_refused(request, exc, response.status_code)  # type: ignore[arg-type]
        return response  # type: ignore[return-value]

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        response = await on_invalid(request, exc)
        first = json.loads(response.body)
        error = DomainError(first["detail"], field=first.get("field"), details=first.get("errors"))
        error.code = "invalid_input"
        await _keep_refused(request, error, response.status_code)
        return response  # type: ignore[return-value]

    app.exception_handlers[DomainError] = domain
    app.exception_handlers[RequestValidationError] = invalid


async def _keep_refused(request: Request, error: DomainError, status: int) -> None:
    """A write request refused for what it said is kept in the dead letter (rejected_requests),
    card data masked, so nothing a channel sent is lost."""
    if error.kept or request.method not in ("POST", "PUT", "PATCH") or status not in REFUSALS_KEPT:
        return
    raw = getattr(request.state, "raw_body", None)
    if raw is None:
        return
    try:
        document: Any = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        document = {"unparsed_body": raw.decode("utf-8", "replace")[:10_000]}
    caller = getattr(request.state, "caller", None)
    route = getattr(request.scope.get("route"), "name", "api")
    source = caller.principal.name if caller else "anonymous"
    await run_in_threadpool(keep_rejected, request.app.state.store, f"api:{route}"[:30], document, error,
                            source=source)


def _install_docs(app: FastAPI) -> None:
    """The OpenAPI page at /docs, served from the packaged Swagger UI (no CDN: works offline)."""
    import swagger_ui_bundle

    app.mount("/docs/static", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="swagger-static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="ecom API",
                                   swagger_js_url="/docs/static/swagger-ui-bundle.js",
                                   swagger_css_url="/docs/static/swagger-ui.css",
                                   swagger_favicon_url="data:,")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _openapi(app: FastAPI) -> dict[str, Any]:
    spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for model in webhooks.EXTRA_SCHEMAS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    problem_ref = {"schema": {"$ref": "#/components/schemas/Problem"}}
    for path in spec.get("paths", {}).values():
        for operation in path.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if problems.PROBLEM_JSON in content or (status.isdigit() and int(status) >= 400
                                                        and "Problem" in json.dumps(content)):
                    response["content"] = {problems.PROBLEM_JSON: problem_ref}
    return spec
