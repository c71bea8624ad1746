"""What every /v1 request goes through before its route: the API key (``Authorization: Bearer
ek_...``), its rate limit, and the refusal of card data anywhere in the query or the body."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ops_store.api.problems import ApiProblem
from ops_store.api.settings import ApiSettings
from ops_store.db import Store
from ops_store.errors import CardDataRefused, InvalidInput
from ops_store.payments.card_guard import check_no_card_data, contains_card_number
from ops_store.services import rate_limits, users
from ops_store.services.users import ApiCaller

bearer = HTTPBearer(auto_error=False, description="An API key from `ecom apikey create`, sent as `Bearer ek_...`")


# async: FastAPI runs a sync dependency in its threadpool, a hand-off each request would pay for.
async def get_store(request: Request) -> Store:
    return request.app.state.store


async def get_settings(request: Request) -> ApiSettings:
    return request.app.state.settings


def api_caller(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
) -> ApiCaller:
    """The key's caller, once the key is valid and within its rate limit (401 / 429 otherwise)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiProblem(401, "authentication_failed", "send an API key as `Authorization: Bearer ek_...`",
                         field="Authorization", headers={"WWW-Authenticate": "Bearer"})
    store, settings = request.app.state.store, request.app.state.settings
    try:
        caller = request.app.state.key_cache.authenticate(store, credentials.credentials)
    except users.AuthenticationFailed as exc:  # RFC 6750: a 401 names the scheme and the token's fault
        raise ApiProblem(401, "authentication_failed", exc.message, field="Authorization",
                         headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}) from None
    request.state.caller = caller
    limit = caller.rate_limit or settings.rate_limit
    wait = request.app.state.leases.take(store, f"key:{caller.prefix}", per_minute=limit)
    if wait > 0:
        raise ApiProblem(429, "rate_limited", f"this key may send {limit} requests a minute; retry after the "
                         "Retry-After header's seconds", headers={"Retry-After": rate_limits.retry_after_header(wait)})
    return caller


async def refuse_card_data(request: Request) -> None:
    """Card numbers and security codes are refused wherever they appear (path, query, body), before
    anything reads them; so is text no database column can hold (NUL, lone surrogates) and a body
    nested deeper than any document of this API."""
    for name, value in [*request.path_params.items(), *request.query_params.multi_items()]:
        if contains_card_number(str(value)) or contains_card_number(name):
            raise CardDataRefused(f"{name}: looks like a full card number, which is never accepted", field=name)
        _check_text(name, name)
        _check_text(str(value), name)
    if request.method in ("POST", "PUT", "PATCH"):
        raw = await request.body()
        request.state.raw_body = raw  # for the dead letter, should the request be refused
        if not raw:
            return
        try:
            document = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            if contains_card_number(raw.decode("utf-8", "replace")):
                raise CardDataRefused("the body holds what looks like a full card number", field="body") from None
            return  # not JSON: the route's own validation says so
        if _depth(document) > MAX_DEPTH:
            # Kept as text: masking card data in it (rejected_requests) would recurse as deep as it goes.
            request.state.raw_body = json.dumps({"unparsed_body": raw.decode("utf-8", "replace")[:10_000]}).encode()
            raise InvalidInput(f"body: nested deeper than {MAX_DEPTH} levels", field="body")
        check_no_card_data(document)
        try:
            _check_strings(document)
        except InvalidInput:
            # Kept with those characters replaced: no text column can hold them (rejected_requests.reference).
            request.state.raw_body = json.dumps(_cleaned(document)).encode()
            raise


MAX_DEPTH = 32  # the API's documents nest 3 levels deep
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # NUL and lone surrogates (json.loads pairs the others)


def _depth(document: Any) -> int:
    deepest, todo = 0, [(document, 1)]
    while todo:
        value, depth = todo.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            todo.extend((item, depth + 1) for item in (value.values() if isinstance(value, dict) else value))
    return deepest


def _check_strings(document: Any, path: str = "") -> None:
    """Every key and string value of the (at most MAX_DEPTH deep) document, by its field name."""
    if isinstance(document, dict):
        for key, value in document.items():
            child = f"{path}.{key}" if path else str(key)
            _check_text(key, child)
            _check_strings(value, child)
    elif isinstance(document, list):
        for i, value in enumerate(document):
            _check_strings(value, f"{path}[{i}]")
    elif isinstance(document, str):
        _check_text(document, path)


def _check_text(text: str, field: str) -> None:
    if _UNSTORABLE.search(text):
        field = _UNSTORABLE.sub("\ufffd", field)
        raise InvalidInput(f"{field}: text may not contain NUL characters or lone surrogates", field=field)


def _cleaned(document: Any) -> Any:
    if isinstance(document, dict):
        return {_UNSTORABLE.sub("\ufffd", k): _cleaned(v) for k, v in document.items()}
    if isinstance(document, list):
        return [_cleaned(v) for v in document]
    return _UNSTORABLE.sub("\ufffd", document) if isinstance(document, str) else document
