"""What every /v1 request goes through before its route: the API key (``Authorization: Bearer
ek_...``), its rate limit, and the refusal of card data anywhere in the query or the body."""

from __future__ import annotations

import json

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ops_store.api.problems import ApiProblem
from ops_store.api.settings import ApiSettings
from ops_store.db import Store
from ops_store.errors import CardDataRefused
from ops_store.payments.card_guard import check_no_card_data, contains_card_number
from ops_store.services import rate_limits, users
from ops_store.services.users import ApiCaller

bearer = HTTPBearer(auto_error=False, description="An API key from `ecom apikey create`, sent as `Bearer ek_...`")


def get_store(request: Request) -> Store:
    return request.app.state.store


def get_settings(request: Request) -> ApiSettings:
    return request.app.state.settings


def api_caller(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
) -> ApiCaller:
    """The key's caller, once the key is valid and within its rate limit (401 / 429 otherwise)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiProblem(401, "authentication_failed", "send an API key as `Authorization: Bearer ek_...`",
                         field="Authorization", headers={"WWW-Authenticate": "Bearer"})
    store, settings = get_store(request), get_settings(request)
    caller = users.authenticate_api_client(store, credentials.credentials)
    request.state.caller = caller
    limit = caller.rate_limit or settings.rate_limit
    wait = rate_limits.take(store, f"key:{caller.prefix}", per_minute=limit)
    if wait > 0:
        raise ApiProblem(429, "rate_limited", f"this key may send {limit} requests a minute; retry after the "
                         "Retry-After header's seconds", headers={"Retry-After": rate_limits.retry_after_header(wait)})
    return caller


async def refuse_card_data(request: Request) -> None:
    """Card numbers and security codes are refused wherever they appear, before anything reads them."""
    for name, value in request.query_params.multi_items():
        if contains_card_number(value) or contains_card_number(name):
            raise CardDataRefused(f"{name}: looks like a full card number, which is never accepted", field=name)
    if request.method in ("POST", "PUT", "PATCH"):
        raw = await request.body()
        request.state.raw_body = raw  # for the dead letter, should the request be refused
        if not raw:
            return
        try:
            document = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            if contains_card_number(raw.decode("utf-8", "replace")):
                raise CardDataRefused("the body holds what looks like a full card number", field="body") from None
            return  # not JSON: the route's own validation says so
        check_no_card_data(document)
