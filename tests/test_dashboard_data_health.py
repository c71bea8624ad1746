"""Data health: the pipeline's runs journal, when each mart was built, failed checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.dashboard_support import DashboardShop, open_page, page_text, principal, query, table_with

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900), pytest.mark.xdist_group("built-shop")]


def test_the_pipeline_recorded_its_runs_and_dbt_results(dashboard_env: DashboardShop) -> None:
    snapshots = dashboard_env.data_dir / "snapshots"
    runs = [json.loads(line) for line in (snapshots / "runs.jsonl").read_text().splitlines()]
    assert {r["job"] for r in runs} >= {"daily_build"}  # a new warehouse: the daily tier is built too
    assert all(r["status"] == "SUCCESS" and r["failures"] == [] for r in runs)
    marts = {r[0] for r in query(dashboard_env, "SELECT table_name FROM duckdb_tables() "
                                                "WHERE database_name = 'warehouse' AND schema_name = 'marts'")}
    built = {r[0] for r in query(dashboard_env, "SELECT name FROM meta.dbt_results WHERE resource_type = 'model' "
                                                "AND status = 'success'")}
    assert marts <= built  # every mart in the snapshot has a build time


def test_data_health_shows_a_healthy_pipeline(dashboard_env: DashboardShop) -> None:
    at = open_page("data_health", principal("engineer"))
    assert not at.exception
    assert any("succeeded" in s.value for s in at.success)
    freshness = table_with(at, "Mart")
    assert "fct_orders" in set(freshness["Mart"]) and set(freshness["Status"]) == {"fresh"}
    assert "Rows" in freshness.columns
    assert at.get("vega_lite_chart")


def test_a_failed_run_and_its_failed_check_are_shown(dashboard_env: DashboardShop, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    snapshots = tmp_path / "snapshots"
    snapshots.mkdir()
    (snapshots / "current.duckdb").symlink_to(dashboard_env.data_dir / "snapshots" / "current.duckdb")
    journal = (dashboard_env.data_dir / "snapshots" / "runs.jsonl").read_text()
    failed = {"run_id": "r-failed", "job": "ingest", "status": "FAILURE", "started_at": "2099-01-01T00:00:00+00:00",
              "finished_at": "2099-01-01T00:01:00+00:00", "materialized": 3,
              "failed_checks": [{"check": "raw/orders:matches_store", "severity": "ERROR"}],
              "failures": ["dbt_build: dbt build failed"]}
    (snapshots / "runs.jsonl").write_text(journal + json.dumps(failed) + "\n")
    monkeypatch.setenv("ECOM_DATA_DIR", str(tmp_path))
    at = open_page("data_health", principal("admin"))
    assert not at.exception
    assert "FAILURE" in at.error[0].value and "raw/orders:matches_store" in at.error[0].value
    checks = table_with(at, "Check")
    assert "raw/orders:matches_store" in set(checks["Check"])


def test_merchant_sees_statuses_but_no_portal_row_counts(dashboard_env: DashboardShop) -> None:
    at = open_page("data_health", principal("merchant", 1))
    assert not at.exception
    assert all("Rows" not in d.value.columns for d in at.dataframe)
    assert "fct_orders" in page_text(at)
