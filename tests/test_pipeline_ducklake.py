"""The warehouse on DuckLake (ECOM_WAREHOUSE=ducklake), beyond the pipeline tests that run in both
forms (test_pipeline_ingest, _checks, _landing): what the mode is for. Two writer processes load
different tables at the same time, each holding its transaction open until the other has begun;
a reader process reads the published version while a writer is half-way through a change; the
locks that make two loads of one table queue. Plus the settings, and the watermark log that lets
loads of different tables commit side by side (and carries an older file warehouse over)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg
import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from ops_store.models import Base
from pipelines.extract import WATERMARK_LOG, StoreSource, compact_watermarks, ensure_meta, load_table
from pipelines.publish import open_snapshot, publish, published
from pipelines.runner import run_pipeline
from pipelines.settings import PipelineSettings
from pipelines.store_tables import table_specs
from pipelines.warehouse import WarehouseBusy, connect, describe, lake_locks, open_warehouse, writer
from tests.pipeline_support import SimShop

ROOT = Path(__file__).resolve().parent.parent
BARRIER_S = 60

# A child process: load the tables named in argv[1] in one writer, a transaction each, in the
# order given; before its n-th COMMIT it makes the file <argv[2]>/<argv[3]>-<n> and waits for
# <argv[2]>/go-<n>.
WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from ops_store.settings import StoreSettings
    from pipelines.extract import WATERMARK_LOG, StoreSource, ensure_meta, load_table
    from pipelines.store_tables import table_specs
    from pipelines.warehouse import writer

    tables, folder, name = sys.argv[1].split(","), Path(sys.argv[2]), sys.argv[3]

    class PauseBeforeCommit:
        commits = 0
        def __init__(self, con):
            self.con = con
        def execute(self, sql, *args):
            if sql == "COMMIT":
                PauseBeforeCommit.commits += 1
                (folder / f"{name}-{self.commits}").touch()
                deadline = time.monotonic() + 60
                while not (folder / f"go-{self.commits}").exists():
                    assert time.monotonic() < deadline, "never told to commit"
                    time.sleep(0.05)
            return self.con.execute(sql, *args)
        def __getattr__(self, name):
            return getattr(self.con, name)

    with writer(hold=[f"raw.{t}" for t in tables], share=[WATERMARK_LOG]) as con:
        ensure_meta(con)
        source = StoreSource.attach(con, StoreSettings().store_url)
        specs = {spec.name: spec for spec in table_specs()}
        for table in tables:
            load_table(PauseBeforeCommit(con), source, specs[table], full=True)
""")

# A child process: print the published build's order count, its order lines' order count, and its
# version, one per line.
READER = textwrap.dedent("""
    from pipelines.publish import open_snapshot, published
    con = open_snapshot()
    print(con.execute("SELECT count(*) FROM raw.orders").fetchone()[0])
    print(con.execute("SELECT count(DISTINCT order_id) FROM raw.order_lines").fetchone()[0])
    print(published().version)
""")


