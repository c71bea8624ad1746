"""Checks that pass on good data and fail, with the offending keys, on planted bad data; a failed
blocking check keeps the old snapshot published and makes `ecom pipeline run` exit 1."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import dagster as dg
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from ops_store.models import StockLevel, StockMovement
from pipelines.cli import app as pipeline_app
from pipelines.definitions import build_definitions
from pipelines.publish import published
from pipelines.runner import run_pipeline, step_failures
from pipelines.warehouse import open_warehouse
from tests.pipeline_support import SimShop

pytestmark = pytest.mark.slow


def _failed(result) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    return {c["check"]: c["metadata"] for p in result.phases for c in p.failed_checks}


def test_checks_pass_on_a_clean_load_and_fail_on_planted_warehouse_damage(sim: SimShop, pipeline_settings) -> None:  # type: ignore[no-untyped-def]
    first = run_pipeline(landing=False, models=False)
    assert first.success and not _failed(first)
    before = published(pipeline_settings)

    con = open_warehouse(pipeline_settings)
    product_id = con.execute("SELECT min(id) FROM raw.products").fetchone()[0]
    con.execute("INSERT INTO raw.products SELECT * FROM raw.products WHERE id = ?", [product_id])
    order_id, day = con.execute("SELECT id, CAST(placed_at AS DATE) FROM raw.orders ORDER BY id LIMIT 1").fetchone()
    con.execute("UPDATE raw.orders SET total = total + 0.01 WHERE id = ?", [order_id])
    con.close()

    second = run_pipeline(landing=False, models=False)
    failed = _failed(second)
    assert not second.success
    assert failed["raw/products:keys_unique"]["duplicated_keys"] == [[product_id]]
    assert failed["raw/products:rows_match_store"]["warehouse_rows"] == \
        failed["raw/products:rows_match_store"]["store_rows"] + 1
    assert [d["day"] for d in failed["raw/orders:orders_reconcile_per_day"]["differing_days"]] == [day.isoformat()]
    assert published(pipeline_settings) == before  # blocking checks kept the damaged build from readers

    # A full reload repairs both, and publishing resumes.
    third = run_pipeline(landing=False, models=False, full=True)
    assert third.success and not _failed(third)
    assert published(pipeline_settings) != before


@pytest.mark.file_warehouse_only("the CLI's exit code and message do not depend on the warehouse's form; the test "
                                  "above has blocking checks fail on a DuckLake and keep its published version")
def test_negative_stock_in_the_store_fails_the_check_and_the_cli_exits_1(sim: SimShop, pipeline_settings) -> None:  # type: ignore[no-untyped-def]
    store = sim.store()
    with store.read() as session:
        level = session.scalars(select(StockLevel).order_by(StockLevel.product_id)).first()
    planted = StockMovement(product_id=level.product_id, warehouse_id=level.warehouse_id, kind="adjustment",
                            unit_cost=Decimal("0"), quantity=-(level.on_hand + 5), reason="planted by a test",
                            actor="test", created_at=datetime.now(UTC))
    with store.write() as session:
        session.add(planted)
        session.flush()
        planted_id = planted.id
    try:
        result = CliRunner().invoke(pipeline_app, ["run", "--no-landing", "--no-models", "--json"])
        assert result.exit_code == 1, result.output
        summary = json.loads(result.stdout)
        failed = {c["check"]: c["metadata"] for p in summary["phases"] for c in p["failed_checks"]}
        assert failed["raw/stock_movements:no_negative_stock_check"]["negative_in_ledger"] == [
            [level.product_id, level.warehouse_id, -5]]
        text = CliRunner().invoke(pipeline_app, ["run", "--no-landing", "--no-models"], terminal_width=200).output
        assert "failed check raw/stock_movements:no_negative_stock_check" in text
        assert "The snapshot was not published" in text
    finally:
        with store.write() as session:
            session.execute(StockMovement.__table__.delete().where(StockMovement.id == planted_id))
        store.dispose()


# the guard is the warehouse's (the file's writer lock, or the lake's dbt lock), not the store's
@pytest.mark.timeout(900)
@pytest.mark.parametrize("sim", ["sqlite", pytest.param("postgresql-ducklake", marks=pytest.mark.postgres)],
                         indirect=True)
def test_a_failed_dbt_build_is_never_published_not_even_by_a_later_run_without_dbt(  # type: ignore[no-untyped-def]
        sim: SimShop, pipeline_settings) -> None:
    """(That the next build whose dbt steps finish publishes again is shown by the SIGKILL test in
    tests/test_faults_pipeline.py.)"""
    assert run_pipeline(landing=False, models=False).success  # store tables only (no dbt): published
    before = published(pipeline_settings)
    con = open_warehouse(pipeline_settings)  # a value only dbt's tests know to be wrong (accepted_values)
    order_id = con.execute("SELECT min(id) FROM raw.orders").fetchone()[0]
    con.execute("UPDATE raw.orders SET channel = 'carrier_pigeon' WHERE id = ?", [order_id])
    con.close()

    # dbt fails on fct_orders; the models and the publish never run. Through the CLI: with --json its
    # stdout is the summary alone, dbt's output goes to the dbt log file.
    build = CliRunner().invoke(pipeline_app, ["run", "--no-landing", "--json"])
    assert build.exit_code == 1, build.output[-3000:]
    summary = json.loads(build.stdout)
    assert not summary["success"] and any(f.startswith("dbt_build:") for p in summary["phases"] for f in p["failures"])
    assert list((pipeline_settings.dbt_dir / "logs").glob("dbt-build-*.log"))
    assert published(pipeline_settings) == before

    # The stock sensor's job reloads stock tables and publishes, without dbt: it refuses the half build.
    with dg.DagsterInstance.get() as instance:
        refresh = build_definitions().resolve_job_def("stock_refresh").execute_in_process(
            instance=instance, raise_on_error=False)
    failures = step_failures(refresh)
    assert not refresh.success and published(pipeline_settings) == before
    assert any("holds part of a dbt build" in f and "dbt step dbt_build of run" in f and "failed at" in f
               for f in failures), failures
