"""Faults on purpose, for the fault tests (tests/test_faults_orders.py, tests/test_faults_pg_restart.py):

- ``KillableApi``: `ecom api` in a process group of its own, so a test can SIGKILL it (every
  worker with it) at any moment and start it again on the same port;
- ``OrderClients``: client threads that each own a list of orders, one Idempotency-Key each, and
  send a key again until it gets a 2xx, recording every answer on the way;
- ``private_cluster``: a throwaway PostgreSQL cluster (initdb in a temporary folder, a free port)
  that a test may restart or crash without touching the shared server;
- ``OrderPlacer``: a child process placing orders through ``orders.place_order`` (the service, no
  HTTP), which can stop inside an order's transaction to be killed there;
- ``assert_orders_whole``: what no kill may break, checked straight in the store's tables.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from ops_store.api.background import free_port, wait_ready
from ops_store.db import Store
from ops_store.models import IdempotencyKey, Order, OrderEvent, OrderLine, Payment, Reservation

ROOT = Path(__file__).resolve().parent.parent
LIVE = ("placed", "paid", "allocated")  # statuses whose lines still hold their reservations


# --------------------------------------------------------------------------- invariants


def assert_orders_whole(store: Store) -> None:
    """Every order is whole and nothing is left of one that is not: each order has its lines, one
    payment and its events (the first: -> placed); a live order's active reservations cover each
    line exactly; no line, reservation, payment or event points at a missing order; every
    idempotency key points at an existing order (and its stored answer at that same order); stock
    balances agree with the ledger and the reservations."""
    from tests.test_concurrency import assert_stock_invariants

    problems: list[str] = []
    with store.read() as s:
        status: dict[int, str] = {i: st for i, st in s.execute(select(Order.id, Order.status))}
        lines = {i: (o, q) for i, o, q in s.execute(select(OrderLine.id, OrderLine.order_id, OrderLine.quantity))}
        reservations = s.execute(select(Reservation.order_id, Reservation.order_line_id, Reservation.quantity,
                                        Reservation.status)).all()
        payments = Counter(s.scalars(select(Payment.order_id)))
        events: dict[int, list[tuple[str | None, str]]] = defaultdict(list)
        for order_id, before, after in s.execute(select(OrderEvent.order_id, OrderEvent.from_status,
                                                        OrderEvent.to_status).order_by(OrderEvent.id)):
            events[order_id].append((before, after))
        keys = s.execute(select(IdempotencyKey.key, IdempotencyKey.order_id, IdempotencyKey.response_body)).all()

    held: Counter[int] = Counter()
    for order_id, line_id, qty, state in reservations:
        if order_id not in status:
            problems.append(f"a reservation of order {order_id}, which does not exist")
        elif lines.get(line_id, (None,))[0] != order_id:
            problems.append(f"a reservation of order {order_id} for line {line_id} of another order")
        elif state == "active":
            held[line_id] += qty
    lines_of: Counter[int] = Counter()
    for line_id, (order_id, qty) in lines.items():
        lines_of[order_id] += 1
        if order_id not in status:
            problems.append(f"line {line_id} of order {order_id}, which does not exist")
        elif status[order_id] in LIVE and held[line_id] != qty:
            problems.append(f"order {order_id} line {line_id}: {held[line_id]} reserved for {qty} ordered")
        elif status[order_id] == "cancelled" and held[line_id]:
            problems.append(f"cancelled order {order_id} still holds {held[line_id]} units")
    for order_id in status:
        if not lines_of[order_id]:
            problems.append(f"order {order_id} has no lines")
        if payments[order_id] != 1:
            problems.append(f"order {order_id} has {payments[order_id]} payment rows")
        if not events[order_id] or events[order_id][0] != (None, "placed"):
            problems.append(f"order {order_id} events start with {events[order_id][:1]}, not (None, 'placed')")
    for orphan in (set(payments) | set(events)) - set(status):
        problems.append(f"payment or events of order {orphan}, which does not exist")
    for key, order_id, body in keys:
        if order_id not in status:
            problems.append(f"idempotency key {key!r} points at order {order_id}, which does not exist")
        elif body is not None and json.loads(body).get("order_id") != order_id:
            problems.append(f"idempotency key {key!r} answers order {json.loads(body).get('order_id')}, "
                            f"its row says {order_id}")
    assert not problems, f"{len(problems)} broken orders:\n" + "\n".join(problems[:20])
    assert_stock_invariants(store)


def keys_to_orders(store: Store) -> dict[str, int | None]:
    with store.read() as s:
        return {k: o for k, o in s.execute(select(IdempotencyKey.key, IdempotencyKey.order_id))}


def refs_to_orders(store: Store) -> dict[str, int]:
    with store.read() as s:
        return {ref: i for ref, i in s.execute(select(Order.channel_order_ref, Order.id))}


# --------------------------------------------------------------------------- the API, killable


class KillableApi:
    """`ecom api` in its own process group (SIGKILL reaches every worker), always on one port so
    clients can keep their URL across a kill and a restart; its output goes to ``log_path``."""

    def __init__(self, env: dict[str, str], log_path: Path, *, workers: int = 2) -> None:
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> None:
        command = [sys.executable, "-m", "ops_store.cli.main", "api", "--port", str(self.port),
                   "--workers", str(self.workers)]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True, cwd=ROOT)
        try:
            wait_ready(self.process, f"{self.url}/v1/ready", timeout=timeout)
        except RuntimeError:
            self.kill()  # its workers too
            raise RuntimeError(f"ecom api did not start:\n{self.log_tail()}") from None

    def kill(self) -> None:
        """SIGKILL the whole group at once: no worker gets to finish what it was doing."""
        assert self.process is not None
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        _wait_group_gone(self.process.pid)
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        _wait_group_gone(self.process.pid)
        self.process = None

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


def _wait_group_gone(pgid: int, timeout: float = 10) -> None:
    """Until no live process of the group is left (zombies waiting to be reaped do not count)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = False
        for stat in glob.glob("/proc/[0-9]*/stat"):
            with suppress(OSError, IndexError, ValueError):
                parts = Path(stat).read_text().rsplit(")", 1)[1].split()
                if int(parts[2]) == pgid and parts[0] != "Z":
                    alive = True
                    break
        if not alive:
            return
        time.sleep(0.05)


