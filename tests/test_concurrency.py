"""No overselling under concurrency, on SQLite and PostgreSQL.

Buyers race for the last units from threads (sharing one ``Store`` or each with its own) and
from separate processes; a mixed race places, cancels and receives stock on the same SKU at
once. After every race the stock invariants must hold:

- exactly the units there were are reserved, every other order is refused with
  InsufficientStock (and nothing else), a refused order leaves no order or reservation row;
- for each stock_levels row: on_hand == sum of its stock_movements, reserved == sum of its
  active reservations, 0 <= reserved <= on_hand.
"""

from __future__ import annotations

import multiprocessing
import random
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

import ops_store.db as ops_db
from ops_store.db import Store
from ops_store.errors import DomainError, IllegalTransition, InsufficientStock
from ops_store.models import (
    Order,
    OrderLine,
    Payment,
    Product,
    RejectedRequest,
    Reservation,
    StockLevel,
    StockMovement,
    Warehouse,
)
from ops_store.services import orders, stock
from tests.factories import make_shop, order_doc

BUYERS = 16
START_TIMEOUT = 60  # seconds a racer waits for the others at the start line
REPO_ROOT = Path(__file__).resolve().parents[1]

LevelKey = tuple[str, str]  # (sku, warehouse code)


# --------------------------------------------------------------------------- helpers


def _level_rows(store: Store) -> dict[LevelKey, tuple[int, int]]:
    """(sku, warehouse) -> (on_hand, reserved)."""
    with store.read() as s:
        rows = s.execute(
            select(Product.sku, Warehouse.code, StockLevel.on_hand, StockLevel.reserved)
            .join(Product, Product.id == StockLevel.product_id)
            .join(Warehouse, Warehouse.id == StockLevel.warehouse_id)
        )
        return {(sku, wh): (on_hand, reserved) for sku, wh, on_hand, reserved in rows}


def _count(store: Store, model: type, *where: Any) -> int:
    with store.read() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)))


def assert_stock_invariants(store: Store) -> None:
    """The ledger, the balances and the reservations agree, row by row."""
    with store.read() as s:
        levels = {(lvl.product_id, lvl.warehouse_id): (lvl.on_hand, lvl.reserved)
                  for lvl in s.scalars(select(StockLevel))}
        ledger = {(p, w): int(q) for p, w, q in s.execute(
            select(StockMovement.product_id, StockMovement.warehouse_id, func.sum(StockMovement.quantity))
            .group_by(StockMovement.product_id, StockMovement.warehouse_id)
        )}
        active = {(p, w): int(q) for p, w, q in s.execute(
            select(Reservation.product_id, Reservation.warehouse_id, func.sum(Reservation.quantity))
            .where(Reservation.status == "active")
            .group_by(Reservation.product_id, Reservation.warehouse_id)
        )}
    problems = []
    for key in sorted((set(ledger) | set(active)) - set(levels)):
        problems.append(f"{key}: movements or active reservations but no stock_levels row")
    for key, (on_hand, reserved) in sorted(levels.items()):
        if on_hand != ledger.get(key, 0):
            problems.append(f"{key}: on_hand {on_hand} != ledger sum {ledger.get(key, 0)}")
        if reserved != active.get(key, 0):
            problems.append(f"{key}: reserved {reserved} != active reservations {active.get(key, 0)}")
        if not 0 <= reserved <= on_hand:
            problems.append(f"{key}: reserved {reserved} outside [0, on_hand {on_hand}]")
    assert not problems, "stock invariants broken:\n" + "\n".join(problems)


def _outcome(exc: BaseException | None) -> str:
    """The outcome as text: ok, a domain error code, or the full traceback of anything else."""
    if exc is None:
        return "ok"
    if isinstance(exc, DomainError):
        return exc.code
    return "unexpected " + "".join(traceback.format_exception(exc))


@contextmanager
def transient_failures_seen() -> Iterator[list[str]]:
    """Record every lock failure that ``Store.run_write`` would retry (PostgreSQL deadlock or
    serialization failure, SQLite busy): with locks taken in a fixed order there should be none,
    and a retry must not hide one from these tests."""
    seen: list[str] = []
    original = ops_db._is_transient

    def recording(exc: OperationalError) -> bool:
        transient = original(exc)
        if transient:
            seen.append(str(exc.orig))
        return transient

    ops_db._is_transient = recording
    try:
        yield seen
    finally:
        ops_db._is_transient = original


