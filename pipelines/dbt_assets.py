"""The dbt project (repo folder dbt/) as Dagster assets: every model an asset under the schema it
builds into (staging/..., intermediate/..., marts/...), every dbt test an asset check, the store
and landing sources mapped onto the raw/<table> assets that load them.

dbt writes the same warehouse as the loads: the DuckDB file under its writer lock (profile target
`warehouse`), or the DuckLake (target `ducklake`) under the lock name DBT_LOCK, so two builds queue
while loads go on. Its manifest, target and logs live in the data dir; the manifest is (re)parsed
when the definitions are built and it is missing or older than the project's files."""

import contextlib
import importlib.metadata
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets
from packaging import version

from pipelines.dbt_steps import DBT_LOCK, FULL_REFRESH_TAG, mark
from pipelines.landing_load import ensure_landing_tables
from pipelines.resources import WarehouseResource
from pipelines.settings import PipelineSettings
from pipelines.warehouse import catalog_conninfo, create_if_missing, held_writer, holding, replace_rows

DBT_DIR = Path(__file__).resolve().parents[1] / "dbt"


class EcomDbtTranslator(DagsterDbtTranslator):
    """Sources become the raw/<table> assets that load them, and the ml/<table> assets of the models
    that write them; models are keyed by schema and grouped by folder."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            schema = "ml" if dbt_resource_props["source_name"] == "ml" else "raw"
            return dg.AssetKey([schema, dbt_resource_props["name"]])
        schema = dbt_resource_props.get("config", {}).get("schema") or dbt_resource_props["fqn"][1]
        return dg.AssetKey([schema, dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return dbt_resource_props["fqn"][1] if len(dbt_resource_props["fqn"]) > 2 else "dbt"


def dbt_env(settings: PipelineSettings) -> dict[str, str]:
    """The variables dbt/profiles.yml reads, for the warehouse these settings name."""
    env = {"ECOM_WAREHOUSE_PATH": str(settings.warehouse_path), "DBT_LOG_PATH": str(settings.dbt_dir / "logs"),
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1",
           # A run splits the dbt build around the model assets (marts -> models -> marts on their
           # output); a test runs in the step where all the models it reads are built.
           "DBT_INDIRECT_SELECTION": "buildable", "ECOM_DBT_TARGET": "warehouse",
           # the incremental models look back twice the loads' overlap for rows committed late
           "ECOM_INGEST_OVERLAP_S": str(settings.ingest_overlap_s)}
    if settings.warehouse_mode == "ducklake":
        env |= {"ECOM_DBT_TARGET": "ducklake", "ECOM_DUCKLAKE_CONNINFO": catalog_conninfo(settings),
                "ECOM_DUCKLAKE_DATA_PATH": settings.ducklake_data_path,
                "ECOM_DUCKDB_EXTENSION_DIR": str(settings.extension_dir)}
    return env


def dbt_project(settings: PipelineSettings | None = None) -> DbtProject:
    settings = settings or PipelineSettings()
    return DbtProject(project_dir=DBT_DIR, profiles_dir=DBT_DIR, target_path=settings.dbt_dir / "target")


def _newest_source_mtime() -> float:
    return max(p.stat().st_mtime for p in DBT_DIR.rglob("*") if p.suffix in (".sql", ".yml", ".yaml", ".csv"))


def ensure_manifest(project: DbtProject, settings: PipelineSettings) -> Path:
    """`dbt parse` when the manifest is missing or older than any file of the project."""
    manifest = project.manifest_path
    if manifest.exists() and manifest.stat().st_mtime >= _newest_source_mtime():
        return manifest
    dbt = Path(sys.executable).with_name("dbt")
    done = subprocess.run([str(dbt), "parse", "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR),
                           "--target-path", str(project.target_path), "--quiet"],
                          env={**os.environ, **dbt_env(settings)}, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"dbt parse failed in {DBT_DIR}:\n{done.stdout}{done.stderr}")
    return manifest


def dbt_models_asset(settings: PipelineSettings | None = None) -> dg.AssetsDefinition:
    settings = settings or PipelineSettings()
    project = dbt_project(settings)
    ensure_manifest(project, settings)
    translator = EcomDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

    @dbt_assets(manifest=project.manifest_path, project=project, dagster_dbt_translator=translator,
                name="dbt_build")
    def dbt_build(context: AssetExecutionContext, dbt: DbtCliResource,
                  warehouse: WarehouseResource) -> Iterator[Any]:
        run_settings = warehouse.settings()
        step, run_id = context.op_execution_context.op.name, context.run.run_id
        models = [key.to_user_string() for key in context.selected_asset_keys]
        with _environment(dbt_env(run_settings)), holding(run_settings, [DBT_LOCK]):
            with held_writer(run_settings) as con:
                # The landing models may run before any landing file was loaded (a run without
                # landing files, or the part of a split build that only reads landing tables): give
                # them their (empty) tables rather than a missing-table error.
                ensure_landing_tables(con)
                mark(con, models, step, run_id, "started")  # nothing is published until it is finished
            with _dbt_output(run_settings, run_id):
                # one target in the data dir (dagster-dbt would make one per run inside the project
                # folder); dbt's unit tests check the models' logic on fixed rows: they run in the
                # test suite (tests/test_dbt_unit_tests.py), not on every build of the merchants' data
                # the nightly full build rebuilds the incremental models whole (dbt --full-refresh)
                refresh = ["--full-refresh"] if context.run.tags.get(FULL_REFRESH_TAG) == "true" else []
                invocation = dbt.cli(["build", "--exclude-resource-type", "unit_test", *refresh], context=context,
                                     target_path=project.target_path, raise_on_error=False)
                yield from invocation.stream()
            with held_writer(run_settings) as con:  # when each model was built and each test last ran
                record_dbt_results(con, invocation.get_artifact("run_results.json"), run_id)
                mark(con, models, step, run_id, "finished" if invocation.is_successful() else "failed")
        if not invocation.is_successful():
            raise dg.Failure("dbt build failed: see the failed models and tests above")

    return dbt_build


DBT_RESULTS = """
CREATE TABLE IF NOT EXISTS meta.dbt_results (
    unique_id VARCHAR NOT NULL, name VARCHAR, resource_type VARCHAR, status VARCHAR,
    completed_at TIMESTAMP, execution_seconds DOUBLE, failures BIGINT, message VARCHAR, run_id VARCHAR
)"""


def record_dbt_results(con: Any, run_results: Mapping[str, Any], run_id: str) -> int:
    """Keep each dbt node's latest outcome in meta.dbt_results (one row per model and test)."""
    create_if_missing(con, "CREATE SCHEMA IF NOT EXISTS meta;" + DBT_RESULTS)
    rows = []
    for result in run_results.get("results", []):
        kind, _, name = result["unique_id"].split(".", 2)
        ended = [t.get("completed_at") for t in result.get("timing", []) if t.get("completed_at")]
        rows.append((result["unique_id"], name.split(".")[-1], kind, result.get("status"),
                     max(ended) if ended else None, result.get("execution_time"), result.get("failures"),
                     (result.get("message") or "")[:1000], run_id))
    return replace_rows(con, "meta.dbt_results", "unique_id", rows)


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """These variables for the dbt subprocess (and dagster-dbt's selection), for this step only: a
    run executed in process must not leave another warehouse's path behind for the next one."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _dbt_output(settings: PipelineSettings, run_id: str) -> Iterator[None]:
    """dagster-dbt echoes every dbt event to stdout (the UI's compute log). Under `ecom pipeline
    run` (ECOM_DBT_LOG_TO_FILE=1) that would bury the progress bars: there it goes to a file."""
    if os.environ.get("ECOM_DBT_LOG_TO_FILE") != "1":
        yield
        return
    path = settings.dbt_dir / "logs" / f"dbt-build-{run_id}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as log, contextlib.redirect_stdout(log):
        yield


class EcomDbtCliResource(DbtCliResource):
    """dagster-dbt's resource without two costs it pays on every build, 2.3 s of each 15-minute run
    (measured at 1M orders): it asks the dbt executable its version (`dbt --version`, a 1.5 s
    process) and opens a dbt adapter in this process (importing dbt), which only its row-count and
    column metadata fetchers use, and this project uses neither. The executable is this
    environment's own, so its version is the installed dbt-core's."""

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> Any:
        return None  # no adapter: dagster-dbt then streams events without fetching metadata


def dbt_resource(settings: PipelineSettings | None = None) -> DbtCliResource:
    settings = settings or PipelineSettings()
    return EcomDbtCliResource(project_dir=dbt_project(settings), profiles_dir=str(DBT_DIR),
                          dbt_executable=str(Path(sys.executable).with_name("dbt")))
