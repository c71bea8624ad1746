"""dbt's unit tests (the `unit_tests:` of dbt/models) check the marts' logic on fixed input rows.
Pipeline runs leave them out (`dbt build --exclude-resource-type unit_test`: they do not depend on
the merchants' data); here every one of them runs against a built warehouse, which dbt needs for
the column types of each model's inputs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.dbt_assets import DBT_DIR, dbt_env
from pipelines.settings import PipelineSettings
from tests.dashboard_support import DashboardShop

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900), pytest.mark.xdist_group("built-shop")]


def test_every_dbt_unit_test_passes(dashboard_shop: DashboardShop, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # a copy: the shop's warehouse is shared with the dashboards' tests
    for name in ("warehouse.duckdb", "warehouse.duckdb.wal"):
        if (dashboard_shop.data_dir / name).exists():
            shutil.copy(dashboard_shop.data_dir / name, tmp_path / name)
    monkeypatch.setenv("ECOM_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("ECOM_WAREHOUSE_PATH", raising=False)
    settings = PipelineSettings()
    assert settings.warehouse_path == tmp_path / "warehouse.duckdb"
    target = tmp_path / "dbt-target"
    dbt = str(Path(sys.executable).with_name("dbt"))
    done = subprocess.run([dbt, "test", "--select", "test_type:unit", "--project-dir", str(DBT_DIR),
                           "--profiles-dir", str(DBT_DIR), "--target-path", str(target)],
                          env={**os.environ, **dbt_env(settings)}, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:]
    results = json.loads((target / "run_results.json").read_text())["results"]
    ran = {r["unique_id"]: r["status"] for r in results}
    declared = set(json.loads((target / "manifest.json").read_text())["unit_tests"])
    assert len(declared) >= 20  # the project's unit tests were found
    assert set(ran) == declared
    assert set(ran.values()) == {"pass"}
