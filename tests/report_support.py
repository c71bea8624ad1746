"""A private copy of the dashboard tests' built shop (store, published snapshot, warehouse) for
the report and alert tests, which write reports and change merchants' contacts and stock."""

from __future__ import annotations

import io
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pypdf

from ops_store.db import Store
from tests.dashboard_support import DashboardShop


@dataclass(frozen=True)
class ReportShop:
    data_dir: Path
    store_url: str

    def env(self) -> dict[str, str]:
        return {"ECOM_DATA_DIR": str(self.data_dir), "OPS_STORE_URL": self.store_url,
                "DAGSTER_HOME": str(self.data_dir / "dagster")}

    def store(self) -> Store:
        return Store(self.store_url)

    def snapshot(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str((self.data_dir / "snapshots" / "current.duckdb").resolve()), read_only=True)


def copy_shop(shop: DashboardShop, target: Path) -> ReportShop:
    """Copy the store (SQLite's backup API: a consistent copy), the warehouse, the current
    snapshot and the personal-data key into ``target``."""
    target.mkdir(parents=True)
    source = sqlite3.connect(shop.store_url.removeprefix("sqlite:///"))
    copy = sqlite3.connect(target / "store.sqlite")
    source.backup(copy)
    copy.close()
    source.close()
    shutil.copy(shop.data_dir / "pii.keys.json", target / "pii.keys.json")
    shutil.copy(shop.data_dir / "warehouse.duckdb", target / "warehouse.duckdb")
    snapshots = target / "snapshots"
    snapshots.mkdir()
    current = (shop.data_dir / "snapshots" / "current.duckdb").resolve()
    shutil.copy(current, snapshots / current.name)
    (snapshots / "current.duckdb").symlink_to(current.name)
    (target / "landing").mkdir()
    return ReportShop(target, f"sqlite:///{target / 'store.sqlite'}")


def keep(*paths: Path, tag: str = "") -> None:
    """Copy report files the tests wrote to the test run's artifacts folder, for people to open
    (named <merchant>-<file>, with ``tag`` before the extension)."""
    from tests.browser_support import artifacts_dir

    folder = artifacts_dir("reports")
    for path in paths:
        shutil.copy(path, folder / f"{path.parent.name}-{path.stem}{tag}{path.suffix}")


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)
