"""Orders placed per second through the channel API (POST /v1/orders over loopback), on PostgreSQL and
SQLite, against pgbench's TPC-B rate and a GET /v1/health rate measured in the same run.

For each backend, uvicorn worker count W and client count C, a fresh store is migrated and stocked through
the services (``--skus`` products in two warehouses, stock for every order even if all of them took the
same SKU, so it never runs out) and an API key with a 1,000,000/min rate limit is made (the limiter never
refuses but still runs on every request: it is part of the cost). ``ecom api --workers W`` is started as a
user runs it, on a free port, and driven by C concurrent HTTP/1.1 keep-alive clients in this one process
(raw asyncio streams on uvloop, every request pre-built as bytes before the clock starts; bench/api_load.py):

  health    GET /v1/health for ``--health-seconds``: the HTTP + FastAPI floor, no database (baseline 2).
  warm-up   ``--warmup`` orders, not timed (connection pools, compiled statements).
  orders    ``--orders`` N (or ``--duration`` S seconds of) POST /v1/orders: 1-3 lines of random SKUs,
            a random customer among ``--customers``, a unique channel_order_ref and Idempotency-Key each;
            orders/s = 201 answers / wall seconds; p50/p90/p99 latency of each POST, write to last byte.

Afterwards the server is stopped and the run checked: the store holds exactly as many orders as there were
201 answers (warm-up included), no 5xx, no broken connection; any of these fails the run (exit code 1).

Baseline 1, the reference: ``pgbench -i -s 1`` into a throwaway database on the same PostgreSQL server, then
``pgbench -c C -j 2 -T --pgbench-seconds`` (TPC-B: five statements, one transaction, one shared branch row
at scale 1), run alone on the machine after the API runs. ``ratio`` = pgbench tps / API orders/s: how many
TPC-B transactions the server does in the time one order takes through the API (it is shown beside the
SQLite rows too, for scale). The goal: at least 300 orders/s with p99 under 100 ms on PostgreSQL.

The CPU split says where the cores went during the orders phase (and pgbench's), read from /proc: the load
generator (this process: it must stay far from a core, or it is the bottleneck), the API server (uvicorn and
each worker: a lopsided split means the connections landed unevenly), PostgreSQL (every postgres process),
other (the rest of the machine; pgbench itself in its row), idle; in cores (1.0 = one core busy), and as CPU
milliseconds per request, which other work on the machine disturbs far less than the rates. On PostgreSQL,
``xacts/order`` is the database's committed + rolled-back transactions over the server's lifetime
(pg_stat_database) per order placed.

The machine may be shared: before each timed phase the run waits (up to --quiet-timeout) until other work
keeps under 0.15 cores busy; a run that other work disturbed anyway is flagged ``noisy``. The clients open
their connections --connect-spread ms apart before the clock starts (opened all at once, most land on the
uvicorn worker that happens to be first in accept()).

SQLite: a fresh file under $ECOM_DATA_DIR/bench/ (default ./data/bench/), removed at the end.
PostgreSQL: throwaway databases ``ecom_bench_api_<tag>_<pid>`` / ``ecom_bench_pgbench_<pid>`` on
--pg-server, dropped at the end. The server's log goes to $ECOM_DATA_DIR/bench/api_server_<tag>.log (kept
when a run fails). The figures are printed and written to $ECOM_DATA_DIR/bench/api.json.

    .venv/bin/python bench/api.py                                      # PG then SQLite, 3000 orders, 32 clients
    .venv/bin/python bench/api.py --backends postgresql --clients 8,32,64 --workers 2,3
    .venv/bin/python bench/api.py --backends sqlite --orders 1000 --method card
    .venv/bin/python bench/api.py --duration 20 --clients 32
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.api_load import CpuMeter, CpuSplit, Outcome, drive, wait_for_quiet  # noqa: E402
from bench.place_orders import set_up_shop as set_up_place_orders_shop  # noqa: E402
from bench.throwaway_db import pg_database  # noqa: E402
from ops_store.api.background import free_port, wait_ready
from ops_store.db import Store  # noqa: E402
from ops_store.models import Order  # noqa: E402
from ops_store.security.access import SYSTEM, acting_as  # noqa: E402
from ops_store.services import users  # noqa: E402
from ops_store.settings import StoreSettings  # noqa: E402

DEFAULT_PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
GOAL_ORDERS_PER_S = 300
GOAL_P99_MS = 100.0
SEED = 20240601
HOST = "127.0.0.1"
BENCH_RATE_LIMIT = 1_000_000  # requests a minute: the most a key may have; never reached here
DURATION_BODIES_PER_S = 2000  # --duration: bodies pre-built per second of run (more than the API can take)
SCOPES = ["orders.write", "orders.read"]
NOISY_CORES = 0.15  # other work on the machine over this many cores: the figures are flagged

console = Console() if sys.stdout.isatty() else Console(width=170)


@dataclass
class PgBench:
    clients: int
    seconds: int
    tps: float
    latency_ms: float
    cpu: dict[str, float]
    background: float = 0.0  # cores busy with other work just before


@dataclass
class Run:
    backend: str
    workers: int
    clients: int
    method: str
    orders: Outcome
    health: Outcome
    warmup_created: int
    stored_orders: int
    cpu_orders: CpuSplit
    cpu_health: CpuSplit
    xacts_per_order: float | None = None
    background: float = 0.0  # cores busy with other work just before the orders phase
    pgbench: PgBench | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def created(self) -> int:
        return self.orders.count(201)

    @property
    def orders_per_s(self) -> float:
        return self.created / self.orders.seconds if self.orders.seconds else 0.0

    @property
    def ratio(self) -> float | None:
        if self.pgbench is None or not self.orders_per_s:
            return None
        return self.pgbench.tps / self.orders_per_s

    def cpu_ms(self, cores: float) -> float:
        """CPU milliseconds per order placed, from a phase's cores."""
        return cores * 1000 / self.orders_per_s if self.orders_per_s else float("nan")

    @property
    def noisy(self) -> bool:
        """Other work took a share of the cores while the orders were timed."""
        return self.cpu_orders.other > NOISY_CORES or self.background > NOISY_CORES

    @property
    def goal_met(self) -> bool:
        return self.orders_per_s >= GOAL_ORDERS_PER_S and self.orders.percentile_ms(0.99) < GOAL_P99_MS

    def as_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend, "workers": self.workers, "clients": self.clients, "method": self.method,
            "orders": {
                "sent": self.orders.requests + self.orders.statuses.get("conn", 0), "created_201": self.created,
                "seconds": round(self.orders.seconds, 3), "orders_per_s": round(self.orders_per_s, 1),
                "latency_ms": {f"p{int(q * 100)}": round(self.orders.percentile_ms(q), 2)
                               for q in (0.5, 0.9, 0.99)} | {"max": round(self.orders.percentile_ms(1.0), 2)},
                "errors": self.orders.errors(201), "error_samples": self.orders.samples,
                "cpu_cores": self.cpu_orders.as_dict(),
                "cpu_ms_per_order": {"api_server": round(self.cpu_ms(self.cpu_orders.server), 2),
                                     "postgres": round(self.cpu_ms(self.cpu_orders.postgres), 2),
                                     "generator": round(self.cpu_ms(self.cpu_orders.generator), 3)},
                "background_cores_before": round(self.background, 3),
            },
            "health": {
                "requests": self.health.requests, "seconds": round(self.health.seconds, 3),
                "requests_per_s": round(self.health.rate, 1),
                "latency_ms": {f"p{int(q * 100)}": round(self.health.percentile_ms(q), 2) for q in (0.5, 0.99)},
                "errors": self.health.errors(200), "cpu_cores": self.cpu_health.as_dict(),
            },
            "pgbench": asdict(self.pgbench) if self.pgbench else None,
            "ratio_pgbench_tps_per_order_per_s": round(self.ratio, 2) if self.ratio else None,
            "warmup_created": self.warmup_created, "stored_orders": self.stored_orders,
            "xacts_per_order": round(self.xacts_per_order, 2) if self.xacts_per_order else None,
            "goal_met": self.goal_met if self.backend == "postgresql" else None,
            "noisy": self.noisy,
            "problems": self.problems,
        }


