"""The load generator and CPU accounting of bench/api.py.

``drive`` runs C closed-loop HTTP/1.1 keep-alive clients on raw asyncio streams (uvloop when
installed) in this one process: every request is pre-built bytes, a response is read as its head
(up to the blank line) and a ``content-length`` body, nothing is parsed beyond the status. Each
client sends its next request only once the previous answer has been read in full; the latency of
a request runs from just before its write to the last byte of its answer.

``CpuMeter`` reads CPU time from /proc (Linux): this process (the generator), a process tree (the
uvicorn supervisor and its workers), every ``postgres`` process (the postmaster's reaped children
included) and the whole machine (/proc/stat), so each phase reports where the cores went.
"""

from __future__ import annotations

import asyncio
import os
import resource
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

try:
    import uvloop
except ImportError:  # pragma: no cover - plain asyncio works too, only costs more CPU
    uvloop = None

TICK = os.sysconf("SC_CLK_TCK")
FIRST_BODIES_KEPT = 3  # per status, the start of an unexpected answer's body (for the report)


@dataclass
class Outcome:
    """What one phase of requests gave."""

    requests: int = 0
    seconds: float = 0.0
    latencies_ns: list[int] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)  # HTTP status -> count ("conn" for a broken connection)
    samples: dict[str, list[str]] = field(default_factory=dict)  # status -> the first bodies seen

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile_ms(self, q: float) -> float:
        """The q-quantile (0..1) of the latencies, nearest rank, in milliseconds."""
        if not self.latencies_ns:
            return float("nan")
        ordered = sorted(self.latencies_ns)
        rank = min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))
        return ordered[rank] / 1e6

    def count(self, *statuses: int) -> int:
        return sum(self.statuses.get(s, 0) for s in statuses)

    def errors(self, ok: int) -> dict[str, int]:
        """Every answer other than ``ok``, by status."""
        return {str(s): n for s, n in sorted(self.statuses.items(), key=lambda kv: str(kv[0])) if s != ok}


class _Source:
    """Hands out requests to the clients: a fixed list (each once), or one request repeated until the deadline."""

    def __init__(self, requests: Sequence[bytes], *, repeat: bool, deadline: float | None) -> None:
        self.requests = requests
        self.repeat = repeat
        self.deadline = deadline
        self.next_index = 0

    def take(self) -> bytes | None:
        if self.deadline is not None and time.perf_counter() >= self.deadline:
            return None
        if self.repeat:
            self.next_index += 1
            return self.requests[0]
        if self.next_index >= len(self.requests):
            return None
        request = self.requests[self.next_index]
        self.next_index += 1
        return request


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, server keeps the connection open)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if at < 0:
        raise ConnectionError("answer without content-length (chunked answers are not expected here)")
    end = lower.index(b"\r\n", at + 2)
    length = int(lower[at + 17:end])
    body = await reader.readexactly(length) if length else b""
    return status, body, b"\r\nconnection: close" not in lower


