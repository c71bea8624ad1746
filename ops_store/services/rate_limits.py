"""Request rate limits shared by every API worker: the generic cell-rate algorithm (GCRA), kept
as one number per bucket (the theoretical arrival time) in the store and moved by one UPDATE.

A bucket allows ``per_minute`` requests a minute on average and bursts of ``burst`` requests;
a refused request is told how many seconds to wait (the 429's Retry-After).

``Leases`` saves most of those UPDATEs: a worker takes a few cells at once and spends them
locally. What a worker leased is already counted in the store, so the limit is never exceeded;
at worst a request is refused while another worker still holds a few unspent cells."""

from __future__ import annotations

import math
import threading
import time

from sqlalchemy import case, insert, select, update
from sqlalchemy.exc import IntegrityError

from ops_store.db import Store
from ops_store.models import ApiRateLimit


def default_burst(per_minute: int) -> int:
    return max(1, per_minute // 6)  # ten seconds' worth


def take(store: Store, bucket: str, *, per_minute: int, burst: int | None = None,
         now: float | None = None, cells: int = 1) -> float:
    """Count ``cells`` requests against ``bucket`` at once: 0.0 when allowed, else the seconds
    to wait until they would be."""
    interval = 60.0 / max(per_minute, 1)
    burst = burst if burst is not None else default_burst(per_minute)
    tolerance = interval * (burst - cells)
    at = time.time() if now is None else now
    table = ApiRateLimit.__table__
    start = case((table.c.tat > at, table.c.tat), else_=at)
    for _ in range(3):
        with store.engine.begin() as conn:
            moved = conn.execute(
                update(table).where(table.c.bucket == bucket, start - at <= tolerance)
                .values(tat=start + interval * cells).returning(table.c.tat)
            ).first()
            if moved is not None:
                return 0.0
            tat = conn.execute(select(table.c.tat).where(table.c.bucket == bucket)).scalar()
        if tat is not None and tat - at > tolerance:
            return tat - at - tolerance
        if tat is not None:
            continue  # another worker created the bucket between the two statements: count again
        if cells > burst:
            return interval * cells
        try:
            with store.engine.begin() as conn:
                conn.execute(insert(table).values(bucket=bucket, tat=at + interval * cells))
            return 0.0
        except IntegrityError:  # another worker created the bucket first: count against it
            continue
    return interval


class Leases:
    """Cells this process took ahead, per bucket (one per worker process; thread-safe)."""

    def __init__(self, max_lease: int = 10) -> None:
        self.max_lease = max_lease
        self._left: dict[str, int] = {}
        self._lock = threading.Lock()

    def take(self, store: Store, bucket: str, *, per_minute: int) -> float:
        """Like ``take``, from this process's leased cells while it has some."""
        with self._lock:
            if self._left.get(bucket, 0) > 0:
                self._left[bucket] -= 1
                return 0.0
        burst = default_burst(per_minute)
        lease = max(1, min(self.max_lease, burst // 4))
        wait = take(store, bucket, per_minute=per_minute, cells=lease) if lease > 1 else 1.0
        if wait == 0.0:
            with self._lock:
                self._left[bucket] = self._left.get(bucket, 0) + lease - 1
            return 0.0
        return take(store, bucket, per_minute=per_minute)  # near the limit: one cell at a time


def retry_after_header(wait_s: float) -> str:
    """Whole seconds, rounded up (the header takes no fractions)."""
    return str(max(1, math.ceil(wait_s)))


def purge_idle(store: Store, *, idle_s: float = 3600, now: float | None = None) -> int:
    """Delete buckets idle for ``idle_s`` (a missing bucket starts full, as an idle one would be)."""
    table = ApiRateLimit.__table__
    with store.engine.begin() as conn:
        cutoff = (time.time() if now is None else now) - idle_s
        return int(conn.execute(table.delete().where(table.c.tat < cutoff)).rowcount or 0)
