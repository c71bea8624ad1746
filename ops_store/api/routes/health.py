"""Liveness and readiness, for load balancers and orchestrators (no API key needed)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from ops_store.api.deps import get_store
from ops_store.api.responses import json_response
from ops_store.api.schemas import Health, Readiness
from ops_store.db import Store
from ops_store.migrate import current_revision, head_revision

router = APIRouter(prefix="/v1", tags=["health"])


@router.get("/health", response_model=Health, summary="The process is up")
def health() -> Response:
    return json_response(Health, {"status": "ok"})


@router.get("/ready", response_model=Readiness, summary="The store answers and its schema is current",
            responses={503: {"model": Readiness, "description": "Not ready: see database / schema_revision"}})
def ready(store: Store = Depends(get_store)) -> Response:
    expected = head_revision()
    try:
        with store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        revision = current_revision(store)
        database = "ok"
    except SQLAlchemyError as exc:
        revision, database = None, f"unreachable ({type(exc).__name__})"
    ok = database == "ok" and revision == expected
    return json_response(Readiness, {"status": "ready" if ok else "not_ready", "database": database,
                                     "schema_revision": revision, "expected_revision": expected},
                         200 if ok else 503)
