"""A built demo-like warehouse for the dashboard tests: a simulated two-merchant shop run through
the whole pipeline (marts and models) once per test run, shared by the xdist workers (a file
lock; the first worker builds, the others wait and reuse), with one store user per role."""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from babel.numbers import format_currency
from filelock import FileLock
from streamlit.testing.v1 import AppTest

from ops_store.db import Store
from ops_store.security.access import Principal
from ops_store.services.users import add_user
from ops_store.simulate.config import SimConfig

APP = Path(__file__).resolve().parents[1] / "dashboards" / "app.py"
SHOP = SimConfig(orders=1500, days=240, seed=5, end=date.today())
PASSWORD = "dashboard-test-passphrase"
ROLES = ("admin", "merchant", "analyst", "support", "engineer")


@dataclass(frozen=True)
class DashboardShop:
    data_dir: Path  # ECOM_DATA_DIR: snapshots/, pii keys, landing
    store_url: str  # OPS_STORE_URL: the simulated shop (users, customers)

    def env(self) -> dict[str, str]:
        return {"ECOM_DATA_DIR": str(self.data_dir), "OPS_STORE_URL": self.store_url}

    def store(self) -> Store:
        return Store(self.store_url)


def _shared_root(factory: pytest.TempPathFactory) -> Path:
    reuse = os.environ.get("ECOM_TEST_DASHBOARD_SHOP")  # development: keep one built shop between runs
    if reuse:
        return Path(reuse)
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    base = factory.getbasetemp()
    return base.parent / f"dashboard-shop-{run}" if run else base / "dashboard-shop"


def _build(root: Path) -> DashboardShop:
    from pipelines.runner import run_pipeline
    from tests.pipeline_support import simulated_shop

    with simulated_shop("sqlite", root, None, config=SHOP) as shop:
        shop_data = shop.home
    data_dir = root / "data"
    data_dir.mkdir()
    (data_dir / "landing").symlink_to(shop_data / "landing")
    (data_dir / "pii.keys.json").symlink_to(shop_data / "pii.keys.json")
    built = DashboardShop(data_dir, shop.url)
    saved = {k: os.environ.get(k) for k in ("ECOM_DATA_DIR", "OPS_STORE_URL", "ECOM_WAREHOUSE_PATH")}
    os.environ.update(built.env())
    os.environ.pop("ECOM_WAREHOUSE_PATH", None)
    try:
        # a smaller training sample keeps the forecast's fits (12 of them: 3 quantiles x 3 backtest
        # origins + the final model) to a minute or two on a busy CI worker
        result = run_pipeline(op_config={"train_demand_model": {"max_training_rows": 30_000}})
        assert result.success, [p.failures for p in result.phases]
        store = built.store()
        code = store.engine.connect().exec_driver_sql("SELECT code FROM merchants ORDER BY id LIMIT 1").scalar()
        for role in ROLES:
            add_user(store, f"{role}-user", PASSWORD, role, merchant=code if role == "merchant" else None)
        store.dispose()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return built


def dashboard_shop(factory: pytest.TempPathFactory) -> DashboardShop:
    root = _shared_root(factory)
    root.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root) + ".lock"):
        done = root / "built"
        if not done.exists():
            if root.exists():
                shutil.rmtree(root)  # a build that died half-way
            root.mkdir()
            shop = _build(root)
            done.write_text(f"{shop.data_dir}\n{shop.store_url}\n")
        data_dir, url = done.read_text().splitlines()
    return DashboardShop(Path(data_dir), url)


def principal(role: str, merchant_id: int | None = None) -> Principal:
    return Principal(f"user:{role}-user", role, merchant_id if role == "merchant" else None)