async def _client(host: str, port: int, source: _Source, outcome: Outcome, ok: int,
                  connection: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
    reader, writer = connection
    try:
        while True:
            request = source.take()
            if request is None:
                return
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            started = time.perf_counter_ns()
            try:
                writer.write(request)
                status, body, keep = await _read_answer(reader)
            except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
                outcome.statuses["conn"] += 1
                outcome.samples.setdefault("conn", []).append(f"{type(exc).__name__}: {exc}"[:300])
                writer.close()
                reader = writer = None
                continue
            outcome.latencies_ns.append(time.perf_counter_ns() - started)
            outcome.statuses[status] += 1
            if status != ok:
                kept = outcome.samples.setdefault(str(status), [])
                if len(kept) < FIRST_BODIES_KEPT:
                    kept.append(body[:300].decode("utf-8", "replace"))
            if not keep:
                writer.close()
                reader = writer = None
    finally:
        if writer is not None:
            writer.close()


async def _drive(host: str, port: int, source: _Source, clients: int, ok: int, spread: float,
                 on_progress: Callable[[int], None] | None) -> Outcome:
    outcome = Outcome()
    # The connections are opened before the start line, one every ``spread`` seconds: opened all at
    # once, most of them land on whichever uvicorn worker is first to accept (each accepts in a loop).
    connections = []
    for i in range(clients):
        if i and spread:
            await asyncio.sleep(spread)
        connections.append(await asyncio.open_connection(host, port))

    async def ticker() -> None:
        while True:
            await asyncio.sleep(0.25)
            on_progress(len(outcome.latencies_ns) + outcome.statuses.get("conn", 0))  # type: ignore[misc]

    tick = asyncio.create_task(ticker()) if on_progress else None
    started = time.perf_counter()
    if source.deadline is not None:  # the deadline counts from the start line
        source.deadline += started
    await asyncio.gather(*(_client(host, port, source, outcome, ok, c) for c in connections))
    outcome.seconds = time.perf_counter() - started
    if tick is not None:
        tick.cancel()
        on_progress(len(outcome.latencies_ns) + outcome.statuses.get("conn", 0))  # type: ignore[misc]
    outcome.requests = len(outcome.latencies_ns)
    return outcome


def drive(host: str, port: int, requests: Sequence[bytes], *, clients: int, ok: int,
          repeat: bool = False, seconds: float | None = None, spread: float = 0.0,
          on_progress: Callable[[int], None] | None = None) -> Outcome:
    """Send ``requests`` (each once; or ``requests[0]`` over and over when ``repeat``) from
    ``clients`` connections (opened ``spread`` seconds apart before the clock starts), until they
    are all answered or ``seconds`` have passed."""
    if repeat and seconds is None:
        raise ValueError("a repeated request needs a duration")
    source = _Source(requests, repeat=repeat, deadline=seconds)
    coroutine = _drive(host, port, source, clients, ok, spread, on_progress)
    if uvloop is not None:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(coroutine)
    return asyncio.run(coroutine)


# --------------------------------------------------------------------------- CPU accounting


def _stat_fields(pid: int | str) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after its closing one.
    comm = raw[raw.index(b"(") + 1:raw.rindex(b")")].decode(errors="replace")
    return [comm, *raw[raw.rindex(b")") + 2:].decode().split()]


def _processes() -> dict[int, tuple[str, int, float, float]]:
    """pid -> (command name, parent pid, own CPU seconds, reaped children's CPU seconds)."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        fields = _stat_fields(name)
        if fields is None:
            continue
        # fields[0] is comm, then state (3rd field of stat), ppid, ...: utime is stat's 14th field.
        own = (int(fields[12]) + int(fields[13])) / TICK
        reaped = (int(fields[14]) + int(fields[15])) / TICK
        table[int(name)] = (fields[0], int(fields[2]), own, reaped)
    return table


def _machine() -> tuple[float, float]:
    """(busy, idle) CPU seconds of the whole machine since boot."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return (sum(values[:8]) - idle) / TICK, idle / TICK


@dataclass(frozen=True)
class CpuSnapshot:
    at: float
    generator: float
    server: float
    postgres: float
    busy: float
    idle: float
    server_procs: dict[int, float] = field(default_factory=dict)  # pid -> CPU seconds, the server tree


@dataclass(frozen=True)
class CpuSplit:
    """CPU seconds per second of wall time (1.0 = one core busy) over one phase."""

    seconds: float
    generator: float
    server: float
    postgres: float
    other: float
    idle: float
    per_process: tuple[float, ...] = ()  # the server tree's processes, busiest first (the workers)

    def as_dict(self) -> dict[str, Any]:
        return {"generator": round(self.generator, 3), "api_server": round(self.server, 3),
                "api_processes": [round(c, 3) for c in self.per_process],
                "postgres": round(self.postgres, 3), "other": round(self.other, 3), "idle": round(self.idle, 3)}


class CpuMeter:
    """Snapshots of CPU time: this process, the tree under ``server_pid``, PostgreSQL, the machine."""

    def __init__(self, server_pid: int | None = None) -> None:
        self.server_pid = server_pid
        self._seen_server: dict[int, float] = {}  # server tree pid -> last CPU seconds seen

    def snapshot(self) -> CpuSnapshot:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        procs = _processes()
        server = 0.0
        if self.server_pid is not None:
            children: dict[int, list[int]] = {}
            for pid, (_, ppid, _, _) in procs.items():
                children.setdefault(ppid, []).append(pid)
            todo = [self.server_pid] if self.server_pid in procs else []
            while todo:
                pid = todo.pop()
                self._seen_server[pid] = procs[pid][2]
                todo.extend(children.get(pid, []))
            # A worker that exited keeps the CPU it was last seen with.
            server = sum(self._seen_server.values())
        postgres = 0.0
        for comm, ppid, own, reaped in procs.values():
            if comm == "postgres":
                postmaster = procs.get(ppid, ("",))[0] != "postgres"
                # The postmaster's reaped children: backends that ended (pgbench's, a closed pool's).
                postgres += own + (reaped if postmaster else 0.0)
        busy, idle = _machine()
        return CpuSnapshot(time.perf_counter(), usage.ru_utime + usage.ru_stime, server, postgres, busy, idle,
                           dict(self._seen_server))

    @staticmethod
    def split(before: CpuSnapshot, after: CpuSnapshot) -> CpuSplit:
        wall = max(after.at - before.at, 1e-9)
        generator = (after.generator - before.generator) / wall
        server = (after.server - before.server) / wall
        postgres = (after.postgres - before.postgres) / wall
        busy = (after.busy - before.busy) / wall
        idle = (after.idle - before.idle) / wall
        per_process = sorted(((cpu - before.server_procs.get(pid, 0.0)) / wall
                              for pid, cpu in after.server_procs.items()), reverse=True)
        return CpuSplit(wall, generator, server, postgres, max(busy - generator - server - postgres, 0.0), idle,
                        tuple(per_process))


def background_load(seconds: float = 1.0) -> float:
    """Cores busy over the next ``seconds`` (call it while this process is idle: it is everyone else)."""
    before = _machine()[0]
    time.sleep(seconds)
    return (_machine()[0] - before) / seconds


def wait_for_quiet(threshold: float, timeout: float, on_wait: Callable[[float], None] | None = None) -> float:
    """Wait (up to ``timeout`` seconds) until the machine's other work stays under ``threshold``
    cores for a second; returns the last load seen (over ``threshold``: it never got quiet)."""
    deadline = time.monotonic() + timeout
    while True:
        load = background_load()
        if load < threshold or time.monotonic() >= deadline:
            return load
        if on_wait is not None:
            on_wait(load)