def race_threads(tasks: list[Callable[[], Any]]) -> list[str]:
    """Run every task in its own thread, released together; the outcome of each, in order.
    Fails if any unit of work hit a deadlock or busy error (even one a retry then got past)."""
    start = threading.Barrier(len(tasks))

    def run(task: Callable[[], Any]) -> str:
        try:
            start.wait(timeout=START_TIMEOUT)
            task()
        except BaseException as exc:  # noqa: BLE001 - every outcome is reported and checked
            return _outcome(exc)
        return "ok"

    with transient_failures_seen() as transient, ThreadPoolExecutor(max_workers=len(tasks)) as pool:
        outcomes = list(pool.map(run, tasks))
    assert not transient, f"{len(transient)} transient lock failures retried, first: {transient[0]}"
    return outcomes


def assert_only(outcomes: list[str], allowed: set[str]) -> Counter[str]:
    counts = Counter(outcomes)
    unexpected = [o for o in outcomes if o not in allowed]
    assert not unexpected, f"unexpected outcomes ({len(unexpected)}), first:\n{unexpected[0]}"
    return counts


def _buyer_store(store: Store, own_store: bool) -> Callable[[], Store]:
    return (lambda: Store(store.url)) if own_store else (lambda: store)


def _place_with(make_store: Callable[[], Store], shared: Store, doc: dict[str, Any]) -> Callable[[], None]:
    def task() -> None:
        s = make_store()
        try:
            orders.place_order(s, doc)
        finally:
            if s is not shared:
                s.dispose()

    return task


# --------------------------------------------------------------------------- threads


@pytest.mark.parametrize("own_store", [False, True], ids=["shared-store", "store-per-thread"])
def test_threads_race_for_the_last_units(store: Store, own_store: bool) -> None:
    units = 5
    make_shop(store, stock_w1=0, stock_w2=0)
    stock.receive_stock(store, "SKU-1", "W1", units)
    make = _buyer_store(store, own_store)
    docs = [order_doc(f"T-{i}", [("SKU-1", 1)], method="bank_transfer", customer=f"C-{i}")
            for i in range(BUYERS)]

    outcomes = race_threads([_place_with(make, store, d) for d in docs])

    counts = assert_only(outcomes, {"ok", InsufficientStock.code})
    assert counts["ok"] == units
    assert counts[InsufficientStock.code] == BUYERS - units
    assert _level_rows(store) == {("SKU-1", "W1"): (units, units)}
    assert _count(store, Order) == units
    assert _count(store, OrderLine) == units
    assert _count(store, Payment) == units
    assert _count(store, Reservation) == units
    assert _count(store, Reservation, Reservation.status == "active") == units
    assert _count(store, RejectedRequest, RejectedRequest.error_code == InsufficientStock.code) == BUYERS - units
    won = {ref for ref, o in zip([d["channel_order_ref"] for d in docs], outcomes, strict=True) if o == "ok"}
    with store.read() as s:
        assert set(s.scalars(select(Order.channel_order_ref))) == won
    assert_stock_invariants(store)


@pytest.mark.parametrize("own_store", [False, True], ids=["shared-store", "store-per-thread"])
def test_threads_race_for_two_skus_split_across_warehouses(store: Store, own_store: bool) -> None:
    """Each buyer wants 2 x SKU-1 and 2 x SKU-2; the stock is spread over W1 and W2 so some
    orders go to one warehouse, others are split, and every order locks four balance rows.
    Half the buyers list the lines the other way round (the lock order must not depend on it)."""
    make_shop(store, stock_w1=0, stock_w2=0)
    for sku, wh, qty in (("SKU-1", "W1", 3), ("SKU-1", "W2", 3), ("SKU-2", "W1", 3), ("SKU-2", "W2", 4)):
        stock.receive_stock(store, sku, wh, qty)
    before = _level_rows(store)
    make = _buyer_store(store, own_store)
    docs = []
    for i in range(BUYERS):
        lines = [("SKU-1", 2), ("SKU-2", 2)]
        docs.append(order_doc(f"S-{i}", lines if i % 2 else lines[::-1], method="card", customer=f"C-{i}"))

    outcomes = race_threads([_place_with(make, store, d) for d in docs])

    counts = assert_only(outcomes, {"ok", InsufficientStock.code})
    assert counts["ok"] == 3, counts  # 6 units of SKU-1 in all, 2 per buyer
    levels = _level_rows(store)
    assert {k: on_hand for k, (on_hand, _) in levels.items()} == {k: v[0] for k, v in before.items()}
    assert sum(r for (sku, _), (_, r) in levels.items() if sku == "SKU-1") == 6
    assert sum(r for (sku, _), (_, r) in levels.items() if sku == "SKU-2") == 6
    assert _count(store, Order) == 3
    assert _count(store, Order, Order.status == "paid") == 3
    assert _count(store, OrderLine) == 6
    with store.read() as s:
        per_line = s.execute(
            select(Reservation.order_line_id, func.sum(Reservation.quantity), func.count())
            .group_by(Reservation.order_line_id)
        ).all()
        reserved_orders = set(s.scalars(select(Reservation.order_id).distinct()))
        order_ids = set(s.scalars(select(Order.id)))
    assert len(per_line) == 6 and all(int(total) == 2 for _, total, _ in per_line)
    assert reserved_orders == order_ids
    assert _count(store, Reservation, Reservation.status != "active") == 0
    assert_stock_invariants(store)


