"""Killed in the middle of placing orders, on SQLite and PostgreSQL: the order service (a child
process placing orders through ``orders.place_order``) and ``ecom api`` (uvicorn, two workers)
are SIGKILLed, once at an aimed moment (inside an order's transaction, every row written, nothing
committed) and at random moments under load. After each kill the store holds only whole orders
(lines, reservations, payment, events; see ``assert_orders_whole``), every reported commit
survived, no lock outlives its process, and retrying each order (its channel reference, or its
Idempotency-Key over HTTP against the restarted server) makes it exactly once.

The random moments come from ``random.Random(ECOM_FAULT_SEED)`` (default below) and are printed,
so a failure can be replayed with the same seed.
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, select

from ops_store.db import Store
from ops_store.models import Customer, Payment, Reservation
from ops_store.services import orders
from tests.api_support import idem, make_key
from tests.factories import make_shop, order_doc
from tests.fault_support import (
    OrderClients,
    OrderPlacer,
    assert_orders_whole,
    keys_to_orders,
    killable_api,
    refs_to_orders,
)

SEED = int(os.environ.get("ECOM_FAULT_SEED", "20261205"))
THREADS = 3


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_service_killed_inside_and_around_order_transactions_leaves_only_whole_orders(store: Store) -> None:
    make_shop(store, stock_w1=10_000, stock_w2=0)
    refs = [f"SVC-{n}" for n in range(1, 151)]  # more than the killed rounds can place
    rng = random.Random(SEED)
    print(f"ECOM_FAULT_SEED={SEED}")
    committed: dict[str, int] = {}

    # 1. Aimed: the placer stops inside SVC-12's unit of work (rows written, not committed).
    with OrderPlacer(store.url, refs, threads=THREADS, pause_ref="SVC-12") as placer:
        placer.wait(lambda p: p.inside == "SVC-12")
        reported = placer.kill()
    in_store = _check_after_kill(store, reported, committed)
    assert "SVC-12" not in in_store and "SVC-12" not in reported
    with store.read() as s:  # its customer row was made in the same transaction: gone with it
        assert s.scalar(select(Customer.id).where(Customer.customer_ref == "C-SVC-12")) is None
    # Its locks died with it (SQLite's write lock, PostgreSQL's row locks on the stock levels):
    # the next writer gets through at once, not after a lock timeout.
    started = time.monotonic()
    after = orders.place_order(store, order_doc("AFTER-KILL", [("SKU-1", 1), ("SKU-2", 1)], method="bank_transfer"))
    assert time.monotonic() - started < 10
    committed["AFTER-KILL"] = after["order_id"]

    # 2. Random moments: three more kills while three threads keep placing.
    for round_no in range(1, 4):
        with OrderPlacer(store.url, [r for r in refs if r not in committed], threads=THREADS) as placer:
            placer.wait(lambda p: len(p.placed) >= 3)  # past its start-up, orders flowing
            pause = rng.uniform(0.0, 0.15)
            time.sleep(pause)
            reported = placer.kill()
        print(f"round {round_no}: killed {pause:.3f} s after the third order, {len(reported)} reported")
        assert placer.process.returncode == -signal.SIGKILL, "the placer ended before the kill"
        _check_after_kill(store, reported, committed)

    # 3. Every order sent again (the killed ones too): each exists exactly once; the ones already
    # made are replays of the same order.
    with OrderPlacer(store.url, refs, threads=THREADS) as placer:
        final = placer.finish()
    assert set(final) == set(refs)
    in_store = refs_to_orders(store)
    assert in_store == {**final, "AFTER-KILL": after["order_id"]}
    assert all(final[ref] == order_id for ref, order_id in committed.items() if ref in final)
    assert_orders_whole(store)


def _check_after_kill(store: Store, reported: dict[str, int], committed: dict[str, int]) -> dict[str, int]:
    """What the placer said it committed is there under the same order id, the orders of earlier
    rounds are untouched, at most one order per thread was committed without being reported
    (killed between its commit and its print), and every order is whole. ``committed`` becomes
    what the store now holds; returns that."""
    in_store = refs_to_orders(store)
    assert {ref: in_store.get(ref) for ref in reported} == reported
    assert {ref: in_store.get(ref) for ref in committed} == committed
    unreported = set(in_store) - set(committed) - set(reported)
    assert len(unreported) <= THREADS, unreported
    committed.update(in_store)
    assert_orders_whole(store)
    return in_store


def test_the_whole_order_check_sees_a_half_made_order(store: Store) -> None:
    # The check above must have teeth: an order missing its payment, or its reservation, fails it.
    make_shop(store)
    first = orders.place_order(store, order_doc("HALF-1", [("SKU-1", 1)], method="bank_transfer"))["order_id"]
    second = orders.place_order(store, order_doc("HALF-2", [("SKU-2", 2)], method="bank_transfer"))["order_id"]
    assert_orders_whole(store)
    with store.write() as s:
        s.execute(delete(Payment).where(Payment.order_id == first))
    with pytest.raises(AssertionError, match=f"order {first} has 0 payment rows"):
        assert_orders_whole(store)
    with store.write() as s:
        s.execute(delete(Reservation).where(Reservation.order_id == second))
    with pytest.raises(AssertionError, match=f"order {second} line .*: 0 reserved for 2 ordered"):
        assert_orders_whole(store)


CLIENTS, PER_CLIENT, KILLS = 6, 25, 3


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_api_killed_while_clients_place_orders_makes_each_order_exactly_once(store: Store,
                                                                                  tmp_path: Path) -> None:
    make_shop(store, stock_w1=100_000, stock_w2=0)
    key = make_key(store, rate_limit=1_000_000)
    work = [[(f"key-{c}-{i}", order_doc(f"API-{c}-{i}", [("SKU-1", 1), ("SKU-2", 1 + i % 2)], method="bank_transfer",
                                        customer=f"C-{c}")) for i in range(PER_CLIENT)] for c in range(CLIENTS)]
    rng = random.Random(SEED)
    print(f"ECOM_FAULT_SEED={SEED}")
    with (killable_api({"OPS_STORE_URL": store.url}, tmp_path / "api.log") as api,
          OrderClients(api.url, key, work, deadline_s=300) as clients):
        for kill in range(1, KILLS + 1):
            clients.wait_for(kill * clients.total // (KILLS + 2))
            pause = rng.uniform(0.0, 0.3)
            time.sleep(pause)
            api.kill()  # the supervisor and every worker, mid-request
            print(f"kill {kill}: {pause:.3f} s after {kill}/{KILLS + 2} of the orders, {len(clients.placed)} answered")
            assert_orders_whole(store)  # what the dead workers left, before anything else writes
            # The first kill took down a supervisor and two workers mid-request; the restarts run one
            # worker, which starts in a third of the time (CI minutes).
            api.workers = 1
            api.start()
        clients.join()
        assert not clients.failures, clients.failures[:5]
        assert len(clients.placed) == clients.total
        # A kill cuts connections; the server never answered anything but 2xx.
        assert [a for a in clients.answers if a.status is not None] == []
        assert any(a.status is None for a in clients.answers), "no kill hit a request in flight"

        # Retries of every key against the restarted server replay the order each one made.
        with httpx.Client(base_url=api.url, timeout=30) as http:
            for todo in work:
                for idem_key, doc in todo:
                    answer = http.post("/v1/orders", json=doc, headers=idem(key, idem_key))
                    assert answer.status_code == 201, answer.text
                    assert answer.headers["Idempotent-Replayed"] == "true"
                    assert answer.json()["order_id"] == clients.placed[idem_key]

    assert keys_to_orders(store) == clients.placed
    assert len(set(clients.placed.values())) == clients.total
    assert len(refs_to_orders(store)) == clients.total
    assert_orders_whole(store)
