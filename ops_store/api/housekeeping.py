"""The API's own bookkeeping, tidied while it runs: expired idempotency keys (kept at least 24
hours), old sign-in links and idle rate-limit buckets. Each worker does it at start and then
hourly; running it twice at once is harmless (plain deletes of rows past their time)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from ops_store.db import Store
from ops_store.services import idempotency, rate_limits, self_service

log = logging.getLogger("ops_store.api")
EVERY_S = 3600


def tidy(store: Store) -> dict[str, int]:
    return {"idempotency_keys": idempotency.purge_expired(store), "sign_in_links": self_service.purge_links(store),
            "rate_limit_buckets": rate_limits.purge_idle(store)}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async def loop() -> None:
        while True:
            try:
                removed = await run_in_threadpool(tidy, app.state.store)
                if any(removed.values()):
                    log.info("housekeeping removed %s", removed)
            except SQLAlchemyError as exc:  # the store is away: try again next round
                log.warning("housekeeping skipped: %s", type(exc).__name__)
            await asyncio.sleep(EVERY_S)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
