"""`ecom api` in a child process on a free loopback port, for the demo, tests and benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(process: subprocess.Popen, url: str, *, timeout: float = 90) -> None:  # type: ignore[type-arg]
    """Poll ``url`` until it answers 200; RuntimeError (with the process's output) if the process
    ends first or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 (a loopback URL of ours)
                if answer.status == 200:
                    return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            if process.poll() is None:
                process.kill()
            output = process.stdout.read() if process.stdout else ""
            raise RuntimeError(f"{url} did not answer:\n{str(output)[-3000:]}")
        time.sleep(0.2)


@contextmanager
def background_api(env: dict[str, str], *, workers: int = 1, port: int | None = None,
                   timeout: float = 90) -> Iterator[str]:
    """Start `ecom api` with ``env`` over the current environment; yields its base URL and stops
    it afterwards."""
    port = port or free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "ops_store.cli.main", "api", "--port", str(port), "--workers", str(workers)],
        env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(process, f"{url}/v1/ready", timeout=timeout)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