# --------------------------------------------------------------------------- stores and shop


@contextmanager
def store_url(backend: str, tag: str, pg_server: str) -> Iterator[str]:
    """A fresh, empty database for one run: a SQLite file or a throwaway PostgreSQL database."""
    if backend == "postgresql":
        with pg_database(pg_server, f"ecom_bench_api_{tag}") as url:
            yield url
        return
    folder = StoreSettings().data_dir / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"api_{tag}.sqlite"
    _remove_sqlite(path)
    try:
        yield f"sqlite:///{path}"
    finally:
        _remove_sqlite(path)


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def set_up_shop(store: Store, n_skus: int, n_orders: int) -> tuple[list[str], str]:
    """Migrate and stock the store through the services (as bench/place_orders.py does, with
    ``n_skus`` products); returns the SKUs and a fresh API key for the web channel."""
    skus = set_up_place_orders_shop(store, n_orders, n_skus)
    with acting_as(SYSTEM):
        key = users.create_api_key(store, "bench api", scopes=SCOPES, channel="web",
                                   rate_limit=BENCH_RATE_LIMIT)["key"]
    return skus, key


def order_requests(n: int, skus: list[str], customers: int, method: str, key: str, port: int,
                   run: str) -> list[bytes]:
    """N complete POST /v1/orders requests (head and body as bytes), each with its own reference and key."""
    rng = random.Random(f"{SEED}-{run}")
    head = (f"POST /v1/orders HTTP/1.1\r\nHost: {HOST}:{port}\r\nAuthorization: Bearer {key}\r\n"
            "Content-Type: application/json\r\nAccept: application/json\r\n")
    requests = []
    for i in range(n):
        lines = [{"sku": sku, "qty": rng.randint(1, 3)} for sku in rng.sample(skus, rng.randint(1, 3))]
        payment: dict[str, Any] = {"method": method}
        if method == "card":
            payment.update(token="tok_ok", brand="visa", last4="4242")
        body = json.dumps({
            "channel": "web", "channel_order_ref": f"API-{run}-{i}", "merchant": "M1",
            "customer_ref": f"C-{rng.randrange(customers)}", "lines": lines, "delivery_option": "standard",
            "payment": payment,
        }, separators=(",", ":")).encode()
        requests.append(f"{head}Idempotency-Key: {run}-{i}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    return requests


def health_request(port: int) -> bytes:
    return f"GET /v1/health HTTP/1.1\r\nHost: {HOST}:{port}\r\nAccept: application/json\r\n\r\n".encode()


# --------------------------------------------------------------------------- the server


@contextmanager
def api_server(url: str, workers: int, log_path: Path, data_dir: Path) -> Iterator[tuple[int, int]]:
    """``ecom api`` on a free port as a user starts it; yields (port, pid), stops it at the end."""
    port = free_port()
    env = {**os.environ, "OPS_STORE_URL": url, "ECOM_DATA_DIR": str(data_dir)}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "ops_store.cli.main", "api", "--host", HOST, "--port", str(port),
             "--workers", str(workers)], env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            try:
                wait_ready(process, f"http://{HOST}:{port}/v1/ready", timeout=90)
            except RuntimeError:
                raise RuntimeError(f"the API did not start; see {log_path}:\n{log_path.read_text()[-3000:]}") from None
            _wait_for_workers(log_path, workers)
            yield port, process.pid
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_for_workers(log_path: Path, workers: int, timeout: float = 60) -> None:
    """/v1/ready answers as soon as one worker is up: wait until each has started its application."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and log_path.read_text().count("Application startup complete") < workers:
        time.sleep(0.1)


# --------------------------------------------------------------------------- PostgreSQL figures


def pg_xacts(url: str) -> int:
    """Committed + rolled-back transactions of the URL's database so far (pg_stat_database)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(text(
                "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()")))
    finally:
        engine.dispose()


