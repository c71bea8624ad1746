"""Test fixtures: one parametrised ``store`` fixture runs each store test on SQLite and PostgreSQL.

PostgreSQL: ECOM_TEST_PG_URL names a database this test run owns (.ci/run creates one); each
xdist worker works in its own schema inside it. Without it, each worker creates (and drops) its
own database on 127.0.0.1:5432. A PostgreSQL test that cannot connect fails; it is never skipped.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ops_store.db import Store
from ops_store.migrate import upgrade
from ops_store.models import Base
from tests.dashboard_support import DashboardShop
from tests.dashboard_support import dashboard_shop as build_dashboard_shop
from tests.report_support import ReportShop
from tests.report_support import copy_shop as copy_report_shop

DEFAULT_PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]
# The pipeline tests' shops: each store backend with the file warehouse, and the DuckLake warehouse on
# the PostgreSQL store only (a lake serves several machines, and those share a PostgreSQL store).
PIPELINE_SHOPS = [*BACKENDS, pytest.param("postgresql-ducklake", id="postgresql-ducklake", marks=pytest.mark.postgres)]
WAREHOUSE_MODES = [pytest.param("file", id="file"),
                   pytest.param("ducklake", id="ducklake", marks=pytest.mark.postgres)]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "file_warehouse_only(reason): a pipeline test that does not run on the "
                            "DuckLake shop (postgresql-ducklake); the reason says what covers it there")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the DuckLake variant of the tests marked file_warehouse_only."""
    kept, left_out = [], []
    for item in items:
        on_lake = getattr(item, "callspec", None) is not None and \
            item.callspec.params.get("sim") == "postgresql-ducklake"  # type: ignore[attr-defined]
        (left_out if on_lake and item.get_closest_marker("file_warehouse_only") else kept).append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session", autouse=True)
def _data_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Files the product writes during tests (key files, logs) go to a temporary data dir."""
    os.environ["ECOM_DATA_DIR"] = str(tmp_path_factory.mktemp("data"))
    # One dbt target (manifest, partial parse) per test session, not one per test's data dir.
    os.environ["ECOM_DBT_DIR"] = str(tmp_path_factory.mktemp("dbt"))


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a migrated PostgreSQL schema private to this worker."""
    worker = _worker()
    given = os.environ.get("ECOM_TEST_PG_URL")
    try:
        if given:
            schema = f"ecom_{worker}"
            admin = create_engine(given, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            url = make_url(given).update_query_dict({"options": f"-csearch_path={schema}"})
            cleanup = f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'
        else:
            dbname = f"ecom_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            admin = create_engine(DEFAULT_PG_SERVER, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{dbname}"'))
            url = make_url(DEFAULT_PG_SERVER).set(database=dbname)
            cleanup = f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'
    except Exception as exc:  # noqa: BLE001 - report any connection problem as a failure
        pytest.fail(f"PostgreSQL is required for these tests and could not be reached: {exc}", pytrace=False)
    url_text = url.render_as_string(hide_password=False)
    store = Store(url_text)
    upgrade(store)
    _remember_seed_rows(store)
    store.dispose()
    yield url_text
    with admin.connect() as conn:
        conn.execute(text(cleanup))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "store.sqlite"
    store = Store(f"sqlite:///{path}")
    upgrade(store)
    with store.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    store.dispose()
    return path


_SEED_ROWS: dict[str, list[dict]] = {}


def _remember_seed_rows(store: Store) -> None:
    """Rows the migrations themselves insert (e.g. the loyalty programme), to put back after a reset."""
    with store.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            _SEED_ROWS[table.name] = [dict(r._mapping) for r in conn.execute(table.select())]


def _truncate_all(store: Store) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with store.engine.begin() as conn:
        # Replica mode lets the test reset pass the audit log's append-only triggers (superuser only).
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        for table in Base.metadata.sorted_tables:
            if _SEED_ROWS.get(table.name):
                conn.execute(table.insert(), _SEED_ROWS[table.name])


@pytest.fixture
def fresh_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[str], Store]]:
    """Call with a backend name to get an empty, migrated store (again and again, e.g. per
    hypothesis example)."""
    made: list[Store] = []

    def make(backend: str) -> Store:
        for old in made:
            old.dispose()
        if backend == "sqlite":
            path = tmp_path / f"store-{uuid.uuid4().hex[:8]}.sqlite"
            shutil.copy(request.getfixturevalue("sqlite_template"), path)
            store = Store(f"sqlite:///{path}")
        else:
            store = Store(request.getfixturevalue("pg_url"))
            _truncate_all(store)
        made.append(store)
        return store

    yield make
    for s in made:
        s.dispose()


@pytest.fixture(autouse=True)
def _no_dagster_instance_left_current() -> Iterator[None]:
    """Each test starts with no Dagster instance current, as a fresh process does. Entering an
    instance makes its definitions-state storage current (a context variable); a test that leaves
    it set, through some path inside Dagster we have not found, makes a later test's Definitions
    resolve against that dead instance ("Attempted to resolve undefined DagsterInstance weakref"),
    and which test that hits depends on how xdist shares the tests out."""
    if "dagster" not in sys.modules:  # nothing can be left over before Dagster is imported
        yield
        return
    from dagster._core.storage.defs_state.base import set_defs_state_storage

    with set_defs_state_storage(None):
        yield


