"""Dagster resources: the store (read-only here) and the warehouse. Empty settings fall back to
the environment (OPS_STORE_URL, ECOM_DATA_DIR, ECOM_WAREHOUSE_PATH) when the run starts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from ops_store.db import Store
from ops_store.settings import StoreSettings
from pipelines.settings import PipelineSettings
from pipelines.warehouse import writer


class StoreResource(dg.ConfigurableResource):
    """The operational store the pipeline reads from."""

    url: str = ""

    def store_url(self) -> str:
        return self.url or StoreSettings().store_url

    @contextmanager
    def open(self) -> Iterator[Store]:
        store = Store(self.store_url())
        try:
            yield store
        finally:
            store.dispose()


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse the pipeline writes (and publishes snapshots of): a DuckDB file, or a DuckLake
    (ECOM_WAREHOUSE); `path` overrides the file's place."""

    path: str = ""

    def settings(self) -> PipelineSettings:
        settings = PipelineSettings()
        if self.path:
            settings.ecom_warehouse_path = Path(self.path)
        return settings

    @contextmanager
    def writer(self, *, hold: Iterable[str] = (), share: Iterable[str] = ()) -> Iterator[duckdb.DuckDBPyConnection]:
        """A writing connection; `hold` and `share` name what it replaces and appends to (see
        pipelines.warehouse)."""
        with writer(self.settings(), hold=hold, share=share) as con:
            yield con


def default_resources() -> dict[str, object]:
    return {"store": StoreResource(), "warehouse": WarehouseResource()}