def open_page(page: str, who: Principal, *, lang: str = "en", state: dict[str, Any] | None = None,
              timeout: float = 60) -> AppTest:
    """The app as ``who`` (already signed in) on ``views/<page>.py``, run once."""
    at = AppTest.from_file(str(APP), default_timeout=timeout)
    at.session_state["principal"] = who
    at.session_state["username"] = who.name.removeprefix("user:")
    at.session_state["last_seen"] = time.monotonic()
    at.session_state["lang"] = lang
    for key, value in (state or {}).items():
        at.session_state[key] = value
    at.switch_page(f"views/{page}.py")
    at.run()
    return at


def metrics(at: AppTest) -> dict[str, str]:
    """The page's metrics, value by label."""
    return {m.label: m.value for m in at.metric}


def usd(value: Any) -> str:
    """An amount as the English pages show dollars (rounded to cents)."""
    return format_currency(Decimal(str(round(float(value), 2))), "USD", locale="en_US")


def table_with(at: AppTest, *columns: str, nth: int = 0) -> pd.DataFrame:
    """The ``nth`` (first by default) table on the page that has all of ``columns``."""
    tables = [d.value for d in at.dataframe if set(columns) <= set(d.value.columns)]
    assert len(tables) > nth, (f"wanted table #{nth} of those with columns {list(columns)}, found {len(tables)}; "
                               f"the page's tables have {[list(d.value.columns) for d in at.dataframe]}")
    return tables[nth]


@contextmanager
def snapshot_connection(shop: DashboardShop) -> Iterator[duckdb.DuckDBPyConnection]:
    """The shop's published snapshot, attached read-only as the dashboards do (its views name 'warehouse')."""
    snapshot = str(shop.data_dir / "snapshots" / "current.duckdb").replace("'", "''")
    with duckdb.connect(":memory:") as con:
        con.execute(f"ATTACH '{snapshot}' AS warehouse (READ_ONLY)")
        con.execute("USE warehouse")
        yield con


def query(shop: DashboardShop, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` on the shop's published snapshot."""
    with snapshot_connection(shop) as con:
        return con.execute(sql, params or []).fetchall()


def query_frame(shop: DashboardShop, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
    """The result of ``sql`` on the shop's published snapshot, as a data frame."""
    with snapshot_connection(shop) as con:
        return con.execute(sql, params or []).df()


def published_without(shop: DashboardShop, root: Path, monkeypatch: pytest.MonkeyPatch, *tables: str) -> None:
    """Publish a copy of the shop's snapshot without ``tables`` under ``root`` and point the dashboards at it."""
    snapshots = root / "snapshots"
    snapshots.mkdir()
    shutil.copy((shop.data_dir / "snapshots" / "current.duckdb").resolve(), snapshots / "trimmed.duckdb")
    with duckdb.connect(str(snapshots / "trimmed.duckdb")) as con:
        for table in tables:
            con.execute(f"DROP TABLE {table} CASCADE")
    (snapshots / "current.duckdb").symlink_to("trimmed.duckdb")
    monkeypatch.setenv("ECOM_DATA_DIR", str(root))


def mentions(text: str, words: list[str]) -> list[str]:
    """The words that stand whole in ``text``: "Eco Serum 3" is not found in "Eco Serum 33" (nor next to a hyphen)."""
    return [w for w in words if re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", text)]


def page_text(at: AppTest) -> str:
    """Everything a user could read on the page: text elements, metrics, tables and chart data."""
    parts: list[str] = []
    for element in at.main:
        parts.append(_element_text(element))
    return "\n".join(parts)


def _element_text(element: Any) -> str:
    out: list[str] = []
    for attr in ("value", "label", "body"):
        value = getattr(element, attr, None)
        if value is not None and not callable(value):
            try:
                out.append(value.to_csv() if hasattr(value, "to_csv") else str(value))
            except Exception:  # noqa: BLE001 - a widget without a readable value
                pass
    proto = getattr(element, "proto", None)
    if proto is not None:
        out.append(str(proto))
    for child in getattr(element, "children", {}).values() if hasattr(element, "children") else []:
        out.append(_element_text(child))
    return "\n".join(out)