class PgBenchRunner:
    """``pgbench -i -s SCALE`` once into a throwaway database, then one timed run per client count."""

    def __init__(self, server: str, seconds: int, scale: int) -> None:
        self.server, self.seconds, self.scale = server, seconds, scale
        self.binary = shutil.which("pgbench") or "/usr/bin/pgbench"
        self.results: dict[int, PgBench] = {}
        self._database: Any = None
        self._args: list[str] = []

    def available(self) -> bool:
        return Path(self.binary).exists()

    def prepare(self) -> None:
        self._database = pg_database(self.server, "ecom_bench_pgbench")
        url = make_url(self._database.__enter__())
        self._args = ["-h", url.host or HOST, "-p", str(url.port or 5432), "-U", url.username or "postgres"]
        self._env = {**os.environ, **({"PGPASSWORD": url.password} if url.password else {})}
        self._dbname = url.database
        subprocess.run([self.binary, "-i", "-s", str(self.scale), "-q", *self._args, self._dbname],
                       env=self._env, check=True, capture_output=True, text=True)

    def run(self, clients: int) -> PgBench:
        if clients in self.results:
            return self.results[clients]
        if self._database is None:
            self.prepare()
        meter = CpuMeter()
        before = meter.snapshot()
        done = subprocess.run(
            [self.binary, "-c", str(clients), "-j", str(min(2, clients)), "-T", str(self.seconds), "-n",
             *self._args, self._dbname], env=self._env, check=True, capture_output=True, text=True)
        split = meter.split(before, meter.snapshot())
        tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", done.stdout)
        latency = re.search(r"latency average = ([\d.]+) ms", done.stdout)
        if tps is None or latency is None:
            raise RuntimeError(f"cannot read pgbench's output:\n{done.stdout}\n{done.stderr}")
        cpu = split.as_dict()
        cpu["pgbench_client"] = cpu.pop("other")
        del cpu["api_server"]
        result = PgBench(clients, self.seconds, float(tps.group(1)), float(latency.group(1)), cpu)
        self.results[clients] = result
        # Vacuum between runs so each starts from a like table (pgbench -n skips its own vacuum).
        subprocess.run(["psql", *self._args, "-q", "-c", "VACUUM", self._dbname], env=self._env,
                       capture_output=True, check=False)
        return result

    def close(self) -> None:
        if self._database is not None:
            self._database.__exit__(None, None, None)
            self._database = None


