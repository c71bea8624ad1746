"""Publishing refuses a warehouse that holds part of a dbt build.

dbt replaces the marts one model at a time, so a dbt step killed or failed half-way leaves some
marts rebuilt and others not (and, after a failed test, data that test rejected). The run it
belonged to never publishes; but a later run without dbt (`stock_refresh`: stock tables, then
publish) would have published that half build. So each dbt step writes `started` for every model
it selected to meta.dbt_step_log before dbt runs, and `finished` or `failed` for all of them when
it is over (under the dbt lock both times); `publish()` checks, under the same lock, that every
model's latest entry is `finished`, and otherwise refuses, naming the models, the run and what to
do. Keyed by model, not by step: a later build of the same models, in whatever job or step
layout, clears them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pipelines.warehouse import create_if_missing, replace_rows, table_exists

FULL_REFRESH_TAG = "ecom/dbt_full_refresh"  # a run tagged "true" rebuilds the incremental models whole
DBT_LOCK = "dbt models"  # ducklake mode: held by a dbt step for its whole build, and by a publish
STEP_LOG_DDL = ("CREATE SCHEMA IF NOT EXISTS meta; CREATE TABLE IF NOT EXISTS meta.dbt_step_log "
                "(model VARCHAR NOT NULL, step VARCHAR NOT NULL, run_id VARCHAR NOT NULL, event VARCHAR NOT NULL, "
                "at_time TIMESTAMP NOT NULL)")
EVENTS = ("started", "finished", "failed")


class HalfBuilt(RuntimeError):
    """The warehouse holds part of a dbt build: not published."""


def mark(con: Any, models: Iterable[str], step: str, run_id: str, event: str) -> None:
    """Record that the dbt step `step` of run `run_id` started, finished or failed building
    `models` (their asset keys, e.g. "marts/fct_orders"); only each model's latest entry is kept."""
    if event not in EVENTS:
        raise ValueError(f"event: {event!r} is not one of {', '.join(EVENTS)}")
    create_if_missing(con, STEP_LOG_DDL)
    at = datetime.now(UTC).replace(tzinfo=None)
    replace_rows(con, "meta.dbt_step_log", "model", [(m, step, run_id, event, at) for m in sorted(set(models))])


def unfinished(con: Any) -> list[tuple[str, str, str, datetime, list[str]]]:
    """(step, run_id, event, at, models) for each dbt step whose models' latest entry is not
    `finished`."""
    if not table_exists(con, "meta.dbt_step_log"):
        return []
    return con.execute("SELECT step, run_id, event, max(at_time), list(model ORDER BY model) FROM meta.dbt_step_log "
                       "WHERE event <> 'finished' GROUP BY ALL ORDER BY 4").fetchall()


def check_whole(con: Any) -> None:
    """Raise HalfBuilt when a dbt step did not finish (see the module docstring)."""
    steps = unfinished(con)
    if steps:
        what = "; ".join(_described(*step) for step in steps)
        raise HalfBuilt(f"not published: the warehouse holds part of a dbt build ({what}). Readers keep the "
                        "snapshot published before. Fix what failed and run `ecom pipeline run`, which rebuilds "
                        "and then publishes.")


def _described(step: str, run_id: str, event: str, at: datetime, models: list[str]) -> str:
    when = f"{at:%Y-%m-%d %H:%M:%S} UTC"
    how = f"failed at {when}" if event == "failed" else f"started at {when} and never finished"
    shown = ", ".join(models[:3]) + (f" and {len(models) - 3} more" if len(models) > 3 else "")
    return f"dbt step {step} of run {run_id} {how}, building {shown}"
