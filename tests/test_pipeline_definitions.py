"""The code location's surface (asset keys, checks, jobs, schedules, sensors) is a contract with
dashboards, dbt sources and operators: a change to it must be deliberate. Regenerate the
snapshot with ECOM_UPDATE_SNAPSHOTS=1 after an intended change and review the diff."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from pipelines.definitions import build_definitions
from pipelines.store_tables import GROUPS, KEPT_OUT

SNAPSHOT = Path(__file__).parent / "snapshots" / "pipeline_definitions.json"


def _surface() -> dict[str, object]:
    defs = build_definitions()
    # Resolved inside an instance, as Dagster itself loads a code location. Outside one, Dagster
    # looks up the state storage of whatever instance a test before this one left current in the
    # context, and fails if that instance is gone ("undefined DagsterInstance weakref").
    with dg.instance_for_test():
        graph = defs.resolve_asset_graph()
    return {
        "assets": sorted(k.to_user_string() for k in graph.get_all_asset_keys()),
        "checks": sorted(k.to_user_string() for k in graph.asset_check_keys),
        "jobs": sorted(j.name for j in defs.resolve_all_job_defs() if not j.name.startswith("__")),
        "schedules": sorted(f"{s.name} {s.cron_schedule} {s.job_name}"
                            for s in (defs.resolve_schedule_def(x.name) for x in defs.schedules or [])),
        "sensors": sorted(s.name for s in defs.sensors or []),
    }


def test_definitions_match_the_reviewed_snapshot() -> None:
    surface = _surface()
    if os.environ.get("ECOM_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(json.dumps(surface, indent=1) + "\n")
    assert surface == json.loads(SNAPSHOT.read_text())


def test_every_store_table_is_loaded_or_kept_out_on_purpose() -> None:
    from ops_store.models import Base

    loaded = {t for members in GROUPS.values() for t in members}
    assert not loaded & set(KEPT_OUT)
    assert loaded | set(KEPT_OUT) == set(Base.metadata.tables)


@pytest.mark.slow
def test_dagster_itself_loads_the_code_location(tmp_path: Path) -> None:
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "ECOM_DATA_DIR": str(tmp_path)}
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    dagster = Path(sys.executable).parent / "dagster"
    done = subprocess.run([str(dagster), "definitions", "validate", "-m", "pipelines.definitions"], env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_dbt_resource_starts_dbt_once_per_build(monkeypatch: pytest.MonkeyPatch) -> None:
    """dagster-dbt would run `dbt --version` and open a dbt adapter before every build (2.3 s of a
    15-minute run at 1M orders); ours knows the version from the installed dbt-core and opens none."""
    import dbt.version

    from pipelines import dbt_assets

    def no_process(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a process was started: {args}")

    monkeypatch.setattr("dagster_dbt.core.resource.check_output", no_process)
    resource = build_definitions().resources["dbt"]
    assert isinstance(resource, dbt_assets.EcomDbtCliResource)
    assert str(resource._cli_version) == dbt.version.__version__
    assert resource._initialize_dbt_core_adapter(["build"]) is None