# --------------------------------------------------------------------------- one run


def quiet(args: argparse.Namespace, progress: Progress, label: str) -> float:
    """Before a timed phase: wait until the rest of the machine is quiet (see --quiet-timeout)."""
    task = progress.add_task(f"{label} waiting for a quiet machine", total=None, visible=False)

    def waiting(load: float) -> None:
        progress.update(task, visible=True,
                        description=f"{label} [yellow]waiting: other work busy {load:.2f} cores[/]")

    load = wait_for_quiet(NOISY_CORES, args.quiet_timeout, waiting)
    progress.remove_task(task)
    if load >= NOISY_CORES:
        console.print(f"[yellow]{label}: other work keeps {load:.2f} cores busy; timing anyway (flagged)[/]")
    return load



def _count_orders(url: str) -> int:
    store = Store(url)
    try:
        with store.read() as session:
            return int(session.scalar(select(func.count()).select_from(Order)))
    finally:
        store.dispose()


def bench_one(args: argparse.Namespace, backend: str, workers: int, clients: int, progress: Progress,
              data_dir: Path, shop_url: str | None = None) -> Run:
    """One run. Without ``shop_url`` on a fresh, empty store; with it, on that existing store
    (e.g. a simulated shop, to see the API at that scale), where the bench merchant M1 and its
    SKUs are added beside what is there and only the orders this run adds are counted."""
    tag = f"{backend[:2]}_w{workers}_c{clients}"
    label = f"{backend:<10} w{workers} c{clients:<3}"
    n_orders = args.orders if args.duration is None else math.ceil(args.duration * DURATION_BODIES_PER_S)
    fresh = store_url(backend, tag, args.pg_server) if shop_url is None else nullcontext(shop_url)
    with fresh as url:
        task = progress.add_task(f"{label} stocking {args.skus} SKUs", total=None)
        store = Store(url)
        try:
            skus, key = set_up_shop(store, args.skus, n_orders + args.warmup)
        finally:
            store.dispose()
        orders_before = _count_orders(url) if shop_url is not None else 0
        progress.update(task, description=f"{label} shop ready", total=1, completed=1)
        xacts_before = pg_xacts(url) if backend == "postgresql" else None
        log_path = data_dir / "bench" / f"api_server_{tag}.log"
        with api_server(url, workers, log_path, data_dir / "bench" / "api_data") as (port, pid):
            warm = order_requests(args.warmup, skus, args.customers, args.method, key, port, f"{tag}-warm")
            orders = order_requests(n_orders, skus, args.customers, args.method, key, port, f"{tag}-run")
            meter = CpuMeter(pid)

            def phase(name: str, total: int | None) -> Any:
                task = progress.add_task(f"{label} {name}", total=total)
                return task, (lambda done: progress.update(task, completed=done))

            quiet(args, progress, label)
            task, tick = phase("health", None)
            spread = args.connect_spread / 1000
            drive(HOST, port, [health_request(port)], clients=clients, ok=200, repeat=True, seconds=1.0,
                  spread=spread)
            before = meter.snapshot()
            health = drive(HOST, port, [health_request(port)], clients=clients, ok=200, repeat=True,
                           seconds=args.health_seconds, spread=spread, on_progress=tick)
            cpu_health = meter.split(before, meter.snapshot())
            progress.update(task, total=health.requests, description=f"{label} health [dim]{health.rate:.0f}/s[/]")

            task, tick = phase("warm-up", len(warm))
            warmup = drive(HOST, port, warm, clients=clients, ok=201, spread=spread, on_progress=tick)

            background = quiet(args, progress, label)
            task, tick = phase("orders ", None if args.duration else len(orders))
            before = meter.snapshot()
            placed = drive(HOST, port, orders, clients=clients, ok=201, seconds=args.duration, spread=spread,
                           on_progress=tick)
            cpu_orders = meter.split(before, meter.snapshot())
            progress.update(task, total=placed.requests,
                            description=f"{label} orders  [dim]{placed.count(201) / placed.seconds:.0f}/s[/]")
        stored = _count_orders(url) - orders_before
        xacts = None
        if xacts_before is not None:
            time.sleep(0.3)  # the workers' backends report their counts as they end
            made = warmup.count(201) + placed.count(201)
            xacts = (pg_xacts(url) - xacts_before) / made if made else None
    run = Run(backend, workers, clients, args.method, placed, health, warmup.count(201), stored, cpu_orders,
              cpu_health, xacts, background)
    expected = warmup.count(201) + placed.count(201)
    if stored != expected:
        run.problems.append(f"the store holds {stored} orders, {expected} were answered 201")
    for outcome, name in ((warmup, "warm-up"), (placed, "orders"), (health, "health")):
        broken = {s: n for s, n in outcome.statuses.items() if s == "conn" or (isinstance(s, int) and s >= 500)}
        if broken:
            run.problems.append(f"{name}: {broken} (first: {outcome.samples})")
    if args.duration is not None and placed.requests >= len(orders):
        run.problems.append("--duration ran out of pre-built orders: the rate is capped, raise "
                            "DURATION_BODIES_PER_S")
    if run.problems:
        console.print(f"[red]{label}: " + "; ".join(run.problems) + f" (server log kept: {log_path})[/]")
    else:
        log_path.unlink(missing_ok=True)
    return run