@pytest.fixture(autouse=True)
def _fresh_payment_provider() -> Iterator[None]:
    """Each test gets a fake payment provider of its own (it remembers results in memory)."""
    from ops_store.payments.provider import FakeProvider, register_provider

    register_provider(FakeProvider())
    yield
    register_provider(FakeProvider())


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, fresh_store: Callable[[str], Store]) -> Store:
    """An empty, migrated store on each backend."""
    return fresh_store(request.param)


@pytest.fixture
def shop(store: Store):  # type: ignore[no-untyped-def]
    """A small shop: two warehouses, one merchant, products, a carrier with delivery options."""
    from tests.factories import make_shop

    return make_shop(store)


@pytest.fixture
def cli_invoke(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    """Run a CLI sub-app in-process against the test store, as the local operator. Returns the
    parsed --json output (or the plain text with as_json=False)."""
    import json
    import logging

    from typer.testing import CliRunner

    from ops_store.cli import output

    monkeypatch.setenv("OPS_STORE_URL", store.url)
    monkeypatch.setenv("ECOM_DATA_DIR", str(tmp_path / "cli-data"))
    for name in ("ECOM_USER", "ECOM_PASSWORD", "ECOM_CLI_ROLE"):
        monkeypatch.delenv(name, raising=False)
    handlers = list(logging.getLogger("ops_store").handlers)
    output.store.cache_clear()
    output.principal.cache_clear()
    runner = CliRunner()

    def invoke(app: Any, *args: str, ok: bool = True, as_json: bool = True) -> Any:
        result = runner.invoke(app, [*args, "--json"] if as_json else list(args), terminal_width=200)
        assert (result.exit_code == 0) is ok, f"{args}: exit {result.exit_code}\n{result.output}"
        return json.loads(result.stdout) if as_json else result.stdout

    yield invoke
    if output.store.cache_info().currsize:
        output.store().dispose()
    output.store.cache_clear()
    output.principal.cache_clear()
    logging.getLogger("ops_store").handlers[:] = handlers


@pytest.fixture(scope="module", params=PIPELINE_SHOPS)
def sim(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A small simulated shop (store and landing files) per backend and warehouse form (the file on
    both backends, the DuckLake on PostgreSQL), shared by a test module."""
    from tests.pipeline_support import simulated_shop

    backend, _, warehouse = request.param.partition("-")
    pg = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    with simulated_shop(backend, tmp_path_factory.mktemp("sim"), pg) as shop:
        shop.warehouse = warehouse or "file"
        yield shop


@pytest.fixture
def lake_catalog(request: pytest.FixtureRequest) -> Iterator[Callable[[], str]]:
    """Call to get a new, empty PostgreSQL database for a DuckLake catalog (a URL), on the test
    server; each is dropped after the test."""
    from tests.pipeline_support import lake_catalogs

    with lake_catalogs(os.environ.get("ECOM_TEST_PG_URL") or DEFAULT_PG_SERVER) as new:
        yield new


@pytest.fixture(params=WAREHOUSE_MODES)
def warehouse_mode(request: pytest.FixtureRequest) -> str:
    """Each warehouse form: a DuckDB file, and a DuckLake (catalog in PostgreSQL)."""
    return request.param


@pytest.fixture
def pipeline_settings(sim, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,  # type: ignore[no-untyped-def]
                      request: pytest.FixtureRequest):
    """This test's own warehouse (the module's form, a DuckLake with its own catalog database),
    snapshots and DAGSTER_HOME, reading the module's simulated shop."""
    from tests.pipeline_support import pipeline_env

    catalog = request.getfixturevalue("lake_catalog")() if sim.warehouse == "ducklake" else None
    return pipeline_env(monkeypatch, tmp_path, sim, catalog)


@pytest.fixture(scope="session")
def dashboard_shop(tmp_path_factory: pytest.TempPathFactory) -> DashboardShop:
    """A simulated two-merchant shop through the whole pipeline, built once per test run. Every test
    module using it (or report_shop) is in the xdist group "built-shop": one worker builds it and
    runs them all while the other runs the rest (xdist hands out the biggest groups first, so a
    second group would start on the other worker and wait for the build)."""
    return build_dashboard_shop(tmp_path_factory)


@pytest.fixture
def dashboard_env(dashboard_shop: DashboardShop, monkeypatch: pytest.MonkeyPatch) -> DashboardShop:
    """The dashboards' environment pointed at that shop's store and published snapshot."""
    for key, value in dashboard_shop.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("ECOM_WAREHOUSE_PATH", raising=False)
    return dashboard_shop


@pytest.fixture(scope="module")
def report_shop(dashboard_shop: DashboardShop, tmp_path_factory: pytest.TempPathFactory) -> ReportShop:
    """A copy of the built shop for one test module that writes reports, contacts and stock."""
    return copy_report_shop(dashboard_shop, tmp_path_factory.mktemp("reports") / "data")


@pytest.fixture
def report_env(report_shop: ReportShop, monkeypatch: pytest.MonkeyPatch) -> ReportShop:
    """The pipeline's environment pointed at that copy; mail off unless a test turns it on."""
    for key, value in report_shop.env().items():
        monkeypatch.setenv(key, value)
    for key in ("ECOM_WAREHOUSE_PATH", "ECOM_SMTP_HOST", "ECOM_SMTP_USER", "ECOM_SMTP_TLS"):
        monkeypatch.delenv(key, raising=False)
    return report_shop
