"""Driving the API in tests: keys, an in-process client (FastAPI's TestClient on the real app and
store) and a real ``uvicorn`` server with several workers on a free port (for races over HTTP,
the browser tests and the live simulator)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient

from ops_store.api.app import create_app
from ops_store.api.background import background_api
from ops_store.api.settings import ApiSettings
from ops_store.db import Store
from ops_store.payments.events import signed_body
from ops_store.security.access import SYSTEM, acting_as
from ops_store.services import users

CHANNEL_SCOPES = ("orders.write", "orders.read", "stock.read", "returns.request", "customers.write",
                  "customers.read", "tickets.open", "crm.read")


def make_key(store: Store, *, scopes: tuple[str, ...] = CHANNEL_SCOPES, merchant: str | None = None,
             channel: str | None = "web", rate_limit: int | None = None, name: str = "test channel") -> str:
    with acting_as(SYSTEM):
        return users.create_api_key(store, name, scopes=list(scopes), channel=channel, merchant=merchant,
                                    rate_limit=rate_limit)["key"]


def auth(key: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **headers}


def idem(key: str, idempotency_key: str) -> dict[str, str]:
    """Headers of an order request: the key and an Idempotency-Key."""
    return auth(key, **{"Idempotency-Key": idempotency_key})


def client(store: Store, **settings: Any) -> TestClient:
    """The real app on ``store``, called in-process (no socket); errors come back as responses."""
    return TestClient(create_app(store, ApiSettings(**settings)), raise_server_exceptions=False)


def signed(event: dict[str, Any], secret_name: str, *, at: int | None = None) -> tuple[bytes, dict[str, str]]:
    """A webhook body and its signature header, signed with the API's shared secret."""
    from ops_store.api.settings import api_secret

    return signed_body(event, api_secret(secret_name), at=at)


@contextmanager
def live_api(env: dict[str, str], *, workers: int = 2, timeout: float = 60) -> Iterator[str]:
    """`ecom api` as a user runs it (uvicorn, ``workers`` processes) with ``env``; yields its base URL."""
    with background_api(env, workers=workers, timeout=timeout) as url:
        yield url
