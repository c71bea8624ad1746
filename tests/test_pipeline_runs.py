"""How `ecom pipeline run` runs: under Dagster's multiprocess executor with the instance in
PostgreSQL (the set-up a cluster runs: one process per step, runs and events in a shared
database; a real Dagster run and a real PostgreSQL database made and dropped by the test), and
what an incremental run does again (landing partitions whose files changed, models only when
their training is due)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from pipelines.runner import prepare_environment, run_pipeline
from pipelines.settings import PipelineSettings
from tests.pipeline_support import SIM, pipeline_env, simulated_shop

pytestmark = pytest.mark.slow


@pytest.fixture
def dagster_db(pg_url: str) -> Iterator[str]:
    """A database of its own for Dagster's storage (the URL as the store's tests write it: +psycopg)."""
    name = f"ecom_dagster_{uuid.uuid4().hex[:10]}"
    server = make_url(pg_url).difference_update_query(["options"])
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.timeout(900)
def test_multiprocess_run_with_the_instance_in_postgresql(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          dagster_db: str) -> None:
    with simulated_shop("sqlite", tmp_path / "shop", None, replace(SIM, orders=400, days=20)) as shop:
        (tmp_path / "run").mkdir()
        settings = pipeline_env(monkeypatch, tmp_path / "run", shop)
        monkeypatch.setenv("ECOM_DAGSTER_STORAGE_URL", dagster_db)
        monkeypatch.setenv("ECOM_PIPELINE_EXECUTOR", "multiprocess")

        result = run_pipeline(landing=False, models=False)
        assert result.success, [(p.phase, p.failed_checks, p.failures) for p in result.phases]
        run_id = result.phases[0].run_id

        # The instance file names the variable, never the password or the URL.
        config = (settings.dagster_home / "dagster.yaml").read_text()
        assert "env: ECOM_DAGSTER_STORAGE_URL" in config and dagster_db not in config

        # The run and its events are in PostgreSQL, where another machine's webserver would read them.
        engine = create_engine(dagster_db)
        try:
            with engine.connect() as conn:
                assert conn.execute(text("SELECT count(*) FROM runs WHERE run_id = :r"), {"r": run_id}).scalar() == 1
                logged = conn.execute(text("SELECT count(*) FROM event_logs WHERE run_id = :r"),
                                      {"r": run_id}).scalar()
        finally:
            engine.dispose()
        assert logged and logged > 50

        # Every step ran in a process of its own, not in this one.
        with dg.DagsterInstance.get() as instance:
            started = instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START)
        pids = {record.dagster_event.pid for record in started if record.dagster_event}
        assert len(started) >= 3 and os.getpid() not in pids and len(pids) == len(started)

        # What the steps loaded is the store, table by table (the blocking checks passed too).
        con = duckdb.connect(str(settings.warehouse_path), read_only=True)
        try:
            loaded = con.execute("SELECT count(*) FROM raw.orders").fetchone()
        finally:
            con.close()
        store = shop.store()
        try:
            with store.read() as session:
                assert loaded == (session.execute(text("SELECT count(*) FROM orders")).scalar_one(),)
        finally:
            store.dispose()


def test_a_hand_written_dagster_yaml_is_left_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECOM_DATA_DIR", str(tmp_path))
    home = PipelineSettings().dagster_home
    home.mkdir(parents=True)
    mine = "run_launcher:\n  module: dagster.core.launcher\n  class: DefaultRunLauncher\n"
    (home / "dagster.yaml").write_text(mine)
    monkeypatch.setenv("ECOM_DAGSTER_STORAGE_URL", "postgresql://postgres@127.0.0.1:5432/x")
    prepare_environment()
    assert (home / "dagster.yaml").read_text() == mine


def test_the_storage_url_must_be_postgresql_and_gets_the_driver_dagster_needs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECOM_DAGSTER_STORAGE_URL", "postgresql+psycopg://postgres@127.0.0.1/x")
    assert PipelineSettings().dagster_storage_url == "postgresql+psycopg2://postgres@127.0.0.1/x"
    monkeypatch.setenv("ECOM_DAGSTER_STORAGE_URL", "mysql://root@127.0.0.1/x")
    with pytest.raises(ValueError, match="ECOM_DAGSTER_STORAGE_URL must be a PostgreSQL URL"):
        PipelineSettings()


def test_an_incremental_run_reloads_only_landing_files_that_arrived_or_changed(tmp_path: Path) -> None:
    from pipelines.assets_landing import EVENTS_KEY
    from pipelines.runner import _due

    with dg.instance_for_test() as instance:
        instance.report_runless_asset_event(dg.AssetMaterialization(EVENTS_KEY, partition="2026-03-01"))
        instance.report_runless_asset_event(dg.AssetMaterialization(EVENTS_KEY, partition="2026-03-02"))
        loaded_at = time.time()
        stamps = {"2026-03-01": loaded_at - 60,  # loaded after its file last changed
                  "2026-03-02": loaded_at + 60,  # re-delivered after its load
                  "2026-03-03": loaded_at - 60}  # never loaded
        assert _due(instance, EVENTS_KEY, stamps, full=False) == ["2026-03-02", "2026-03-03"]
        assert _due(instance, EVENTS_KEY, stamps, full=True) == sorted(stamps)


def test_models_retrain_when_never_trained_or_older_than_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.runner import _training_due, training_keys

    keys = training_keys()
    assert {k.to_user_string() for k in keys} >= {"ml/forecast_backtest", "ml/recommendation_evaluation",
                                                  "ml/churn_evaluation"}
    with dg.instance_for_test() as instance:
        assert _training_due(instance, PipelineSettings())  # never trained
        for key in sorted(keys)[:-1]:
            instance.report_runless_asset_event(dg.AssetMaterialization(key))
        assert _training_due(instance, PipelineSettings())  # one model still untrained
        instance.report_runless_asset_event(dg.AssetMaterialization(sorted(keys)[-1]))
        assert not _training_due(instance, PipelineSettings())  # all trained within ECOM_RETRAIN_HOURS
        monkeypatch.setenv("ECOM_RETRAIN_HOURS", "0")
        assert _training_due(instance, PipelineSettings())