# --------------------------------------------------------------------------- report


def print_tables(runs: list[Run], args: argparse.Namespace) -> None:
    table = Table(title=f"POST /v1/orders over loopback ({args.method}, {args.skus} SKUs, 1-3 lines per order)")
    columns = ("backend", "workers", "clients", "orders", "seconds", "orders/s", "p50 ms", "p90 ms", "p99 ms",
               "errors", "health req/s", "pgbench tps", "pgbench lat ms", "ratio", "goal")
    for name in columns:
        table.add_column(name, justify="left" if name in ("backend", "errors") else "right")
    for r in runs:
        o = r.orders
        errors = ", ".join(f"{s}: {n}" for s, n in o.errors(201).items()) or "-"
        pg = r.pgbench
        goal = ("[green]met[/]" if r.goal_met else "[red]no[/]") if r.backend == "postgresql" else ""
        table.add_row(
            r.backend + (" [yellow]noisy[/]" if r.noisy else ""), str(r.workers), str(r.clients), str(r.created),
            f"{o.seconds:.1f}", f"{r.orders_per_s:.0f}", f"{o.percentile_ms(0.5):.1f}", f"{o.percentile_ms(0.9):.1f}",
            f"{o.percentile_ms(0.99):.1f}", errors, f"{r.health.rate:.0f}", f"{pg.tps:.0f}" if pg else "-",
            f"{pg.latency_ms:.1f}" if pg else "-", f"{r.ratio:.1f}x" if r.ratio else "-", goal,
        )
    console.print(table)

    cpu = Table(title="Where the cores went while timed (cores: CPU seconds per second, 1.0 = one core busy)")
    for name in ("backend", "workers", "clients", "phase", "generator", "api server", "api processes", "postgres",
                 "other", "idle", "api CPU ms/req", "pg CPU ms/req", "gen CPU ms/req", "xacts/order"):
        cpu.add_column(name, justify="left" if name in ("backend", "phase") else "right")
    for r in runs:
        for phase, split, outcome in (("orders", r.cpu_orders, r.orders), ("health", r.cpu_health, r.health)):
            per_s = r.orders_per_s if phase == "orders" else outcome.rate
            procs = " + ".join(f"{c:.2f}" for c in split.per_process if c >= 0.005)

            def ms(cores: float, per_s: float = per_s) -> str:
                return f"{cores * 1000 / per_s:.2f}" if per_s else "-"

            cpu.add_row(r.backend, str(r.workers), str(r.clients), phase, f"{split.generator:.2f}",
                        f"{split.server:.2f}", procs, f"{split.postgres:.2f}", f"{split.other:.2f}",
                        f"{split.idle:.2f}", ms(split.server), ms(split.postgres), ms(split.generator),
                        f"{r.xacts_per_order:.1f}" if phase == "orders" and r.xacts_per_order else "")
    seen: set[int] = set()
    for r in runs:
        if r.pgbench and r.clients not in seen:
            seen.add(r.clients)
            c, tps = r.pgbench.cpu, r.pgbench.tps
            phase = "TPC-B [yellow]noisy[/]" if r.pgbench.background > NOISY_CORES else "TPC-B"
            cpu.add_row("pgbench", "", str(r.clients), phase, "", "", "", f"{c['postgres']:.2f}",
                        f"{c['pgbench_client']:.2f}", f"{c['idle']:.2f}", "", f"{c['postgres'] * 1000 / tps:.2f}",
                        "", "1")
    console.print(cpu)
    console.print(f"ratio = pgbench TPC-B tps / API orders/s (same server, same client count, scale "
                  f"{args.pgbench_scale}, {args.pgbench_seconds}s); goal on PostgreSQL: >= {GOAL_ORDERS_PER_S} "
                  f"orders/s and p99 < {GOAL_P99_MS:.0f} ms. other = the rest of the machine (pgbench's client in "
                  f"its row); noisy = other work over {NOISY_CORES} cores. python {sys.version.split()[0]}, "
                  f"{os.cpu_count()} CPUs")
    code = code_version()
    changed = f", ops_store changed since: {len(code['ops_store_changed'])} files" if code["ops_store_changed"] else ""
    console.print(f"code: commit {code['commit']}{changed}")