@contextmanager
def killable_api(env: dict[str, str], log_path: Path, *, workers: int = 2) -> Iterator[KillableApi]:
    api = KillableApi(env, log_path, workers=workers)
    api.start()
    try:
        yield api
    finally:
        api.stop()


# --------------------------------------------------------------------------- clients that retry


@dataclass
class Answer:
    key: str
    status: int | None  # None: no HTTP answer at all (connection refused or cut)
    code: str | None = None
    retry_after: str | None = None
    content_type: str | None = None


@dataclass
class OrderClients:
    """One thread per list of (Idempotency-Key, order document); each key is sent again (same key,
    same body) until it gets a 2xx or ``deadline_s`` passes. ``placed`` maps each key to the order
    it got; ``answers`` holds every answer that was not a 2xx."""

    url: str
    api_key: str
    work: list[list[tuple[str, dict[str, Any]]]]
    deadline_s: float = 120
    placed: dict[str, int] = field(default_factory=dict)
    answers: list[Answer] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(todo,), daemon=True) for todo in self.work]

    def __enter__(self) -> OrderClients:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self._stop.set()  # a failed test leaves no client knocking at a stopped server
        for t in self._threads:
            t.join(35)  # at most one request's timeout

    @property
    def total(self) -> int:
        return sum(len(todo) for todo in self.work)

    def start(self) -> OrderClients:
        for t in self._threads:
            t.start()
        return self

    def join(self) -> None:
        for t in self._threads:
            t.join(self.deadline_s + 30)
        assert not any(t.is_alive() for t in self._threads), "a client thread is stuck"

    def wait_for(self, placed_at_least: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.placed) < placed_at_least:
            assert not self.failures, self.failures[:5]
            assert time.monotonic() < deadline, f"clients stuck at {len(self.placed)} orders"
            time.sleep(0.01)

    def _run(self, todo: list[tuple[str, dict[str, Any]]]) -> None:
        from tests.api_support import idem  # here: the order placer's child process needs none of the API

        deadline = time.monotonic() + self.deadline_s
        with httpx.Client(base_url=self.url, timeout=30) as http:
            for key, doc in todo:
                while not self._stop.is_set():
                    if time.monotonic() > deadline:
                        with self._lock:
                            self.failures.append(f"{key}: no 2xx within {self.deadline_s} s")
                        return
                    try:
                        answer = http.post("/v1/orders", json=doc, headers=idem(self.api_key, key))
                    except httpx.TransportError:
                        with self._lock:
                            self.answers.append(Answer(key, None))
                        time.sleep(0.05)
                        continue
                    if answer.status_code in (200, 201):
                        with self._lock:
                            self.placed[key] = answer.json()["order_id"]
                        break
                    body = _json(answer)
                    with self._lock:
                        self.answers.append(Answer(key, answer.status_code, body.get("code"),
                                                   answer.headers.get("retry-after"),
                                                   answer.headers.get("content-type")))
                    if answer.status_code < 500 and body.get("code") != "in_progress":
                        with self._lock:
                            self.failures.append(f"{key}: {answer.status_code} {body}")
                        break
                    time.sleep(min(float(answer.headers.get("retry-after") or 0.05), 0.5))


