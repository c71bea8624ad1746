"""Dashboard configuration by environment (see README); read when the app runs, never at import.

The dashboards may not import the pipeline, so the snapshot's place is worked out here from the
same variables the pipeline reads: ECOM_WAREHOUSE_PATH's folder, else ECOM_DATA_DIR, + snapshots/.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ops_store.settings import StoreSettings

CURRENT = "current.duckdb"


class DashboardSettings(BaseSettings):
    """ECOM_DASHBOARD_PORT          port of `ecom dashboard` (default 8501).
    ECOM_DASHBOARD_SESSION_MIN   minutes of inactivity before a signed-in user must sign in again (30).
    ECOM_WAREHOUSE_PATH          the pipeline's warehouse; its snapshots/ folder is what the pages read.
    """

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    ecom_warehouse_path: Path | None = Field(default=None, validation_alias="ECOM_WAREHOUSE_PATH")
    port: int = Field(default=8501, ge=1, le=65535, validation_alias="ECOM_DASHBOARD_PORT")
    session_minutes: float = Field(default=30, gt=0, validation_alias="ECOM_DASHBOARD_SESSION_MIN")

    @property
    def store(self) -> StoreSettings:
        return StoreSettings()

    @property
    def snapshot_dir(self) -> Path:
        warehouse = self.ecom_warehouse_path or self.store.data_dir / "warehouse.duckdb"
        return warehouse.expanduser().resolve().parent / "snapshots"

    def current_snapshot(self) -> Path | None:
        """The snapshot file the current link points to now, or None before the first publish."""
        link = self.snapshot_dir / CURRENT
        if not link.is_symlink():
            return None
        return (link.parent / os.readlink(link)).resolve()

    @property
    def run_log(self) -> Path:
        """The pipeline's journal of finished runs (one JSON object per line)."""
        return self.snapshot_dir / "runs.jsonl"