def _start(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, env=dict(os.environ), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for(path: Path, process: subprocess.Popen[str]) -> None:
    """Until `path` exists (the child got there), failing at once if the child ended instead."""
    for _ in range(BARRIER_S * 20):
        if path.exists():
            return
        if process.poll() is not None:
            raise AssertionError(f"child ended before {path.name}: {process.communicate()}")
        time.sleep(0.05)
    raise AssertionError(f"child never reached {path.name}")


def _finish(process: subprocess.Popen[str]) -> str:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err[-3000:]
    return out


def _store_count(sim: SimShop, table: str) -> int:
    store = sim.store()
    try:
        with store.read() as session:
            return session.execute(select(func.count()).select_from(Base.metadata.tables[table])).scalar_one()
    finally:
        store.dispose()


def _load(tables: list[str]) -> None:
    with writer(hold=[f"raw.{t}" for t in tables], share=[WATERMARK_LOG]) as con:
        ensure_meta(con)
        source = StoreSource.attach(con, os.environ["OPS_STORE_URL"])
        for spec in table_specs():
            if spec.name in tables:
                load_table(con, source, spec, full=True)


lake_only = pytest.mark.parametrize("sim", ["postgresql-ducklake"], indirect=True)


@lake_only
def test_two_writer_processes_load_different_tables_at_the_same_time(sim: SimShop, pipeline_settings,  # type: ignore[no-untyped-def]
                                                                     tmp_path: Path) -> None:
    _load(["merchants"])  # the lake and its meta tables exist, as after any first run
    orders = _start(WRITER, "orders", str(tmp_path), "orders")
    payments = _start(WRITER, "payments", str(tmp_path), "payments")
    # Both hold their transaction open at COMMIT: each began before the other committed.
    _wait_for(tmp_path / "orders-1", orders)
    _wait_for(tmp_path / "payments-1", payments)
    (tmp_path / "go-1").touch()
    _finish(orders)
    _finish(payments)

    publish(pipeline_settings)
    con = open_snapshot(pipeline_settings)
    try:
        assert con.execute("SELECT count(*) FROM raw.orders").fetchone()[0] == _store_count(sim, "orders")
        assert con.execute("SELECT count(*) FROM raw.payments").fetchone()[0] == _store_count(sim, "payments")
        marks = dict(con.execute("SELECT table_name, watermark_at IS NOT NULL FROM meta.watermarks").fetchall())
    finally:
        con.close()
    assert marks == {"merchants": True, "orders": True, "payments": True}


@lake_only
def test_a_reader_process_sees_the_whole_published_build_while_a_writer_is_half_way(sim: SimShop,  # type: ignore[no-untyped-def]
                                                                                    pipeline_settings,
                                                                                    tmp_path: Path) -> None:
    _load(["orders", "order_lines"])
    first = publish(pipeline_settings)
    orders = _store_count(sim, "orders")
    with writer(pipeline_settings) as con:  # since then, the last order went from both tables
        con.execute("DELETE FROM raw.order_lines WHERE order_id = (SELECT max(id) FROM raw.orders)")
        con.execute("DELETE FROM raw.orders WHERE id = (SELECT max(id) FROM raw.orders)")

    # A writer reloads both tables, a transaction each; between its two commits the lake holds
    # every order but the old lines: a half-build that no reader of the published build may see.
    half = _start(WRITER, "orders,order_lines", str(tmp_path), "commit")
    _wait_for(tmp_path / "commit-1", half)
    (tmp_path / "go-1").touch()
    _wait_for(tmp_path / "commit-2", half)
    latest = open_warehouse(pipeline_settings, read_only=True)
    try:
        now = latest.execute("SELECT (SELECT count(*) FROM raw.orders), "
                             "(SELECT count(DISTINCT order_id) FROM raw.order_lines)").fetchone()
        assert now == (orders, orders - 1)
    finally:
        latest.close()
    seen = _finish(_start(READER)).split()
    assert seen == [str(orders), str(orders), str(first.version)]  # no lock error, the whole build
    (tmp_path / "go-2").touch()
    _finish(half)
    assert _finish(_start(READER)).split() == seen  # until the next publish

    second = publish(pipeline_settings)
    assert second.version > first.version
    assert _finish(_start(READER)).split() == [str(orders), str(orders), str(second.version)]


@lake_only
@pytest.mark.timeout(900)
def test_a_run_under_the_lakes_own_executor_loads_table_groups_side_by_side(sim: SimShop, pipeline_settings,  # type: ignore[no-untyped-def]
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECOM_PIPELINE_EXECUTOR", "auto")  # the pipeline tests run in one process for speed
    assert PipelineSettings().executor == "multiprocess"
    result = run_pipeline(landing=False, models=False)
    assert result.success, [(p.phase, p.failed_checks, p.failures) for p in result.phases]
    with dg.DagsterInstance.get() as instance:
        run_id = result.phases[-1].run_id
        began = {e.step_key: e.timestamp for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START)}
        ended = {e.step_key: e.timestamp for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)}
    loads = sorted((began[k], ended[k]) for k in began if k.startswith("load_"))
    assert len(loads) == 9
    assert any(later[0] < earlier[1] for earlier, later in zip(loads, loads[1:], strict=False))  # two at once
    con = open_snapshot(pipeline_settings)
    try:
        assert con.execute("SELECT count(*) FROM raw.orders").fetchone()[0] == _store_count(sim, "orders")
    finally:
        con.close()


