"""Pipeline configuration by environment, with documented defaults (see README)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ops_store.settings import StoreSettings


class PipelineSettings(BaseSettings):
    """Settings of the pipeline; paths all live under ECOM_DATA_DIR.

    ECOM_WAREHOUSE_PATH      the DuckDB file the pipeline writes (default <data>/warehouse.duckdb).
    ECOM_INGEST_OVERLAP_S    seconds re-read behind each table's watermark, so rows committed late
                             (their timestamp older than their commit) are never missed (default 300).
    ECOM_INGEST_ID_OVERLAP   ids re-read behind the watermark of append-only tables (default 10000).
    ECOM_EVENTS_START        first day of the clickstream partitions (default 2024-01-01).
    ECOM_SNAPSHOTS_KEPT      published snapshots kept on disk, newest first (default 3).
    ECOM_DBT_DIR             dbt's target (manifest, compiled SQL) and logs (default <data>/dbt).
    ECOM_REPORTS_START       first week and day of the merchant report partitions (default 2024-01-01).
    """

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    ecom_warehouse_path: Path | None = Field(default=None, validation_alias="ECOM_WAREHOUSE_PATH")
    ingest_overlap_s: int = Field(default=300, ge=0, validation_alias="ECOM_INGEST_OVERLAP_S")
    ingest_id_overlap: int = Field(default=10_000, ge=0, validation_alias="ECOM_INGEST_ID_OVERLAP")
    events_start: str = Field(default="2024-01-01", validation_alias="ECOM_EVENTS_START")
    snapshots_kept: int = Field(default=3, ge=1, validation_alias="ECOM_SNAPSHOTS_KEPT")
    ecom_dbt_dir: Path | None = Field(default=None, validation_alias="ECOM_DBT_DIR")
    reports_start: str = Field(default="2024-01-01", validation_alias="ECOM_REPORTS_START")

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
