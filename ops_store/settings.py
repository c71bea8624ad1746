"""Configuration by environment, with documented defaults (see README)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class StoreSettings(BaseSettings):
    """Settings for the operational store.

    ECOM_DATA_DIR  every file the product writes lives here (default ./data, git-ignored).
    OPS_STORE_URL  SQLAlchemy URL of the store (default: SQLite file store.sqlite in the data dir;
                   postgresql+psycopg://user@host:5432/db for PostgreSQL).
    """

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    ecom_data_dir: Path = Field(default=Path("data"), validation_alias="ECOM_DATA_DIR")
    ops_store_url: str | None = Field(default=None, validation_alias="OPS_STORE_URL")

    @property
    def data_dir(self) -> Path:
        return self.ecom_data_dir.expanduser().resolve()

    @property
    def store_url(self) -> str:
        if self.ops_store_url:
            return self.ops_store_url
        return f"sqlite:///{self.data_dir / 'store.sqlite'}"

    def ensure_data_dir(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir
