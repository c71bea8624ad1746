"""Pipeline configuration by environment, with documented defaults (see README)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ops_store.settings import StoreSettings

WarehouseMode = Literal["file", "ducklake"]


class PipelineSettings(BaseSettings):
    """Settings of the pipeline; paths all live under ECOM_DATA_DIR.

    ECOM_WAREHOUSE           `file` (default): one DuckDB file, one writer at a time, readers on a
                             published copy. `ducklake`: a DuckLake (catalog in PostgreSQL, data in
                             Parquet files) that several workers write and many readers read at once.
    ECOM_WAREHOUSE_PATH      the DuckDB file the pipeline writes (default <data>/warehouse.duckdb).
    ECOM_DUCKLAKE_CATALOG    ducklake mode, required: the PostgreSQL database holding the catalog, as a
                             URL (postgresql://user:pw@host:5432/db) or a libpq string (dbname=...).
    ECOM_DUCKLAKE_DATA_PATH  ducklake mode: the folder of the Parquet files (default <data>/lake/); on
                             several machines a shared folder or an object store URL (s3://...).
    ECOM_INGEST_OVERLAP_S    seconds re-read behind each table's watermark, so rows committed late
                             (their timestamp older than their commit) are never missed (default 300).
    ECOM_INGEST_ID_OVERLAP   ids re-read behind the watermark of append-only tables (default 10000).
    ECOM_EVENTS_START        first day of the clickstream partitions (default 2024-01-01).
    ECOM_SNAPSHOTS_KEPT      published snapshots kept on disk, newest first (default 3).
    ECOM_DBT_DIR             dbt's target (manifest, compiled SQL) and logs (default <data>/dbt).
    ECOM_REPORTS_START       first week and day of the merchant report partitions (default 2024-01-01).
    ECOM_PIPELINE_EXECUTOR   how `ecom pipeline run` runs the build: `multiprocess` (Dagster's multiprocess
                             executor, one process per step, as `dagster dev` and schedules run it),
                             `in_process` (one process), or `auto` (default): multiprocess on a DuckLake,
                             in_process on a file, where every step queues on the one writer anyway.
    ECOM_PIPELINE_MAX_CONCURRENT  steps at once under the multiprocess executor, and reports written at
                             once by `ecom pipeline backfill-reports` (default 2, one per core).
    ECOM_DAILY_REFRESH_HOURS an incremental run (`ecom pipeline run`) also rebuilds the daily tier (the
                             history-shaped marts, the models' scoring; pipelines/tiers.py) when it was last
                             built longer ago than this (default 24; 0: every run rebuilds everything). The
                             15-minute schedule's `ingest` job never does; the nightly full build always does.
    ECOM_RETRAIN_HOURS       an incremental run retrains the models when they were last trained longer ago
                             than this, and otherwise scores with them (default 24; the daily full build
                             always retrains).
    ECOM_DAGSTER_STORAGE_URL  a PostgreSQL URL (postgresql://user:pw@host/db) for Dagster's runs, event
                             log and schedules, so a webserver, a daemon and run workers on several
                             machines share one instance (default: SQLite files under <data>/dagster).
    """

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    warehouse_mode: WarehouseMode = Field(default="file", validation_alias="ECOM_WAREHOUSE")
    ecom_warehouse_path: Path | None = Field(default=None, validation_alias="ECOM_WAREHOUSE_PATH")
    ducklake_catalog: str | None = Field(default=None, validation_alias="ECOM_DUCKLAKE_CATALOG")
    ecom_ducklake_data_path: str | None = Field(default=None, validation_alias="ECOM_DUCKLAKE_DATA_PATH")
    ingest_overlap_s: int = Field(default=300, ge=0, validation_alias="ECOM_INGEST_OVERLAP_S")
    ingest_id_overlap: int = Field(default=10_000, ge=0, validation_alias="ECOM_INGEST_ID_OVERLAP")
    events_start: str = Field(default="2024-01-01", validation_alias="ECOM_EVENTS_START")
    snapshots_kept: int = Field(default=3, ge=1, validation_alias="ECOM_SNAPSHOTS_KEPT")
    ecom_dbt_dir: Path | None = Field(default=None, validation_alias="ECOM_DBT_DIR")
    reports_start: str = Field(default="2024-01-01", validation_alias="ECOM_REPORTS_START")
    pipeline_executor: Literal["auto", "multiprocess", "in_process"] = Field(
        default="auto", validation_alias="ECOM_PIPELINE_EXECUTOR")
    max_concurrent: int = Field(default=2, ge=1, validation_alias="ECOM_PIPELINE_MAX_CONCURRENT")
    retrain_hours: float = Field(default=24, ge=0, validation_alias="ECOM_RETRAIN_HOURS")
    daily_refresh_hours: float = Field(default=24, ge=0, validation_alias="ECOM_DAILY_REFRESH_HOURS")
    dagster_storage_url: str | None = Field(default=None, validation_alias="ECOM_DAGSTER_STORAGE_URL")

    @field_validator("dagster_storage_url")
    @classmethod
    def _psycopg2_url(cls, value: str | None) -> str | None:
        """Any PostgreSQL URL, given the psycopg2 driver: dagster-postgres sends `NOTIFY channel, %s`,
        which only psycopg2's client-side parameters can bind (psycopg 3 refuses it)."""
        if not value:
            return None
        scheme, sep, rest = value.partition("://")
        if not sep or scheme not in ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2"):
            raise ValueError("ECOM_DAGSTER_STORAGE_URL must be a PostgreSQL URL, "
                             "postgresql://user:password@host:port/db")
        return f"postgresql+psycopg2://{rest}"

    @model_validator(mode="after")
    def _ducklake_needs_a_catalog(self) -> PipelineSettings:
        if self.warehouse_mode == "ducklake" and not (self.ducklake_catalog or "").strip():
            raise ValueError("ECOM_WAREHOUSE=ducklake needs ECOM_DUCKLAKE_CATALOG: the PostgreSQL database of the "
                             "lake's catalog, e.g. postgresql://postgres@127.0.0.1:5432/ecom_lake")
        return self

    @property
    def executor(self) -> Literal["multiprocess", "in_process"]:
        """The executor the build runs with (`auto` resolved by the warehouse mode)."""
        if self.pipeline_executor == "auto":
            return "multiprocess" if self.warehouse_mode == "ducklake" else "in_process"
        return self.pipeline_executor

    @property
    def store(self) -> StoreSettings:
        return StoreSettings()

    @property
    def data_dir(self) -> Path:
        return self.store.data_dir

    @property
    def warehouse_path(self) -> Path:
        return (self.ecom_warehouse_path or self.data_dir / "warehouse.duckdb").expanduser().resolve()

    @property
    def ducklake_data_path(self) -> str:
        """Where the lake's Parquet files go; a local folder is made absolute and ends with '/'."""
        given = self.ecom_ducklake_data_path or str(self.data_dir / "lake")
        if "://" in given:
            return given.rstrip("/") + "/"
        return str(Path(given).expanduser().resolve()) + "/"

    @property
    def snapshot_dir(self) -> Path:
        return self.warehouse_path.parent / "snapshots"

    @property
    def landing_dir(self) -> Path:
        return self.data_dir / "landing"

    @property
    def extension_dir(self) -> Path:
        return self.data_dir / "duckdb_extensions"

    @property
    def dbt_dir(self) -> Path:
        """dbt's target (manifest, compiled SQL) and logs."""
        return (self.ecom_dbt_dir or self.data_dir / "dbt").expanduser().resolve()

    @property
    def models_dir(self) -> Path:
        """Trained models (one file per model, replaced by each training run)."""
        return self.data_dir / "models"

    @property
    def reports_dir(self) -> Path:
        """Merchant reports: <reports>/<merchant>/<weekly|daily>-<first day>.html and .pdf."""
        return self.data_dir / "reports"

    @property
    def dagster_home(self) -> Path:
        return self.data_dir / "dagster"
