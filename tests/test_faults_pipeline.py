"""The pipeline killed with SIGKILL (its whole process group: dbt and any step worker with it) at a
seeded random point of the ingestion, of the dbt build and of the snapshot copy, then run again:
the warehouse ends identical to an uninterrupted run's, the published snapshot is never broken
or half a build meanwhile (a reader keeps opening it), and no lock or leftover file stops the
next run. And a carrier's clock behind: the delivery marts flag the parcels and never count a
negative delivery time. Real Dagster, dbt and DuckDB on a small simulated shop.

The seed is ECOM_FAULT_SEED (default below); every kill point is printed (shown on failure)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import select

from ops_store.models import Shipment, TrackingEvent
from ops_store.services import orders as order_service
from ops_store.services import shipping
from pipelines.dbt_assets import DBT_DIR, dbt_env, dbt_project
from pipelines.definitions import build_definitions
from pipelines.publish import open_snapshot
from pipelines.runner import PipelineResult, prepare_environment, run_pipeline, step_failures
from pipelines.settings import PipelineSettings
from pipelines.store_tables import table_specs
from pipelines.warehouse import open_warehouse
from tests.pipeline_fault_support import (
    DBT_SCHEMAS,
    BuildWatch,
    PipelineChild,
    SnapshotReader,
    group_members,
    kill_when,
    warehouse_checksums,
    writer_lock_is_free,
)
from tests.pipeline_support import SimShop, another_warehouse, order_document

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
SEED = int(os.environ.get("ECOM_FAULT_SEED", "20261212"))  # k=19 of 41 tables, m=12 models, f=0.31
ON_SQLITE = pytest.mark.parametrize("sim", ["sqlite"], indirect=True)  # the store's side is not under test


def _ok(result: PipelineResult) -> None:
    assert result.success, [(p.phase, p.failed_checks, p.failures) for p in result.phases]


def _place_orders(sim: SimShop, prefix: str, n: int) -> None:
    store = sim.store()
    try:
        for i in range(n):
            order_service.place_order(store, order_document(store, f"{prefix}-{i}"))
    finally:
        store.dispose()


def _published(settings: PipelineSettings) -> str:
    con = open_snapshot(settings)
    try:
        return con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()[0]
    finally:
        con.close()


def _partials(settings: PipelineSettings) -> list[Path]:
    return sorted(settings.snapshot_dir.glob(".warehouse-*.partial"))


def _assert_killed_cleanly(settings: PipelineSettings, published_before: str, members: list[tuple[int, str]]) -> None:
    assert members, "nothing was running at the kill"
    assert writer_lock_is_free(settings), "the killed run's writer lock outlived it"
    assert _published(settings) == published_before, "a killed run changed the published snapshot"


def _baseline(sim: SimShop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lake_catalog: Callable[[], str],
              *, models: bool) -> dict[str, tuple[int, int]]:
    """An uninterrupted run from an empty warehouse, on the same store: its checksums."""
    clean = another_warehouse(monkeypatch, tmp_path / "uninterrupted", sim, lake_catalog)
    _ok(run_pipeline(models=models, settings=clean))
    return warehouse_checksums(clean)


@ON_SQLITE
def test_killed_in_ingestion_in_the_dbt_build_and_in_the_snapshot_copy_then_rerun_ends_like_an_uninterrupted_run(  # type: ignore[no-untyped-def]
        sim: SimShop, pipeline_settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lake_catalog) -> None:
    """Three runs killed in turn, each at a point drawn from one seeded RNG: in the ingestion (k
    store tables loaded), in the snapshot copy (a fraction f of the warehouse copied, the lock
    held) and in the dbt build (m models built, dbt running, the writer lock held), after which a
    run without dbt may not publish. One run that ends, and one uninterrupted run from an empty
    warehouse to compare with."""
    settings = pipeline_settings
    rng = random.Random(SEED)
    tables = len(table_specs())
    _ok(run_pipeline(models=False))  # a published snapshot (no marts yet) for the reader from the start
    first = _published(settings)
    reader = SnapshotReader(settings)
    reader.start()
    _place_orders(sim, f"KILL-{SEED}", 2)  # the killed runs and the last one have more to load
    points: list[str] = []

    def killed(point: str, members: list[tuple[int, str]]) -> None:
        points.append(point)
        print(f"seed {SEED}: {point}")
        _assert_killed_cleanly(settings, first, members)

    prepare_environment(settings)
    with dg.DagsterInstance.get() as instance:
        # 1. Ingestion (`--no-models`, the quicker to start): once k of the store tables are loaded.
        k = rng.randrange(2, tables - 2)
        watch = BuildWatch.before(instance)
        child = PipelineChild(tmp_path / "ingest-kill.log", models=False).start()
        loaded: list[int] = []

        def tables_loaded() -> str | None:
            loaded.append(len([key for key in watch.materialized() if key.path[0] == "raw"]))
            return f"ingestion: killed after {loaded[-1]} of {tables} tables (target {k})" if loaded[-1] >= k \
                else None

        killed(*kill_when(child, tables_loaded))
        assert k <= loaded[-1] < tables, points  # some tables loaded, others not

        # 2. Publishing (`--no-models`): while the snapshot copy is written, once it holds a fraction f
        # of the warehouse (the child writes the copy in small blocks with pauses, to leave the time).
        # Before the dbt kill: after it, nothing publishes until dbt has built everything again.
        fraction = rng.uniform(0.05, 0.95)
        child = PipelineChild(tmp_path / "publish-kill.log", models=False, slow_copy_s=0.02).start()

        def copy_under_way() -> str | None:
            for partial in _partials(settings):
                size, total = partial.stat().st_size, settings.warehouse_path.stat().st_size
                # the publisher copies under the writer lock: held at the kill, free after it
                if size >= fraction * total and not writer_lock_is_free(settings):
                    return f"publishing: killed with {partial.name} at {size} of {total} bytes (target {fraction:.2f})"
            return None

        killed(*kill_when(child, copy_under_way, poll_s=0.002))
        assert _partials(settings), "the kill landed after the copy: the test proved nothing"

        # 3. The dbt build: dbt runs as a subprocess of the step; the kill takes the group, dbt
        # with it, once m models are built while dbt runs (under the writer lock).
        m = rng.randrange(3, 30)
        watch = BuildWatch.before(instance)
        child = PipelineChild(tmp_path / "dbt-kill.log", models=True).start()
        dbt_pids: list[int] = []

        def dbt_under_way() -> str | None:
            built = [key for key in watch.materialized() if key.path[0] in DBT_SCHEMAS]
            if len(built) < m:
                return None
            dbt = [pid for pid, command in group_members(child.pgid) if "dbt" in command and " build" in command]
            if not dbt or writer_lock_is_free(settings):
                return None
            dbt_pids.extend(dbt)
            return f"dbt build: killed after {len(built)} models (target {m}), dbt pid {dbt[0]} running"

        point, members = kill_when(child, dbt_under_way, poll_s=0.02)
        killed(point, members)
        assert {pid for pid, _ in members} >= set(dbt_pids), "dbt was not in the killed group"
        assert not any(_alive(pid) for pid in dbt_pids), "dbt outlived the kill"
        assert not [key for key in watch.materialized() if key.path[0] == "ml"]  # killed before the models

        # A run without dbt (the stock sensor's job) in between does not publish the half build.
        refresh = build_definitions().resolve_job_def("stock_refresh").execute_in_process(
            instance=instance, raise_on_error=False)
        failures = step_failures(refresh)
        assert not refresh.success and any("holds part of a dbt build" in f for f in failures), failures
        assert _published(settings) == first

    # 4. Run again to the end: the leftover copy is cleared, the new build published.
    result = run_pipeline(models=True)
    reader.stop()
    _ok(result)
    assert not _partials(settings), "a half-written snapshot copy outlived the next publish"
    assert writer_lock_is_free(settings)
    assert not reader.errors, f"seed {SEED}, {points}: {reader.errors[0]}"
    reads = reader.reads
    assert len(reads) > 20
    before, after = reads[0].orders, reads[0].orders + 2
    assert {(r.orders, r.fct_orders) for r in reads} <= {(before, None), (after, after)}, points
    assert (reads[-1].orders, reads[-1].fct_orders) == (after, after)  # the first build, then the last: nothing between

    recovered = warehouse_checksums(settings)
    assert {"raw.orders", "marts.fct_orders", "staging.stg_store__orders", "meta.watermarks"} <= set(recovered)
    baseline = _baseline(sim, tmp_path, monkeypatch, lake_catalog, models=True)
    differing = sorted(k for k in baseline.keys() | recovered.keys() if baseline.get(k) != recovered.get(k))
    assert not differing, f"seed {SEED}, {points}: these differ from an uninterrupted run: {differing}"


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


# --- a carrier's clock behind -----------------------------------------------------------------

@ON_SQLITE
def test_a_carrier_clock_behind_is_flagged_and_never_counts_a_negative_delivery_time(  # type: ignore[no-untyped-def]
        sim: SimShop, pipeline_settings) -> None:
    settings = pipeline_settings
    store = sim.store()
    with store.read() as session:
        parcels = session.execute(
            select(Shipment.id, Shipment.tracking_number, Shipment.shipped_at)
            .where(Shipment.status == "in_transit", Shipment.delivered_at.is_(None),
                   ~select(TrackingEvent.id).where(TrackingEvent.shipment_id == Shipment.id,
                                                   TrackingEvent.status == "exception").exists())
            .order_by(Shipment.id.desc()).limit(3)).all()
    assert len(parcels) == 3
    early, skewed, scanned = parcels
    # A same-day courier whose clock is 2 h behind: "delivered" stamped before the parcel was shipped.
    view = shipping.record_tracking_event(store, early.tracking_number, "delivered",
                                          occurred_at=early.shipped_at - timedelta(hours=2))
    assert view["status"] == "delivered" and view["delivered_at"] < view["shipped_at"]  # kept as sent
    # "out for delivery" stamped an hour after shipping, before the pick-up 2 h after it: the parcel
    # stays in transit (its latest event by time), then is delivered with a right clock.
    view = shipping.record_tracking_event(store, skewed.tracking_number, "out_for_delivery",
                                          occurred_at=skewed.shipped_at + timedelta(hours=1))
    assert view["status"] == "in_transit"
    shipping.record_tracking_event(store, skewed.tracking_number, "delivered",
                                   occurred_at=skewed.shipped_at + timedelta(hours=30))
    # A late "picked up" stamped after the parcel was already in transit does not move it back.
    view = shipping.record_tracking_event(store, scanned.tracking_number, "picked_up",
                                          occurred_at=scanned.shipped_at + timedelta(hours=9))
    assert view["status"] == "in_transit", "a late pick-up scan moved the parcel's status backwards"
    store.dispose()

    _ok(run_pipeline(landing=False, models=False))
    dbt = str(Path(sys.executable).with_name("dbt"))
    build = subprocess.run([dbt, "build", "--select", "+delivery_performance", "+merchant_delivery_daily",
                            "+tracking_clock_anomalies", "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR),
                            "--target-path", str(dbt_project(settings).target_path)],
                           env={**os.environ, **dbt_env(settings)}, capture_output=True, text=True)
    assert build.returncode == 0, build.stdout[-3000:]  # every dbt test of these marts passes

    con = open_warehouse(settings, read_only=True)
    try:
        facts = {sid: (days, flagged) for sid, days, flagged in con.execute(
            "SELECT shipment_id, delivery_days, has_clock_anomaly FROM intermediate.int_shipments_tracked "
            "WHERE delivery_days IS NOT NULL OR has_clock_anomaly").fetchall()}
        anomalies = con.execute("SELECT shipment_id, status, earlier_status, seconds_early, reason "
                                "FROM marts.tracking_clock_anomalies ORDER BY shipment_id, occurred_at").fetchall()
        weekly = con.execute("SELECT sum(shipments_with_clock_anomaly), min(avg_delivery_days) "
                             "FROM marts.delivery_performance").fetchone()
        daily = con.execute("SELECT sum(shipments_with_clock_anomaly), min(delivery_days_sum) "
                            "FROM marts.merchant_delivery_daily").fetchone()
    finally:
        con.close()
    assert min(days for days, _ in facts.values() if days is not None) >= 0
    assert facts[early.id] == (0.0, True)  # clamped, and flagged
    assert facts[skewed.id] == (pytest.approx(30 / 24), True)  # a true duration, flagged for its odd event
    assert {sid for sid, (_, flagged) in facts.items() if flagged} == {early.id, skewed.id}  # no false alarm
    by_parcel = {sid: (status, earlier, seconds, reason) for sid, status, earlier, seconds, reason in anomalies}
    assert len(anomalies) == 2
    assert by_parcel[early.id][:2] == ("delivered", "in_transit")  # the latest earlier step it precedes
    assert by_parcel[early.id][2] == 10 * 3600  # in transit 8 h after shipping, delivered 2 h before it
    assert by_parcel[early.id][3].startswith("delivered stamped 10.0 h before in_transit")
    assert by_parcel[skewed.id][:3] == ("out_for_delivery", "in_transit", 7 * 3600)
    assert weekly[0] == daily[0] == 2
    assert weekly[1] >= 0 and daily[1] >= 0
