"""Write frames through ops_store.bulk in one transaction: ids from reserve_ids, references
resolved to the ids of the parent frames, values converted to what the columns store."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import repeat
from typing import Any

import numpy as np
from sqlalchemy import Connection

from ops_store import bulk
from ops_store.simulate.frame import Frame

NULL = np.iinfo(np.int64).min  # "no value" in integer columns that become NULL
CHUNK = 50_000
MASK40 = (1 << 40) - 1


class Writer:
    def __init__(self, conn: Connection, start: datetime, on_rows: Callable[[int], None]) -> None:
        self.conn = conn
        self.start = start
        self.first_day = start.date()
        self.offsets: dict[str, int] = {}
        self.on_rows = on_rows
        self.counts: dict[str, int] = {}
        self.seconds: dict[str, float] = {}

    def write(self, frame: Frame) -> None:
        n = len(frame)
        began = time.perf_counter()
        if frame.has_id:
            first = bulk.reserve_ids(self.conn, frame.table, n) if n else 1
            self.offsets[frame.table] = first
        if n:
            names = (["id"] if frame.has_id else []) + list(frame.columns)
            bulk.insert_rows(self.conn, frame.table, names, self._rows(frame, n))
        elapsed = time.perf_counter() - began
        self.counts[frame.table] = self.counts.get(frame.table, 0) + n
        self.seconds[frame.table] = self.seconds.get(frame.table, 0.0) + elapsed

    def _rows(self, frame: Frame, n: int) -> Iterator[tuple[Any, ...]]:
        for lo in range(0, n, CHUNK):
            hi = min(n, lo + CHUNK)
            cols = []
            if frame.has_id:
                cols.append(range(self.offsets[frame.table] + lo, self.offsets[frame.table] + hi))
            for kind, values in frame.columns.values():
                cols.append(self._convert(kind, values, lo, hi))
            yield from zip(*cols, strict=False)
            self.on_rows(hi - lo)

    def _convert(self, kind: str, values: Any, lo: int, hi: int) -> Any:
        if not isinstance(values, np.ndarray | list):
            one = values if kind == "raw" else self._convert(kind, [values], 0, 1)[0]
            return repeat(one, hi - lo)
        part = values[lo:hi]
        if kind == "raw":
            return part.tolist() if isinstance(part, np.ndarray) else part
        items = part.tolist() if isinstance(part, np.ndarray) else part
        if kind == "cents":
            return [None if v == NULL else Decimal(v).scaleb(-2) for v in items]
        if kind == "cost":
            return [None if v == NULL else Decimal(v).scaleb(-4) for v in items]
        if kind.startswith("dec:"):
            places = -int(kind[4:])
            return [None if v == NULL else Decimal(v).scaleb(places) for v in items]
        if kind in ("t", "t_opt"):
            base = self.start
            return [None if v is None or v == NULL or v >= 1 << 50 else base + timedelta(seconds=v) for v in items]
        if kind in ("day", "day_opt"):
            first = self.first_day
            return [None if v is None or v == NULL else first + timedelta(days=v) for v in items]
        if kind.startswith("ref:"):
            off = self.offsets[kind[4:]]
            return [None if v < 0 else off + v for v in items]
        if kind.startswith("refstr:"):  # "refstr:<table>:<prefix>": prefix + the row's id
            table, prefix = kind[7:].split(":", 1)
            off = self.offsets[table]
            return [None if v < 0 else f"{prefix}{off + v}" for v in items]
        if kind.startswith("refs:"):  # type * 2**40 + local row: one of several tables
            offs = [self.offsets[name] for name in kind[5:].split(",")]
            return [None if v < 0 else offs[v >> 40] + (v & MASK40) for v in items]
        raise ValueError(f"unknown column kind {kind}")


def day_of(start: date, day: int) -> date:
    return start + timedelta(days=day)
