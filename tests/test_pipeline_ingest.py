"""The pipeline against a simulated shop on SQLite and PostgreSQL: full load, incremental load,
idempotent re-run, a run killed midway, personal data kept out, and readers of the published
snapshot while a run writes. Real Dagster runs in-process, real DuckDB files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from sqlalchemy import func, select, text

from ops_store.models import Base, Customer, Order
from ops_store.services import customers as customer_service
from ops_store.services import orders as order_service
from pipelines.dbt_assets import DBT_DIR, dbt_env, dbt_project, ensure_manifest
from pipelines.publish import open_snapshot
from pipelines.runner import prepare_environment, run_pipeline
from pipelines.store_tables import table_specs
from pipelines.warehouse import open_warehouse
from tests.pipeline_support import SimShop, another_warehouse, checksums, order_document

pytestmark = pytest.mark.slow


def _ok(result) -> None:  # type: ignore[no-untyped-def]
    assert result.success, [(p.phase, p.failed_checks, p.failures) for p in result.phases]


def _store_counts(sim: SimShop) -> dict[str, int]:
    store = sim.store()
    try:
        with store.read() as session:
            return {spec.name: session.execute(select(func.count()).select_from(Base.metadata.tables[spec.name]))
                    .scalar_one() for spec in table_specs()}
    finally:
        store.dispose()


def _latest_metadata(key: list[str], name: str) -> object:
    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(key))
    assert event is not None and event.asset_materialization is not None
    return event.asset_materialization.metadata[name].value


def test_full_run_loads_every_table_publishes_and_reruns_idempotently(sim: SimShop, pipeline_settings) -> None:  # type: ignore[no-untyped-def]
    _ok(run_pipeline(models=False))
    con = open_snapshot(pipeline_settings)
    try:
        warehouse = {t: n for t, n in con.execute(
            "SELECT table_name, estimated_size FROM duckdb_tables() WHERE schema_name = 'raw'").fetchall()}
        for table, n in _store_counts(sim).items():
            assert con.execute(f"SELECT count(*) FROM raw.{table}").fetchone()[0] == n, table
        ours = con.execute("SELECT sum(total), sum(discount) FROM raw.orders").fetchone()
        events = con.execute("SELECT count(*), count(DISTINCT event_on) FROM raw.events").fetchone()
        prices = con.execute("SELECT count(*), min(price) FROM raw.competitor_prices").fetchone()
        quarantined = con.execute("SELECT count(*) FROM meta.quarantine").fetchone()[0]
    finally:
        con.close()
    assert {"events", "competitor_prices"} <= set(warehouse)
    store = sim.store()
    with store.read() as session:
        theirs = session.execute(select(func.sum(Order.total), func.sum(Order.discount))).one()
    store.dispose()
    assert tuple(ours) == (Decimal(theirs[0]), Decimal(theirs[1]))  # exact, to the cent
    landed = sum(duckdb.sql(f"SELECT count(*) FROM '{p}'").fetchone()[0]
                 for p in (pipeline_settings.landing_dir / "events").glob("dt=*/*.parquet"))
    assert events[0] == landed and events[1] > 30
    assert prices[0] > 0 and prices[1] > 0
    assert quarantined == 0  # the simulator writes clean files

    before = checksums(pipeline_settings)
    _ok(run_pipeline(models=False))
    assert checksums(pipeline_settings) == before  # a re-run changes nothing


def test_incremental_load_takes_new_orders_status_changes_and_erasure(sim: SimShop, pipeline_settings, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      lake_catalog) -> None:
    _ok(run_pipeline(landing=False, models=False))
    store = sim.store()
    placed = [order_service.place_order(store, order_document(store, f"PIPE-{sim.backend}-{n}")) for n in range(3)]
    order_service.cancel_order(store, placed[0]["order_id"], reason="changed mind")
    with store.read() as session:
        moved = session.scalar(select(Order.id).where(Order.status == "delivered").order_by(Order.id))
        erased = session.scalar(select(Customer.id).where(Customer.erased_at.is_(None)).order_by(Customer.id.desc()))
    order_service.complete_order(store, moved)
    customer_service.erase_customer(store, erased)
    total_orders = _store_counts(sim)["orders"]
    store.dispose()

    _ok(run_pipeline(landing=False, models=False))
    assert _latest_metadata(["raw", "orders"], "mode") == "incremental"
    assert _latest_metadata(["raw", "orders"], "rows_read") < total_orders / 4  # only what changed, plus overlap
    con = open_snapshot(pipeline_settings)
    try:
        statuses = dict(con.execute("SELECT id, status FROM raw.orders WHERE id IN (?, ?, ?)",
                                    [placed[0]["order_id"], placed[1]["order_id"], moved]).fetchall())
        erased_ref = con.execute("SELECT customer_ref FROM raw.customers WHERE id = ?", [erased]).fetchone()[0]
        assert con.execute("SELECT count(*) FROM raw.orders").fetchone()[0] == total_orders
    finally:
        con.close()
    assert statuses == {placed[0]["order_id"]: "cancelled", placed[1]["order_id"]: placed[1]["status"],
                        moved: "completed"}
    assert erased_ref.startswith("erased-")

    incremental = checksums(pipeline_settings)
    full = another_warehouse(monkeypatch, tmp_path / "full", sim, lake_catalog)
    _ok(run_pipeline(landing=False, models=False, full=True))
    assert checksums(full) == incremental  # incremental == full reload


def test_run_killed_midway_then_rerun_ends_like_an_uninterrupted_run(sim: SimShop, pipeline_settings, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     lake_catalog) -> None:
    home = prepare_environment(pipeline_settings)
    code = "from pipelines.runner import run_pipeline; run_pipeline(landing=False, models=False)"
    child = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "DAGSTER_HOME": str(home)},
                             start_new_session=True)
    deadline = time.monotonic() + 120
    killed_after = 0
    with dg.DagsterInstance.get() as instance:
        while time.monotonic() < deadline and child.poll() is None:
            runs = instance.get_runs(limit=1)
            if runs:
                killed_after = len(instance.all_logs(runs[0].run_id,
                                                     of_type=dg.DagsterEventType.ASSET_MATERIALIZATION))
                if killed_after >= 5:
                    os.killpg(child.pid, signal.SIGKILL)
                    break
            time.sleep(0.05)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert 5 <= killed_after < len(table_specs())  # killed with some tables loaded and others not

    _ok(run_pipeline(landing=False, models=False))
    recovered = checksums(pipeline_settings)
    clean = another_warehouse(monkeypatch, tmp_path / "clean", sim, lake_catalog)
    _ok(run_pipeline(landing=False, models=False))
    assert checksums(clean) == recovered


def _not_null_columns(settings) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(model, column) of every not_null constraint the dbt project declares."""
    manifest = json.loads(ensure_manifest(dbt_project(settings), settings).read_text())
    return {(node["name"], column["name"]) for node in manifest["nodes"].values() if node["resource_type"] == "model"
            for column in node["columns"].values()
            if any(c["type"] == "not_null" for c in column.get("constraints", []))}


