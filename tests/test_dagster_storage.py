"""The SQLite event log `ecom pipeline` configures (connections kept open): what it writes is
Dagster's own format, it never holds more than a few files open, and a wipe leaves it working."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pytest

from pipelines.dagster_storage import ENGINES_KEPT, PooledSqliteEventLogStorage
from pipelines.runner import TELEMETRY_OFF, prepare_environment
from pipelines.settings import PipelineSettings

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dg.asset
def upstream() -> int:
    return 1


@dg.asset_check(asset=upstream)
def upstream_is_one() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


@dg.asset(deps=[upstream])
def downstream() -> None:
    return None


JOB = dg.Definitions(assets=[upstream, downstream], asset_checks=[upstream_is_one],
                     jobs=[dg.define_asset_job("both", selection=dg.AssetSelection.all())]).resolve_job_def("both")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ECOM_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("ECOM_DAGSTER_STORAGE_URL", raising=False)
    home = PipelineSettings().dagster_home
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(TELEMETRY_OFF)  # what earlier versions wrote: upgraded
    prepare_environment()
    return home


def _open_db_files() -> list[str]:
    return [target for fd in os.listdir("/proc/self/fd")
            if (target := os.path.realpath(f"/proc/self/fd/{fd}")).endswith(".db")]


def test_runs_written_through_open_connections_read_the_same_with_dagsters_own_log(home: Path) -> None:
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        result = JOB.execute_in_process(instance=instance, run_config=QUIET)
        assert result.success
        ours = [(r.dagster_event.event_type_value if r.dagster_event else None, r.step_key)
                for r in instance.all_logs(result.run_id)]

    (home / "dagster.yaml").write_text(TELEMETRY_OFF)  # the stock SQLite event log on the same files
    with dg.DagsterInstance.get() as instance:
        assert type(instance.event_log_storage).__name__ == "SqliteEventLogStorage"
        theirs = [(r.dagster_event.event_type_value if r.dagster_event else None, r.step_key)
                  for r in instance.all_logs(result.run_id)]
        latest = instance.get_latest_materialization_event(dg.AssetKey("downstream"))
        check = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey("upstream"), "upstream_is_one")])
    assert theirs == ours and len(ours) > 20
    assert latest is not None and latest.run_id == result.run_id
    assert [e.run_id for e in check.values()] == [result.run_id]


def test_a_long_lived_process_keeps_only_a_few_files_open_and_survives_a_wipe(home: Path) -> None:
    before = len(_open_db_files())
    with dg.DagsterInstance.get() as instance:
        runs = [JOB.execute_in_process(instance=instance, run_config=QUIET).run_id for _ in range(ENGINES_KEPT + 4)]
        for run_id in runs:  # a webserver reading every run's events in turn
            assert instance.all_logs(run_id)
        assert len(_open_db_files()) - before <= ENGINES_KEPT

        instance.wipe()  # deletes the run databases: no connection may write into a deleted file
        again = JOB.execute_in_process(instance=instance, run_config=QUIET)
        assert again.success and len(instance.all_logs(again.run_id)) > 20
        assert instance.get_run_ids() == [again.run_id]
    assert len(_open_db_files()) == before  # all closed with the instance
