"""Request rate limits shared by every API worker: the generic cell-rate algorithm (GCRA), kept
as one number per bucket (the theoretical arrival time) in the store and moved by one UPDATE.

A bucket allows ``per_minute`` requests a minute on average and bursts of ``burst`` requests;
a refused request is told how many seconds to wait (the 429's Retry-After)."""

from __future__ import annotations

import math
import time

from sqlalchemy import case, insert, select, update
from sqlalchemy.exc import IntegrityError

from ops_store.db import Store
from ops_store.models import ApiRateLimit


def take(store: Store, bucket: str, *, per_minute: int, burst: int | None = None,
         now: float | None = None) -> float:
    """Count one request against ``bucket``: 0.0 when allowed, else the seconds to wait."""
    interval = 60.0 / max(per_minute, 1)
    burst = burst if burst is not None else max(1, per_minute // 6)  # ten seconds' worth
    tolerance = interval * (burst - 1)
    at = time.time() if now is None else now
    table = ApiRateLimit.__table__
    start = case((table.c.tat > at, table.c.tat), else_=at)
    for _ in range(3):
        with store.engine.begin() as conn:
            moved = conn.execute(
                update(table).where(table.c.bucket == bucket, start - at <= tolerance)
                .values(tat=start + interval).returning(table.c.tat)
            ).first()
            if moved is not None:
                return 0.0
            tat = conn.execute(select(table.c.tat).where(table.c.bucket == bucket)).scalar()
        if tat is not None and tat - at > tolerance:
            return tat - at - tolerance
        if tat is not None:
            continue  # another worker created the bucket between the two statements: count again
        try:
            with store.engine.begin() as conn:
                conn.execute(insert(table).values(bucket=bucket, tat=at + interval))
            return 0.0
        except IntegrityError:  # another worker created the bucket first: count against it
            continue
    return interval


def retry_after_header(wait_s: float) -> str:
    """Whole seconds, rounded up (the header takes no fractions)."""
    return str(max(1, math.ceil(wait_s)))


def purge_idle(store: Store, *, idle_s: float = 3600, now: float | None = None) -> int:
    """Delete buckets idle for ``idle_s`` (a missing bucket starts full, as an idle one would be)."""
    table = ApiRateLimit.__table__
    with store.engine.begin() as conn:
        cutoff = (time.time() if now is None else now) - idle_s
        return int(conn.execute(table.delete().where(table.c.tat < cutoff)).rowcount or 0)
