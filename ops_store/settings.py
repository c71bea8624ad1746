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
    ECOM_STORE_POOL_SIZE, ECOM_STORE_MAX_OVERFLOW, ECOM_STORE_POOL_TIMEOUT_S
                   PostgreSQL only: connections each engine (each process) keeps open (5), how many
                   more it may open under load (10), and how long a request waits for a free one
                   before it fails (30 s; the API answers 503 store_unavailable).
    ECOM_STORE_PREPARED_STATEMENTS
                   PostgreSQL only: let psycopg prepare a statement on the server after its fifth
                   run on a connection (true); false for poolers that cannot follow them
                   (PgBouncer before 1.21 in transaction pooling).
    """

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    ecom_data_dir: Path = Field(default=Path("data"), validation_alias="ECOM_DATA_DIR")
    ops_store_url: str | None = Field(default=None, validation_alias="OPS_STORE_URL")
    pool_size: int = Field(default=5, ge=1, le=1000, validation_alias="ECOM_STORE_POOL_SIZE")
    max_overflow: int = Field(default=10, ge=0, le=1000, validation_alias="ECOM_STORE_MAX_OVERFLOW")
    pool_timeout_s: float = Field(default=30.0, gt=0, le=3600, validation_alias="ECOM_STORE_POOL_TIMEOUT_S")
    prepared_statements: bool = Field(default=True, validation_alias="ECOM_STORE_PREPARED_STATEMENTS")

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