def _json(answer: httpx.Response) -> dict[str, Any]:
    try:
        body = answer.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


# --------------------------------------------------------------------------- a private PostgreSQL


def _pg_bindir() -> Path:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not versions:
        raise RuntimeError("initdb not found (neither on the PATH nor in /usr/lib/postgresql/*/bin)")
    return Path(versions[-1]).parent


@dataclass
class PgCluster:
    """A PostgreSQL cluster of this test's own, on 127.0.0.1:``port``, trust authentication."""

    root: Path
    port: int
    bindir: Path

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def pg_ctl(self, *args: str, timeout: float = 60) -> None:
        self._run([str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-w", "-t", "50", *args],
                  timeout=timeout)

    def start(self) -> None:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root} "
                   "-c fsync=off -c max_connections=60")
        self.pg_ctl("-l", str(self.log), "-o", options, "start")

    def restart(self, mode: str) -> None:
        """``fast``: sessions are ended, the server shuts down cleanly and starts again;
        ``immediate``: a crash (no shutdown checkpoint), the start replays the WAL."""
        self.pg_ctl("-l", str(self.log), "-m", mode, "restart")

    def _run(self, command: list[str], timeout: float = 60) -> None:
        # initdb and postgres refuse to run as root: as root, run them as the postgres user.
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        # Output to a file, not a pipe: a server pg_ctl starts would hold a pipe open for good.
        out = self.root / "pg_ctl.out"
        with open(out, "ab") as sink:
            code = subprocess.run(command, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  timeout=timeout, check=False).returncode
        if code != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(command)} failed:\n{out.read_text(errors='replace')[-2000:]}\n{log}")


@contextmanager
def private_cluster() -> Iterator[PgCluster]:
    """initdb a new cluster in a temporary folder, start it, yield it; stop and remove it at the
    end whatever happened. The folder is under the system's temp dir (not pytest's tmp_path, which
    the postgres user may not traverse) and belongs to the postgres user when run as root."""
    root = Path(tempfile.mkdtemp(prefix="ecom-pgcluster-"))
    if os.geteuid() == 0:
        import pwd

        owner = pwd.getpwnam("postgres")
        os.chown(root, owner.pw_uid, owner.pw_gid)
    cluster = PgCluster(root, free_port(), _pg_bindir())
    try:
        cluster._run([str(cluster.bindir / "initdb"), "-D", str(root / "data"), "-U", "postgres", "--auth=trust",
                      "-E", "UTF8", "--no-sync", "--no-instructions"])
        cluster.start()
        yield cluster
    finally:
        with suppress(Exception):
            cluster.pg_ctl("-m", "immediate", "stop", timeout=30)
        _kill_postmaster(root / "data" / "postmaster.pid")
        shutil.rmtree(root, ignore_errors=True)


