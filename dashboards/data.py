"""Read-only, cached queries on the published warehouse snapshot, scoped to the signed-in user.

Pages never open the warehouse themselves: they call ``fetch`` with SQL whose WHERE clause comes
from ``scoped``. ``scoped`` always adds the signed-in principal's merchant binding (taken from the
session, not from the page or the filters), so a merchant user's queries cannot return another
merchant's rows whatever a page asks for; a mart that cannot be cut by merchant is refused for a
merchant user. Results are cached per snapshot file, SQL and parameters: a new snapshot (the
pipeline published) is a new cache key, an old snapshot's connection is dropped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import streamlit as st

from dashboards.settings import DashboardSettings

CATALOG = "warehouse"  # the pipeline's warehouse file stem: dbt's views name their tables with it


class NoSnapshot(RuntimeError):
    """Nothing has been published yet."""


class MissingMart(RuntimeError):
    """A mart the page needs is not in the published snapshot."""

    def __init__(self, mart: str) -> None:
        super().__init__(mart)
        self.mart = mart


class NotForMerchants(RuntimeError):
    """The mart has no merchant column, so a merchant-bound user may not read it."""


@dataclass(frozen=True)
class Filters:
    """The sidebar's choices; an empty tuple means every value."""

    start: date
    end: date
    merchants: tuple[int, ...] = ()
    categories: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Filters:
        """The period of the same length just before this one."""
        from datetime import timedelta

        length = timedelta(days=self.days)
        return Filters(self.start - length, self.start - timedelta(days=1), self.merchants, self.categories,
                       self.channels, self.regions)


@dataclass(frozen=True)
class Columns:
    """Which column of a query's mart carries each filterable dimension (None: not in this mart)."""

    merchant: str | None = "merchant_id"
    day: str | None = None
    category: str | None = None
    channel: str | None = None
    region: str | None = None

    def ignored(self, filters: Filters) -> list[str]:
        """The filters set in the sidebar that this mart cannot apply (shown as a caption)."""
        chosen = {"category": filters.categories, "channel": filters.channels, "region": filters.regions,
                  "merchant": filters.merchants}
        return [name for name, values in chosen.items() if values and getattr(self, name) is None]


def bound_merchant() -> int | None:
    """The merchant the signed-in principal is bound to (None: all merchants, or no session)."""
    who = st.session_state.get("principal")
    if who is None:
        raise PermissionError("not signed in")
    return who.merchant_id


def scoped(columns: Columns, filters: Filters | None, *, extra: Iterable[str] = (),
           extra_params: Sequence[Any] = ()) -> tuple[str, list[Any]]:
    """``WHERE ...`` and its parameters: ``extra`` conditions (with their ``extra_params``), the
    principal's merchant, then the filters that apply to this mart. Values are always bound,
    never spliced into the SQL."""
    clauses: list[str] = list(extra)
    params: list[Any] = list(extra_params)
    bound = bound_merchant()
    if bound is not None:
        if columns.merchant is None:
            raise NotForMerchants("this view covers every merchant and is not available to merchant accounts")
        clauses.append(f"{columns.merchant} = ?")
        params.append(bound)
    if filters is not None:
        if columns.day:
            clauses.append(f"{columns.day} BETWEEN ? AND ?")
            params += [filters.start, filters.end]
        for values, column in ((filters.merchants, columns.merchant), (filters.categories, columns.category),
                               (filters.channels, columns.channel), (filters.regions, columns.region)):
            if values and column:
                clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
                params += list(values)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


def all_of(*wheres: str) -> str:
    """Join WHERE clauses from ``scoped`` (each 'WHERE ...' or '') into one."""
    clauses = [w.removeprefix("WHERE ") for w in wheres if w]
    return ("WHERE " + " AND ".join(clauses)) if clauses else ""


def settings() -> DashboardSettings:
    return DashboardSettings()


def snapshot() -> Path:
    path = settings().current_snapshot()
    if path is None or not path.exists():
        raise NoSnapshot(str(settings().snapshot_dir))
    return path


@st.cache_resource(max_entries=2, show_spinner=False)
def _connection(path: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.execute(f"ATTACH '{path.replace(chr(39), chr(39) * 2)}' AS {CATALOG} (READ_ONLY)")
    return con


def _cursor(path: str) -> duckdb.DuckDBPyConnection:
    """A cursor per query: one connection is shared by every session's thread, cursors are not."""
    cursor = _connection(path).cursor()
    cursor.execute(f"USE {CATALOG}")
    return cursor


@st.cache_data(max_entries=64, show_spinner=False)
def _tables(path: str) -> frozenset[str]:
    rows = _cursor(path).execute(
        "SELECT schema_name || '.' || table_name FROM duckdb_tables() WHERE database_name = ? "
        "UNION ALL SELECT schema_name || '.' || view_name FROM duckdb_views() WHERE database_name = ?",
        [CATALOG, CATALOG]).fetchall()
    return frozenset(r[0] for r in rows)


@st.cache_data(max_entries=2048, show_spinner=False)
def _run(path: str, sql: str, params: tuple[Any, ...]) -> pd.DataFrame:
    return _cursor(path).execute(sql, list(params)).df()


def has(*relations: str) -> bool:
    """Whether every relation (``schema.table``) is in the published snapshot."""
    tables = _tables(str(snapshot()))
    return all(r in tables for r in relations)


def fetch(sql: str, params: Sequence[Any] = (), *, needs: Sequence[str]) -> pd.DataFrame:
    """Run a read-only query on the current snapshot (cached); ``needs`` names the relations it
    reads, so a missing one gives MissingMart (a friendly message) instead of a traceback."""
    path = str(snapshot())
    tables = _tables(path)
    for relation in needs:
        if relation not in tables:
            raise MissingMart(relation)
    return _run(path, sql, tuple(params)).copy()


def snapshot_published_at() -> float:
    return snapshot().stat().st_mtime


def run_log(limit: int = 50) -> list[dict[str, Any]]:
    """The pipeline's latest finished runs, newest first (the journal lives beside the snapshots,
    so a failed run, which publishes nothing, is still seen)."""
    path = settings().run_log
    if not path.exists():
        return []
    runs: dict[str, dict[str, Any]] = {}
    for line in path.read_text().splitlines()[-limit * 4:]:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line being written right now
        runs[record["run_id"]] = record
    return sorted(runs.values(), key=lambda r: r.get("finished_at", ""), reverse=True)[:limit]
