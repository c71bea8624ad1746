"""The store's database goes away under load: ``ecom api`` answers 503 ``store_unavailable``
(problem+json, ``Retry-After``) instead of an opaque 500, its connection pool recovers by itself,
and clients retrying their Idempotency-Keys get each order exactly once.

The restart test runs on a PostgreSQL cluster of its own (initdb in a temporary folder, a free
port; see ``tests.fault_support.private_cluster``), restarted cleanly (``pg_ctl restart -m
fast``) and crashed (``-m immediate``) while clients place orders; the shared server is never
touched. SQLite has no server to restart: its counterpart, the process holding the file dying
mid-write, is in tests/test_faults_orders.py. The quick tests below cover the error mapping and
the pool's settings on both backends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from ops_store.api.background import free_port
from ops_store.db import Store, make_engine
from ops_store.migrate import upgrade
from tests.api_support import auth, client, idem, make_key
from tests.factories import make_shop, order_doc
from tests.fault_support import (
    OrderClients,
    PgCluster,
    assert_orders_whole,
    keys_to_orders,
    killable_api,
    private_cluster,
    refs_to_orders,
)

PROBLEM_JSON = "application/problem+json"
SOME_KEY = "ek_0123abcd_" + "x" * 43  # well formed, so checking it needs the store
CLIENTS, PER_CLIENT = 6, 30


@pytest.fixture
def cluster() -> Iterator[PgCluster]:
    with private_cluster() as made:
        yield made


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(900)
def test_the_store_database_restarted_and_crashed_under_load(cluster: PgCluster, tmp_path: Path) -> None:
    store = Store(cluster.url)
    upgrade(store)
    make_shop(store, stock_w1=100_000, stock_w2=0)
    key = make_key(store, rate_limit=1_000_000)
    work = [[(f"key-{c}-{i}", order_doc(f"PG-{c}-{i}", [("SKU-1", 1), ("SKU-3", 1 + i % 2)], method="bank_transfer",
                                        customer=f"C-{c}")) for i in range(PER_CLIENT)] for c in range(CLIENTS)]
    try:
        with (killable_api({"OPS_STORE_URL": cluster.url}, tmp_path / "api.log") as api,
              OrderClients(api.url, key, work, deadline_s=300) as clients):
            clients.wait_for(clients.total // 4)
            cluster.restart("fast")  # sessions ended, clean shutdown, start
            clients.wait_for(clients.total // 2)
            cluster.restart("immediate")  # a crash: no shutdown checkpoint, WAL replayed at start
            clients.join()
            assert not clients.failures, clients.failures[:5]

            # Every answer that was not a 2xx said clearly that the store was away, and when to retry;
            # the API itself never dropped a connection. The restarts did hit requests in flight.
            unclear = [a for a in clients.answers if (a.status, a.code, a.retry_after, a.content_type)
                       != (503, "store_unavailable", "1", PROBLEM_JSON)]
            assert unclear == [], unclear[:5]
            assert clients.answers, "no request met the restarts: the test proved nothing"

            # The pool recovers by itself: after a quiet restart every request succeeds at once
            # (each worker's pooled connections are pinged and replaced before use).
            cluster.restart("fast")
            with httpx.Client(base_url=api.url, timeout=30) as http:
                assert http.get("/v1/ready").status_code == 200
                for i in range(4):
                    doc = order_doc(f"QUIET-{i}", [("SKU-2", 1)], method="bank_transfer")
                    answer = http.post("/v1/orders", json=doc, headers=idem(key, f"quiet-{i}"))
                    assert answer.status_code == 201, answer.text
                    clients.placed[f"quiet-{i}"] = answer.json()["order_id"]

        # Nothing duplicated, nothing lost (acknowledged orders survived the crash).
        assert keys_to_orders(store) == clients.placed
        assert len(set(clients.placed.values())) == len(clients.placed) == clients.total + 4
        assert len(refs_to_orders(store)) == clients.total + 4
        assert_orders_whole(store)
    finally:
        store.dispose()


# --------------------------------------------------------------------------- the error mapping


def _unreachable(backend: str, tmp_path: Path) -> Store:
    if backend == "postgresql":
        return Store(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nowhere")  # nobody listens
    return Store(f"sqlite:///{tmp_path}")  # a folder: SQLite cannot open it


@pytest.mark.parametrize("backend", [pytest.param("sqlite"), pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_store_that_does_not_answer_gets_503_store_unavailable(backend: str, tmp_path: Path) -> None:
    store = _unreachable(backend, tmp_path)
    with client(store) as api:
        answer = api.post("/v1/orders", json=order_doc("X-1", [("SKU-1", 1)]), headers=idem(SOME_KEY, "k-1"))
        assert api.get("/v1/health").status_code == 200  # the process itself is fine
    store.dispose()
    assert answer.status_code == 503
    assert answer.headers["content-type"] == PROBLEM_JSON
    assert answer.headers["retry-after"] == "1"
    body = answer.json()
    assert body["code"] == "store_unavailable" and "retry" in body["detail"]
    assert "nowhere" not in answer.text and str(tmp_path) not in answer.text  # no connection details


def test_a_store_error_that_is_no_outage_stays_a_500(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'never-migrated.sqlite'}")  # "no such table": retrying won't help
    with client(store) as api:
        answer = api.get("/v1/orders", headers=auth(SOME_KEY))
    store.dispose()
    assert answer.status_code == 500
    assert answer.json()["code"] == "internal_error"
    assert "retry-after" not in answer.headers


@pytest.mark.postgres
def test_the_pool_is_set_by_the_environment_and_a_full_pool_answers_503(
    fresh_store: Callable[[str], Store], monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = fresh_store("postgresql").url
    default = make_engine(url)
    assert (default.pool.size(), default.pool._max_overflow, default.pool.timeout()) == (5, 10, 30)  # type: ignore[attr-defined]
    with default.connect() as conn:  # psycopg's own default: prepared on the server after the fifth run
        for _ in range(8):
            conn.execute(text("SELECT 1"))
        assert conn.scalar(text("SELECT count(*) FROM pg_prepared_statements")) == 1
    default.dispose()
    monkeypatch.setenv("ECOM_STORE_PREPARED_STATEMENTS", "false")
    unprepared = make_engine(url)
    with unprepared.connect() as conn:  # never prepared: safe behind PgBouncer < 1.21 in transaction mode
        assert conn.connection.driver_connection.prepare_threshold is None  # type: ignore[union-attr]
        for _ in range(8):
            conn.execute(text("SELECT 1"))
        assert conn.scalar(text("SELECT count(*) FROM pg_prepared_statements")) == 0
    unprepared.dispose()

    monkeypatch.setenv("ECOM_STORE_POOL_SIZE", "2")
    monkeypatch.setenv("ECOM_STORE_MAX_OVERFLOW", "0")
    monkeypatch.setenv("ECOM_STORE_POOL_TIMEOUT_S", "0.5")
    store = Store(url)
    assert (store.engine.pool.size(), store.engine.pool._max_overflow,  # type: ignore[attr-defined]
            store.engine.pool.timeout()) == (2, 0, 0.5)  # type: ignore[attr-defined]
    key = make_key(store)
    held = [store.engine.connect() for _ in range(2)]  # every connection the pool may open
    for conn in held:
        conn.execute(text("SELECT 1"))
    with client(store) as api:
        busy = api.get("/v1/orders", headers=auth(key))
        for conn in held:
            conn.close()
        free = api.get("/v1/orders", headers=auth(key))
    store.dispose()
    assert busy.status_code == 503 and busy.json()["code"] == "store_unavailable"
    assert free.status_code == 200