def code_version() -> dict[str, Any]:
    """The commit measured and the files of the application changed since (the figures belong to both)."""
    root = Path(__file__).resolve().parents[1]

    def git(*cmd: str) -> str:
        try:
            return subprocess.run(["git", *cmd], cwd=root, capture_output=True, text=True, check=True).stdout.rstrip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    changed = [line[3:] for line in git("status", "--porcelain", "--", "ops_store").splitlines()]
    return {"commit": git("rev-parse", "--short", "HEAD") or None, "ops_store_changed": changed}


def write_json(runs: list[Run], args: argparse.Namespace, data_dir: Path) -> Path:
    path = data_dir / "bench" / "api.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "benchmark": "api", "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([".venv/bin/python", "bench/api.py", *sys.argv[1:]]),
        "python": sys.version.split()[0], "cpus": os.cpu_count(), "code": code_version(),
        "goal": {"orders_per_s": GOAL_ORDERS_PER_S, "p99_ms": GOAL_P99_MS, "backend": "postgresql"},
        "settings": {"method": args.method, "skus": args.skus, "customers": args.customers, "warmup": args.warmup,
                     "orders": args.orders if args.duration is None else None, "duration_s": args.duration,
                     "health_seconds": args.health_seconds, "connect_spread_ms": args.connect_spread,
                     "pgbench_seconds": args.pgbench_seconds,
                     "pgbench_scale": args.pgbench_scale},
        "runs": [r.as_dict() for r in runs],
    }, indent=2))
    return path