# The file warehouse on the SQLite store, and the lake on the PostgreSQL store: loading from each
# store into each warehouse form is covered by the tests above on all three shops.
@pytest.mark.parametrize("sim", ["sqlite", pytest.param("postgresql-ducklake", marks=pytest.mark.postgres)],
                         indirect=True)
def test_a_full_build_makes_the_marts_with_their_checks_and_no_personal_data(sim: SimShop, pipeline_settings) -> None:  # type: ignore[no-untyped-def]
    result = run_pipeline()
    _ok(result)
    with dg.DagsterInstance.get() as instance:
        build = instance.all_logs(result.phases[-1].run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    dbt_checks = {e.dagster_event.asset_check_evaluation_data.asset_check_key.to_user_string() for e in build}
    assert "marts/fct_orders:unique_fct_orders_order_id" in dbt_checks  # dbt tests are Dagster checks
    marts = open_snapshot(pipeline_settings)
    try:
        net, orders = marts.execute("SELECT sum(net_revenue), count(*) FROM marts.fct_orders").fetchone()
        assert orders == _store_counts(sim)["orders"] and net > 0
        # The columns the models declare never null are NOT NULL in the warehouse itself (an
        # enforced contract's constraint, not a test that reads the table again after the build).
        declared = _not_null_columns(pipeline_settings)
        assert ("fct_orders", "customer_id") in declared and len(declared) > 200
        nullable = {(t, c) for t, c, n in marts.execute(
            "SELECT table_name, column_name, is_nullable FROM information_schema.columns "
            "WHERE table_schema = 'marts'").fetchall() if n == "YES"}
        assert not declared & nullable
    finally:
        marts.close()
    con = open_warehouse(pipeline_settings)  # the run is over: nothing else writes
    try:
        with pytest.raises(duckdb.ConstraintException, match="NOT NULL constraint failed.*customer_id"):
            con.execute("INSERT INTO marts.fct_orders BY NAME SELECT * REPLACE (NULL AS customer_id) "
                        "FROM marts.fct_orders LIMIT 1")
    finally:
        con.close()
    dbt = str(Path(sys.executable).with_name("dbt"))
    docs = subprocess.run([dbt, "docs", "generate", "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR),
                           "--target-path", str(pipeline_settings.dbt_dir / "docs")],
                          env={**os.environ, **dbt_env(pipeline_settings)}, capture_output=True, text=True)
    assert docs.returncode == 0, docs.stdout[-2000:]
    catalog = json.loads((pipeline_settings.dbt_dir / "docs" / "catalog.json").read_text())
    assert "model.ecom.customer_rfm" in catalog["nodes"] and "source.ecom.store.orders" in catalog["sources"]
    store = sim.store()
    with store.read() as session:
        people = session.execute(select(Customer.name_enc, Customer.email_enc, Customer.phone_enc)
                                 .where(Customer.erased_at.is_(None))).all()
    needles = sorted({store.cipher.decrypt(v) for row in people for v in row if v})
    store.dispose()
    assert len(needles) > 100 and any("@" in n for n in needles)
    con = open_snapshot(pipeline_settings)
    try:
        con.execute("CREATE TEMP TABLE needles (v VARCHAR)")
        con.executemany("INSERT INTO needles VALUES (?)", [[n] for n in needles])
        columns = con.execute("SELECT schema_name, table_name, column_name FROM duckdb_columns() "
                              "WHERE database_name = current_database() AND data_type = 'VARCHAR' AND schema_name IN "
                              "('raw', 'meta', 'staging', 'intermediate', 'marts')").fetchall()
        assert len(columns) > 50
        for schema, table, column in columns:
            hits = con.execute(f'SELECT DISTINCT t."{column}" FROM {schema}.{table} t JOIN needles n '
                               f'ON strpos(t."{column}", n.v) > 0 LIMIT 3').fetchall()
            assert not hits, f"{schema}.{table}.{column} holds personal data: {hits}"
            emails = con.execute(f"SELECT count(*) FROM {schema}.{table} "
                                 f"WHERE regexp_matches(\"{column}\", '[^@ ]+@[^@ ]+\\.[a-z]{{2,}}')").fetchone()[0]
            assert emails == 0, f"{schema}.{table}.{column} holds e-mail addresses"
        customer_columns = {r[0] for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = 'raw' AND table_name = 'customers'").fetchall()}
    finally:
        con.close()
    assert customer_columns == {"id", "customer_ref", "region", "country", "preferred_categories", "erased_at",
                                "created_at", "updated_at"}


@pytest.mark.file_warehouse_only("on a DuckLake, test_pipeline_ducklake.py has a reader process read the published "
                                  "build while a writer is between two commits (this thread version takes 4 min there)")
def test_readers_of_the_snapshot_never_fail_or_see_half_a_build(sim: SimShop, pipeline_settings) -> None:  # type: ignore[no-untyped-def]
    _ok(run_pipeline(landing=False, models=False))
    store = sim.store()
    for n in range(2):
        order_service.place_order(store, order_document(store, f"SNAP-{sim.backend}-{n}"))
    store.dispose()
    con = open_snapshot(pipeline_settings)
    before = con.execute("SELECT count(*) FROM raw.orders").fetchone()[0]
    con.close()
    seen: list[int] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def read_continuously() -> None:
        while not stop.is_set():
            try:
                reader = open_snapshot(pipeline_settings)
                orders, lines = reader.execute("SELECT (SELECT count(*) FROM raw.orders), "
                                               "(SELECT count(DISTINCT order_id) FROM raw.order_lines)").fetchone()
                reader.close()
                seen.append(orders)
                if orders != lines:
                    raise AssertionError(f"a half-built snapshot: {orders} orders but lines of {lines}")
            except BaseException as exc:  # noqa: BLE001 - every failure of a reader is the finding
                errors.append(exc)
                return

    thread = threading.Thread(target=read_continuously)
    thread.start()
    try:
        _ok(run_pipeline(full=True, models=False))
    finally:
        time.sleep(0.3)
        stop.set()
        thread.join()
    assert not errors, errors[0]
    assert len(seen) > 20
    assert set(seen) <= {before, before + 2} and seen[-1] == before + 2


def test_the_store_url_may_carry_a_schema(sim: SimShop, pipeline_settings) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL stores in a schema other than public (how the tests run) load like any other."""
    if sim.backend != "postgresql":
        assert sim.url.startswith("sqlite")
        return
    from pipelines.warehouse import pg_schema

    store = sim.store()
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT current_schema()")).scalar_one() == pg_schema(sim.url) != "public"
    store.dispose()
