"""The keys_unique check (pipelines/reconcile.py): every key grouped after a full load or when the
store screen failed; after an incremental load of a table keyed by id, the ids the load wrote."""

from __future__ import annotations

import duckdb

from pipelines.extract import LoadResult, _duplicated_ids_written
from pipelines.reconcile import keys_unique
from pipelines.store_tables import specs_by_group

ORDER_EVENTS = next(s for specs in specs_by_group().values() for s in specs if s.name == "order_events")


def _warehouse(ids: list[int], written: list[int]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA raw")
    con.execute("CREATE TABLE raw.order_events AS SELECT unnest(?::BIGINT[]) AS id", [ids])
    con.execute("CREATE TEMP TABLE _changes AS SELECT unnest(?::BIGINT[]) AS id", [written])
    return con


def _load(duplicated: list[int] | None, mode: str = "incremental") -> LoadResult:
    return LoadResult("order_events", mode, 3, 10, None, 0.1, duplicated)  # type: ignore[arg-type]


def test_a_load_finds_the_duplicates_among_the_ids_it_wrote_and_only_those() -> None:
    con = _warehouse([1, 2, 2, 3, 7, 7, 8, 9], written=[6, 7, 8])
    assert _duplicated_ids_written(con, ORDER_EVENTS) == [7]  # 2 is twice too, but this load did not write it
    con = _warehouse([1, 2, 3], written=[])
    assert _duplicated_ids_written(con, ORDER_EVENTS) == []


def test_the_check_trusts_the_loads_scope_only_when_the_store_screen_passed() -> None:
    con = _warehouse([1, 2, 2, 3], written=[3])
    scoped = keys_unique(con, ORDER_EVENTS, _load([]), store_screen_passed=True)
    assert scoped.passed and scoped.metadata["scope"] == "ids this load wrote"
    # the duplicate of 2 adds a row the store does not have: the screen fails, every key is grouped
    whole = keys_unique(con, ORDER_EVENTS, _load([]), store_screen_passed=False)
    assert not whole.passed and whole.metadata["duplicated_keys"] == [[2]]
    assert not keys_unique(con, ORDER_EVENTS, _load(None, "full"), store_screen_passed=True).passed
    found = keys_unique(con, ORDER_EVENTS, _load([3]), store_screen_passed=True)
    assert not found.passed and found.metadata["duplicated_keys"] == [[3]]
