"""Killing the pipeline on purpose, for tests/test_faults_pipeline.py:

- ``PipelineChild``: `run_pipeline` in a child process with a process group of its own, so a test
  can SIGKILL the whole group (dbt, which dagster-dbt runs as a subprocess, and any step worker
  with it) at a chosen point; optionally with the snapshot copy slowed down so the kill can land
  inside it;
- ``BuildWatch``: the child's build run as the Dagster event log shows it (which assets are done,
  which step runs), the way the test picks its kill point;
- ``SnapshotReader``: a thread that keeps opening the published snapshot as a dashboard would and
  checks each one is a whole build;
- ``warehouse_checksums``: row count and content hash of every relation of the warehouse, load
  times left out, to compare a recovered warehouse with an uninterrupted run's.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from pipelines.publish import open_snapshot
from pipelines.settings import PipelineSettings
from pipelines.warehouse import open_warehouse

DBT_SCHEMAS = ("staging", "intermediate", "marts")
COMPARED_SCHEMAS = ("raw", *DBT_SCHEMAS, "ml")
# meta tables compared without the columns that are load or run times by nature (or the run's id):
# the same data loaded twice differs only there. meta.watermark_log (numbered per load) and
# meta.published (one row per publish) count runs, not data, and are left out.
META_COMPARED = {
    "watermarks": "table_name, watermark_at, watermark_id, columns",
    "quarantine": "source, partition_key, file, row_number, reason, raw",
    "landing_files": "source, partition_key, file, sha256, rows_loaded, rows_quarantined",
    "dbt_results": "unique_id, name, resource_type, status, failures",
}
# the incremental models' stamp of when a row was written (dbt/macros/incremental.sql): a build time
BUILD_TIME_COLUMN = "built_at"
SLOW_COPY_BLOCK = 256 * 1024

CHILD = """
import os, shutil, sys, time
slow = float(os.environ.get("ECOM_TEST_SLOW_SNAPSHOT_COPY_S", "0"))
if slow:  # the snapshot copy (to a .partial file) in small blocks with a pause after each
    real_copyfile = shutil.copyfile
    def copyfile(src, dst, *args, **kwargs):
        if not str(dst).endswith(".partial"):
            return real_copyfile(src, dst, *args, **kwargs)
        with open(src, "rb") as source, open(dst, "wb") as target:
            while block := source.read(%(block)d):
                target.write(block)
                target.flush()
                time.sleep(slow)
        return dst
    shutil.copyfile = copyfile
from pipelines.runner import run_pipeline
result = run_pipeline(models=%(models)r)
print("pipeline finished:", result.success, flush=True)
sys.exit(0 if result.success else 1)
"""


@dataclass
class PipelineChild:
    """`run_pipeline(models=...)` in a process group of its own; output to `log`."""

    log: Path
    models: bool
    slow_copy_s: float = 0.0
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> PipelineChild:
        env = {**os.environ, "ECOM_DBT_LOG_TO_FILE": "1",
               "ECOM_TEST_SLOW_SNAPSHOT_COPY_S": str(self.slow_copy_s)}
        code = CHILD % {"models": self.models, "block": SLOW_COPY_BLOCK}
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        return self

    @property
    def pgid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> list[tuple[int, str]]:
        """SIGKILL the whole group at once; returns its live members (pid, command) at that moment,
        and waits until none is left."""
        members = group_members(self.pgid)
        os.killpg(self.pgid, signal.SIGKILL)
        assert self.process is not None
        self.process.wait(timeout=30)
        wait_group_gone(self.pgid)
        return members

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def group_members(pgid: int) -> list[tuple[int, str]]:
    """Live (not zombie) processes of a process group, with their command lines."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            found.append((int(entry.name), cmdline.strip()))
    return found


def wait_group_gone(pgid: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while group_members(pgid):
        if time.monotonic() > deadline:
            raise AssertionError(f"processes of the killed run outlived it: {group_members(pgid)}")
        time.sleep(0.05)


def writer_lock_is_free(settings: PipelineSettings) -> bool:
    """Nobody holds the warehouse file's writer lock (an flock dies with its process)."""
    path = settings.warehouse_path.with_name(settings.warehouse_path.name + ".writer.lock")
    if not path.exists():
        return True
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
        return True


@dataclass
class BuildWatch:
    """The child's build run (job `ingest`, or `daily_build` when the daily tier is due: on a new
    warehouse) as the Dagster event log shows it."""

    instance: dg.DagsterInstance
    known_runs: set[str] = field(default_factory=set)
    run_id: str | None = None

    @classmethod
    def before(cls, instance: dg.DagsterInstance) -> BuildWatch:
        return cls(instance, set(instance.get_run_ids()))

    def _run(self) -> str | None:
        if self.run_id is None:
            fresh = [r for r in self.instance.get_runs(limit=5)
                     if r.run_id not in self.known_runs and r.job_name in ("ingest", "daily_build")]
            self.run_id = fresh[0].run_id if fresh else None
        return self.run_id

    def materialized(self) -> list[dg.AssetKey]:
        run_id = self._run()
        if run_id is None:
            return []
        records = self.instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
        return [r.dagster_event.asset_key for r in records if r.dagster_event and r.dagster_event.asset_key]

    def started_steps(self) -> list[str]:
        run_id = self._run()
        if run_id is None:
            return []
        records = self.instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START)
        return [r.dagster_event.step_key or "" for r in records if r.dagster_event]