def _kill_postmaster(pid_file: Path) -> None:
    """Should pg_ctl have failed to stop it: the postmaster named in its pid file."""
    with suppress(OSError, ValueError, IndexError):
        os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)


# --------------------------------------------------------------------------- a service, killable


class OrderPlacer:
    """A child process placing the orders ``refs`` through ``orders.place_order`` on ``threads``
    threads (bank transfer, so nothing happens after the order's commit). It prints
    ``placed REF ID`` after each commit and, for ``pause_ref``, ``inside REF`` from inside that
    order's unit of work (the ``on_placed`` hook: every row written, nothing committed), then
    waits there to be killed. Use it in a ``with`` block: it is killed at the block's end."""

    def __init__(self, url: str, refs: list[str], *, threads: int = 3, pause_ref: str | None = None) -> None:
        args = {"url": url, "refs": refs, "threads": threads, "pause_ref": pause_ref}
        self.process = subprocess.Popen(
            [sys.executable, "-c", "import sys, json; from tests.fault_support import placer_main; "
             "placer_main(json.loads(sys.argv[1]))", json.dumps(args)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        self.placed: dict[str, int] = {}
        self.inside: str | None = None
        self.other: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def __enter__(self) -> OrderPlacer:
        return self

    def __exit__(self, *_: object) -> None:
        # Never left behind on a failure: a placer paused in its transaction would hold its locks.
        if self.process.poll() is None:
            self.kill()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            word, _, rest = line.strip().partition(" ")
            with self._changed:
                if word == "placed":
                    ref, order_id = rest.split()
                    self.placed[ref] = int(order_id)
                elif word == "inside":
                    self.inside = rest
                else:
                    self.other.append(line.rstrip())
                self._changed.notify_all()

    def wait(self, condition: Callable[[OrderPlacer], bool], timeout: float = 60) -> None:
        with self._changed:
            ok = self._changed.wait_for(lambda: condition(self) or self.process.poll() is not None, timeout)
        assert ok and self.process.poll() is None, f"placer ended or stuck: {self.other[-20:]}"

    def kill(self) -> dict[str, int]:
        """SIGKILL; returns the orders it reported committed before it died."""
        self.process.kill()
        self.process.wait(timeout=30)
        self._reader.join(10)
        return dict(self.placed)

    def finish(self, timeout: float = 120) -> dict[str, int]:
        code = self.process.wait(timeout=timeout)
        self._reader.join(10)
        assert code == 0, f"placer exited {code}: {self.other[-30:]}"
        return dict(self.placed)


def placer_main(args: dict[str, Any]) -> None:
    """The child's side of ``OrderPlacer``."""
    import queue

    from ops_store.services import orders
    from tests.factories import order_doc

    store = Store(args["url"])
    todo: queue.SimpleQueue[str] = queue.SimpleQueue()
    for ref in args["refs"]:
        todo.put(ref)
    out = threading.Lock()
    failed: list[BaseException] = []

    def say(line: str) -> None:
        with out:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def pause(ref: str) -> Any:
        def hook(_session: Any, placed: orders.Placed) -> None:
            if ref == args["pause_ref"] and placed.created:
                say(f"inside {ref}")
                sys.stdin.read()  # killed here, inside the transaction; should the test die first: EOF
                os._exit(3)  # leave without committing
        return hook

    def work() -> None:
        try:
            while True:
                try:
                    ref = todo.get_nowait()
                except queue.Empty:
                    return
                n = int(ref.rsplit("-", 1)[1])
                doc = order_doc(ref, [("SKU-1", 1), ("SKU-2", 1 + n % 3)] + ([("SKU-3", 1)] if n % 4 == 0 else []),
                                method="bank_transfer", customer=f"C-{ref}")
                view = orders.place_order(store, doc, on_placed=pause(ref))
                say(f"placed {ref} {view['order_id']}")
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, which fails the test
            failed.append(exc)
            say(f"error {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=work) for _ in range(args["threads"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.dispose()
    sys.exit(1 if failed else 0)