@lake_only
def test_two_loads_of_one_table_queue_while_other_tables_are_free(sim: SimShop, pipeline_settings) -> None:  # type: ignore[no-untyped-def]
    with lake_locks(pipeline_settings, ["raw.orders"], share=[WATERMARK_LOG]):
        with pytest.raises(WarehouseBusy, match="raw.orders"), lake_locks(pipeline_settings, ["raw.orders"], wait_s=0):
            pass
        with lake_locks(pipeline_settings, ["raw.payments"], share=[WATERMARK_LOG], wait_s=0):
            pass  # another table, and the watermark log shared: free at once
        with pytest.raises(WarehouseBusy, match="watermark_log"), \
                lake_locks(pipeline_settings, [WATERMARK_LOG], wait_s=0):  # compaction waits for loads
            pass


@lake_only
def test_publishing_keeps_the_newest_versions_and_folds_the_watermark_log(sim: SimShop, pipeline_settings,  # type: ignore[no-untyped-def]
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECOM_SNAPSHOTS_KEPT", "2")
    settings = PipelineSettings()
    versions = []
    for _ in range(3):
        _load(["merchants"])
        versions.append(publish(settings).version)
    assert published(settings).version == versions[-1]
    lake = open_warehouse(settings, read_only=True)
    try:
        log = lake.execute("SELECT count(*) FROM meta.watermark_log WHERE table_name = 'merchants'").fetchone()[0]
        kept = {r[0] for r in lake.execute("SELECT snapshot_id FROM ducklake_snapshots('warehouse')").fetchall()}
    finally:
        lake.close()
    assert log == 1  # folded at each publish: one row per table
    assert versions[0] not in kept and {versions[1], versions[2]} <= kept  # older versions expired


def test_ducklake_mode_needs_a_catalog_and_never_shows_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECOM_WAREHOUSE", "ducklake")
    monkeypatch.delenv("ECOM_DUCKLAKE_CATALOG", raising=False)
    with pytest.raises(ValidationError, match="ECOM_DUCKLAKE_CATALOG"):
        PipelineSettings()
    monkeypatch.setenv("ECOM_DUCKLAKE_CATALOG", "postgresql://lake:s3cret@db.internal:5432/ecom_lake")
    shown = describe(PipelineSettings())
    assert shown["mode"] == "ducklake" and "s3cret" not in str(shown) and "db.internal" in shown["catalog"]
    monkeypatch.setenv("ECOM_DUCKLAKE_CATALOG", "host=db.internal dbname=ecom_lake password='s3 cret' user=lake")
    assert "s3" not in describe(PipelineSettings())["catalog"]
    monkeypatch.setenv("ECOM_WAREHOUSE", "file")
    assert describe(PipelineSettings())["mode"] == "file"


def test_a_file_warehouse_from_before_the_watermark_log_keeps_its_watermarks(tmp_path: Path) -> None:
    con = connect(tmp_path / "warehouse.duckdb", extension_dir=tmp_path / "ext")
    try:
        con.execute("CREATE SCHEMA meta; CREATE TABLE meta.watermarks (table_name VARCHAR PRIMARY KEY, "
                    "watermark_at TIMESTAMP, watermark_id BIGINT, columns VARCHAR NOT NULL, loaded_at TIMESTAMP "
                    "NOT NULL); INSERT INTO meta.watermarks VALUES ('orders', '2026-03-01 10:00', 7, 'id:BIGINT', "
                    "'2026-03-01 10:05'), ('order_events', NULL, 99, 'id:BIGINT', '2026-03-01 10:05')")
        ensure_meta(con)
        ensure_meta(con)  # once only
        con.execute("INSERT INTO meta.watermark_log VALUES ('orders', 2, '2026-03-02 10:00', 9, 'id:BIGINT', "
                    "'2026-03-02 10:05')")
        rows = con.execute("SELECT table_name, watermark_id FROM meta.watermarks ORDER BY 1").fetchall()
        assert rows == [("order_events", 99), ("orders", 9)]
        assert compact_watermarks(con) == 1
        assert con.execute("SELECT count(*) FROM meta.watermark_log").fetchone()[0] == 2
        kind = con.execute("SELECT table_type FROM information_schema.tables WHERE table_name = 'watermarks'")
        assert kind.fetchone()[0] == "VIEW"  # the PRIMARY KEY table is gone, not shadowed
    finally:
        con.close()