# --------------------------------------------------------------------------- main


def _ints(value: str) -> list[int]:
    return [int(v) for v in value.split(",") if v.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="postgresql,sqlite", help="postgresql, sqlite or both (in that order)")
    parser.add_argument("--orders", type=int, default=3000, help="orders timed per run (default 3000)")
    parser.add_argument("--duration", type=float, default=None,
                        help="time the orders phase for this many seconds instead of --orders")
    parser.add_argument("--clients", type=_ints, default=[32], help="concurrent clients, comma-separated (32)")
    parser.add_argument("--workers", type=_ints, default=[2], help="uvicorn workers, comma-separated (2)")
    parser.add_argument("--method", default="bank_transfer", choices=["bank_transfer", "card"],
                        help="payment method (card: authorised by the in-process fake provider, one more "
                             "transaction per order)")
    parser.add_argument("--skus", type=int, default=200, help="products in the catalog (default 200; fewer: "
                        "more orders wait on the same stock rows)")
    parser.add_argument("--customers", type=int, default=2000, help="distinct customer refs (default 2000)")
    parser.add_argument("--warmup", type=int, default=100, help="orders placed before timing (default 100)")
    parser.add_argument("--health-seconds", type=float, default=5.0, help="GET /v1/health phase (default 5 s)")
    parser.add_argument("--pgbench-seconds", type=int, default=10, help="pgbench -T (default 10)")
    parser.add_argument("--pgbench-scale", type=int, default=1, help="pgbench -i -s (default 1)")
    parser.add_argument("--connect-spread", type=float, default=5.0,
                        help="ms between the clients' connection opens, before each phase's clock starts "
                             "(default 5; 0: all at once, and most land on one uvicorn worker)")
    parser.add_argument("--quiet-timeout", type=float, default=120,
                        help="before each timed phase, wait up to this many seconds for other work on the "
                             f"machine to drop under {NOISY_CORES} cores (default 120; 0: do not wait)")
    parser.add_argument("--no-pgbench", action="store_true", help="skip the pgbench reference")
    parser.add_argument("--pg-server", default=DEFAULT_PG_SERVER,
                        help="PostgreSQL server URL (a database there is used to create the throwaway ones)")
    args = parser.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if set(args.backends) - {"sqlite", "postgresql"} or not args.backends:
        parser.error("--backends: postgresql, sqlite or both")
    if args.orders < 1 or args.warmup < 1 or not args.clients or min(args.clients) < 1 or not args.workers \
            or min(args.workers) < 1 or args.skus < 3 or args.customers < 1:
        parser.error("need --orders, --warmup, --clients, --workers >= 1, --skus >= 3, --customers >= 1")
    if args.duration is not None and args.duration <= 0:
        parser.error("--duration must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data_dir = StoreSettings().ensure_data_dir()
    runs: list[Run] = []
    pgbench = PgBenchRunner(args.pg_server, args.pgbench_seconds, args.pgbench_scale)
    use_pgbench = not args.no_pgbench and pgbench.available()
    if not args.no_pgbench and not use_pgbench:
        console.print(f"[yellow]pgbench not found ({pgbench.binary}): no reference rate[/]")
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=console, refresh_per_second=4)
    try:
        with progress:
            for backend in args.backends:
                for workers in args.workers:
                    for clients in args.clients:
                        runs.append(bench_one(args, backend, workers, clients, progress, data_dir))
            if use_pgbench:
                pgbench.prepare()
                for clients in sorted({r.clients for r in runs}):
                    background = quiet(args, progress, f"pgbench    c{clients:<3}")
                    task = progress.add_task(f"pgbench    c{clients:<3} TPC-B {args.pgbench_seconds}s", total=None)
                    result = pgbench.run(clients)
                    result.background = background
                    progress.update(task, total=1, completed=1,
                                    description=f"pgbench    c{clients:<3} TPC-B [dim]{result.tps:.0f} tps[/]")
                for r in runs:
                    r.pgbench = pgbench.results.get(r.clients)
    finally:
        pgbench.close()
    print_tables(runs, args)
    path = write_json(runs, args, data_dir)
    console.print(f"written to {path}")
    return 1 if any(r.problems for r in runs) else 0


if __name__ == "__main__":
    raise SystemExit(main())