# --------------------------------------------------------------------------- processes


def place_one_in_child(url: str, ref: str, lines: list[tuple[str, int]], start: Any, results: Any) -> None:
    """Child process body (spawn): its own Store, wait at the start line, place one order and
    report "ok", the domain error code, or the full text of an unexpected error."""
    outcome = "unexpected: did not run"
    transient: list[str] = []
    try:
        store = Store(url)
        try:
            with store.read() as s:  # connect (and import everything) before the start line
                s.scalar(select(func.count()).select_from(Product))
            start.wait(timeout=START_TIMEOUT)
            with transient_failures_seen() as transient:
                try:
                    orders.place_order(store, order_doc(ref, lines, method="bank_transfer", customer=ref))
                    outcome = "ok"
                except BaseException as exc:  # noqa: BLE001 - reported to the parent and checked there
                    outcome = _outcome(exc)
        finally:
            store.dispose()
    except BaseException as exc:  # noqa: BLE001
        outcome = _outcome(exc)
    if transient:
        outcome = f"unexpected transient lock failure retried ({outcome}): {transient[0]}"
    results.put((ref, outcome))


def race_processes(store: Store, jobs: list[tuple[str, list[tuple[str, int]]]],
                   monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    # Spawned children import this module by name: make the repository root importable.
    monkeypatch.syspath_prepend(str(REPO_ROOT))
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(len(jobs))
    results = ctx.Queue()
    procs = [ctx.Process(target=place_one_in_child, args=(store.url, ref, lines, start, results), daemon=True)
             for ref, lines in jobs]
    for p in procs:
        p.start()
    outcomes: dict[str, str] = {}
    try:
        for _ in procs:
            ref, outcome = results.get(timeout=START_TIMEOUT + 30)
            outcomes[ref] = outcome
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
                p.join()
    assert [p.exitcode for p in procs] == [0] * len(procs)
    return outcomes


def test_processes_race_for_the_last_units(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    units = 5
    make_shop(store, stock_w1=0, stock_w2=0)
    stock.receive_stock(store, "SKU-1", "W1", units)

    outcomes = race_processes(store, [(f"P-{i}", [("SKU-1", 1)]) for i in range(BUYERS)], monkeypatch)

    counts = assert_only(list(outcomes.values()), {"ok", InsufficientStock.code})
    assert counts["ok"] == units
    assert counts[InsufficientStock.code] == BUYERS - units
    assert _level_rows(store) == {("SKU-1", "W1"): (units, units)}
    assert _count(store, Order) == units
    assert _count(store, Reservation) == units
    with store.read() as s:
        assert set(s.scalars(select(Order.channel_order_ref))) == {r for r, o in outcomes.items() if o == "ok"}
    assert_stock_invariants(store)


def test_processes_race_for_two_skus_across_warehouses(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    make_shop(store, stock_w1=0, stock_w2=0)
    for sku, wh, qty in (("SKU-1", "W1", 3), ("SKU-1", "W2", 3), ("SKU-2", "W1", 3), ("SKU-2", "W2", 4)):
        stock.receive_stock(store, sku, wh, qty)
    jobs = [(f"Q-{i}", [("SKU-2", 2), ("SKU-1", 2)] if i % 2 else [("SKU-1", 2), ("SKU-2", 2)])
            for i in range(BUYERS)]

    outcomes = race_processes(store, jobs, monkeypatch)

    counts = assert_only(list(outcomes.values()), {"ok", InsufficientStock.code})
    assert counts["ok"] == 3
    levels = _level_rows(store)
    assert sum(r for (sku, _), (_, r) in levels.items() if sku == "SKU-1") == 6
    assert sum(r for (sku, _), (_, r) in levels.items() if sku == "SKU-2") == 6
    assert _count(store, Order) == 3
    assert _count(store, OrderLine) == 6
    assert_stock_invariants(store)


# --------------------------------------------------------------------------- mixed race


def test_mixed_race_of_placements_cancellations_and_receipts(store: Store) -> None:
    """Placements, cancellations (some of the same order twice at once) and receipts on the same
    SKU in both warehouses, all at once. Afterwards the ledger, balances and reservations agree."""
    make_shop(store, stock_w1=0, stock_w2=0)
    stock.receive_stock(store, "SKU-1", "W1", 8)
    stock.receive_stock(store, "SKU-1", "W2", 4)
    stock.receive_stock(store, "SKU-2", "W1", 20)
    preplaced = [
        orders.place_order(store, order_doc(f"PRE-{i}", [("SKU-1", 2)], method="bank_transfer"))["order_id"]
        for i in range(5)
    ]  # 10 of the 12 units reserved before the race starts
    received = Counter({"W1": 8, "W2": 4})
    received_lock = threading.Lock()
    placed_during_race: list[int] = []

    def placer(i: int) -> Callable[[], None]:
        def task() -> None:
            rng = random.Random(i)
            for j in range(3):
                lines = [("SKU-1", rng.randint(1, 3))] + ([("SKU-2", 1)] if j % 2 else [])
                try:
                    view = orders.place_order(store, order_doc(f"R-{i}-{j}", lines, method="bank_transfer",
                                                               customer=f"C-{i}"))
                except InsufficientStock:
                    continue
                with received_lock:
                    placed_during_race.append(view["order_id"])
            with received_lock:
                placers_done.append(i)
        return task

    def canceller(order_id: int) -> Callable[[], None]:
        return lambda: orders.cancel_order(store, order_id, reason="race")

    placers = 6
    placers_done: list[int] = []
    late_cancelled: list[int] = []

    def late_canceller() -> None:
        # Cancel orders as soon as the placers have placed them (races with further placements),
        # up to three, or until the placers are done.
        while len(late_cancelled) < 3:
            with received_lock:
                target = placed_during_race.pop(0) if placed_during_race else None
                finished = len(placers_done) == placers
            if target is not None:
                orders.cancel_order(store, target, reason="race")
                late_cancelled.append(target)
            elif finished:
                break
            else:
                time.sleep(0.002)

    def receiver(wh: str, qty: int) -> Callable[[], None]:
        def task() -> None:
            for _ in range(3):
                stock.receive_stock(store, "SKU-1", wh, qty)
                with received_lock:
                    received[wh] += qty
        return task

    tasks: list[Callable[[], None]] = [placer(i) for i in range(placers)]
    tasks += [canceller(preplaced[0]), canceller(preplaced[0])]  # the same order twice at once
    tasks += [canceller(preplaced[1]), canceller(preplaced[1])]
    tasks += [canceller(oid) for oid in preplaced[2:4]]
    tasks += [late_canceller]
    tasks += [receiver("W1", 1), receiver("W2", 2)]

    outcomes = race_threads(tasks)

    counts = assert_only(outcomes, {"ok", IllegalTransition.code})
    assert counts[IllegalTransition.code] == 2, outcomes  # the second cancel of each doubled pair
    levels = _level_rows(store)
    assert levels[("SKU-1", "W1")][0] == received["W1"]
    assert levels[("SKU-1", "W2")][0] == received["W2"]
    assert levels[("SKU-2", "W1")][0] == 20
    with store.read() as s:
        statuses = {oid: status for oid, status in s.execute(select(Order.id, Order.status))}
        live_reserved = s.scalar(
            select(func.coalesce(func.sum(Reservation.quantity), 0))
            .join(Order, Order.id == Reservation.order_id)
            .where(Reservation.status == "active", Reservation.product_id == select(Product.id)
                   .where(Product.sku == "SKU-1").scalar_subquery())
        )
        cancelled_active = s.scalar(
            select(func.count()).select_from(Reservation).join(Order, Order.id == Reservation.order_id)
            .where(Order.status == "cancelled", Reservation.status == "active")
        )
        uncancelled_released = s.scalar(
            select(func.count()).select_from(Reservation).join(Order, Order.id == Reservation.order_id)
            .where(Order.status != "cancelled", Reservation.status != "active")
        )
    assert all(statuses[oid] == "cancelled" for oid in preplaced[:4])
    assert statuses[preplaced[4]] == "placed"
    assert all(statuses[oid] == "cancelled" for oid in late_cancelled)
    assert sum(1 for st in statuses.values() if st == "cancelled") == 4 + len(late_cancelled)
    assert cancelled_active == 0
    assert uncancelled_released == 0
    assert levels[("SKU-1", "W1")][1] + levels[("SKU-1", "W2")][1] == live_reserved
    assert_stock_invariants(store)