def kill_when(child: PipelineChild, reached: Callable[[], str | None], *, timeout: float = 600,
              poll_s: float = 0.01) -> tuple[str, list[tuple[int, str]]]:
    """Poll `reached` (which describes the point once reached, else None) and kill the child's
    group right then; returns the description and the group's members at the kill."""
    deadline = time.monotonic() + timeout
    while child.running():
        point = reached()
        if point:
            return point, child.kill()
        if time.monotonic() > deadline:
            child.kill()
            raise AssertionError(f"no kill point within {timeout:.0f}s:\n{child.output()}")
        time.sleep(poll_s)
    raise AssertionError(f"the run ended (exit {child.process.returncode if child.process else None}) before its "
                         f"kill point:\n{child.output()}")


@dataclass
class SnapshotRead:
    snapshot: str
    orders: int
    fct_orders: int | None  # None: no marts in this snapshot


class SnapshotReader(threading.Thread):
    """Opens the published snapshot again and again, as a dashboard does, and checks each is one
    whole build: every order has its lines, and when the marts are there fct_orders has every
    order of raw.orders of the same snapshot. The first failure stops it."""

    def __init__(self, settings: PipelineSettings) -> None:
        super().__init__(daemon=True)
        self.settings = settings
        self.reads: list[SnapshotRead] = []
        self.errors: list[str] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            try:
                self.reads.append(self._read_once())
            except BaseException as exc:  # noqa: BLE001 - every failure of a reader is the finding
                self.errors.append(f"{type(exc).__name__}: {exc}")
                return
            time.sleep(0.1)  # a dashboard user clicking fast; leaves the CPU to the pipeline

    def _read_once(self) -> SnapshotRead:
        con = open_snapshot(self.settings)
        try:
            name = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
                               ).fetchone()[0] or ""
            orders, ordered = con.execute("SELECT (SELECT count(*) FROM raw.orders), "
                                          "(SELECT count(DISTINCT order_id) FROM raw.order_lines)").fetchone()
            has_marts = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_catalog = "
                                    "current_database() AND table_schema = 'marts' AND table_name = 'fct_orders'"
                                    ).fetchone()[0]
            facts = con.execute("SELECT count(*) FROM marts.fct_orders").fetchone()[0] if has_marts else None
        finally:
            con.close()
        if orders != ordered:
            raise AssertionError(f"half a build in {name}: {orders} orders but lines of {ordered}")
        if facts is not None and facts != orders:
            raise AssertionError(f"half a build in {name}: {orders} orders in raw, {facts} in marts.fct_orders")
        return SnapshotRead(str(name), orders, facts)

    def stop(self) -> None:
        time.sleep(0.3)
        self.halt.set()
        self.join(timeout=30)


def warehouse_checksums(settings: PipelineSettings) -> dict[str, tuple[int, int]]:
    """Row count and an order-independent hash of every table and view of the compared schemas
    (doubles rounded to 9 decimals, against the last bits of a parallel sum; build times left
    out), and of the meta tables without their load times. Opens the warehouse itself: no writer may run."""
    con = open_warehouse(settings, read_only=True)
    try:
        relations = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_catalog = current_database() "
            f"AND table_schema IN {COMPARED_SCHEMAS} ORDER BY 1, 2").fetchall()
        sums: dict[str, tuple[int, int]] = {}
        for schema, name in relations:
            columns = con.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_catalog = "
                "current_database() AND table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                [schema, name]).fetchall()
            select = ", ".join(f'round("{c}", 9) AS "{c}"' if kind in ("DOUBLE", "FLOAT") else f'"{c}"'
                               for c, kind in columns if c != BUILD_TIME_COLUMN)
            sums[f"{schema}.{name}"] = tuple(con.execute(  # type: ignore[assignment]
                f'SELECT count(*), coalesce(sum(hash(t)), 0) FROM (SELECT {select} FROM {schema}."{name}") AS t'
            ).fetchone())
        present = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables WHERE table_catalog = "
                                             "current_database() AND table_schema = 'meta'").fetchall()}
        for table, columns in META_COMPARED.items():
            if table in present:
                sums[f"meta.{table}"] = tuple(con.execute(  # type: ignore[assignment]
                    f"SELECT count(*), coalesce(sum(hash(t)), 0) FROM (SELECT {columns} FROM meta.{table}) AS t"
                ).fetchone())
        return sums
    finally:
        con.close()
