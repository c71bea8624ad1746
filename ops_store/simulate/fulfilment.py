"""What happens to an order after it is placed, decided at placement (the simulator knows the
future): payment method and outcome, delivery option, allocation, shipping, carrier delays,
delivery, completion, and returns per line. Times are seconds from the start; NEVER = not (yet)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ops_store.simulate.catalog import CARRIERS, CATEGORIES, DELIVERY_OPTIONS
from ops_store.simulate.config import DAY

NEVER = np.iinfo(np.int64).max // 4
METHODS = ("card", "e_wallet", "bank_transfer", "cash_on_delivery")
# per channel (web, mobile_app, marketplace, phone): method shares
METHOD_SHARE = np.array([[0.55, 0.2, 0.1, 0.15], [0.5, 0.4, 0.05, 0.05], [0.7, 0.2, 0.1, 0.0],
                         [0.3, 0.0, 0.2, 0.5]])
DECLINE_RATE = {0: 0.05, 1: 0.03}  # card, e-wallet
DECLINE_CANCEL_S = 60  # a declined payment cancels its order a minute after it was placed
UNPAID_TRANSFER_RATE = 0.10
RETURN_RATE = np.array([c[4] for c in CATEGORIES])
LATE_RETURN_FACTOR = 1.5


@dataclass
class OrderPlan:
    method: np.ndarray
    declined: np.ndarray  # card / e-wallet refused at authorisation (cancelled at once)
    unpaid: np.ndarray  # bank transfer never paid (cancelled after 5 days)
    option: np.ndarray
    paid_t: np.ndarray
    cancel_t: np.ndarray
    alloc_t: np.ndarray
    ship_t: np.ndarray
    deliver_t: np.ndarray
    complete_t: np.ndarray
    promised_day: np.ndarray
    delayed: np.ndarray
    # per line
    ret: np.ndarray  # the line comes back
    request_t: np.ndarray
    approve_t: np.ndarray
    receive_t: np.ndarray
    refund_t: np.ndarray
    restock: np.ndarray


def _uniform_seconds(rng: np.random.Generator, lo: float, hi: float, n: int) -> np.ndarray:
    return rng.integers(int(lo), int(hi) + 1, n).astype(np.int64)


def plan_orders(placed_t: np.ndarray, channel: np.ndarray, line_order: np.ndarray, line_category: np.ndarray,
                rng: np.random.Generator) -> OrderPlan:
    n, nl = len(placed_t), len(line_order)
    u = rng.random(n)
    cum = np.cumsum(METHOD_SHARE[channel], axis=1)
    method = (u[:, None] >= cum).sum(axis=1).clip(0, 3)
    r = rng.random(n)
    declined = ((method == 0) & (r < DECLINE_RATE[0])) | ((method == 1) & (r < DECLINE_RATE[1]))
    unpaid = (method == 2) & (r < UNPAID_TRANSFER_RATE)
    weights = np.array([o[7] for o in DELIVERY_OPTIONS])
    option = rng.choice(len(DELIVERY_OPTIONS), size=n, p=weights / weights.sum())
    prepaid = method <= 1
    paid_t = np.where(prepaid, placed_t + 30, np.where(method == 2, placed_t + _uniform_seconds(
        rng, 4 * 3600, 48 * 3600, n), NEVER))
    cancel_t = np.where(declined, placed_t + DECLINE_CANCEL_S, np.where(unpaid, placed_t + 5 * DAY, NEVER))
    paid_t = np.where(declined | unpaid, NEVER, paid_t)
    ready = np.where(method == 3, placed_t, paid_t)
    alloc_t = np.where(cancel_t < NEVER, NEVER, ready + _uniform_seconds(rng, 1800, 8 * 3600, n))
    ship_day = alloc_t // DAY + 1
    ship_t = np.where(alloc_t < NEVER, ship_day * DAY + 15 * 3600 + _uniform_seconds(rng, 0, 7200, n), NEVER)
    lo = np.array([o[6][0] for o in DELIVERY_OPTIONS])[option]
    hi = np.array([o[6][1] for o in DELIVERY_OPTIONS])[option]
    carrier = np.array([o[3] for o in DELIVERY_OPTIONS])[option]
    delay_rate = np.array([c[2] for c in CARRIERS])[carrier]
    delayed = rng.random(n) < delay_rate
    delay = np.where(delayed, rng.integers(np.array([c[3][0] for c in CARRIERS])[carrier],
                                           np.array([c[3][1] for c in CARRIERS])[carrier] + 1), 0)
    transit = rng.integers(lo, hi + 1) + delay
    deliver_t = np.where(ship_t < NEVER, (ship_day + transit) * DAY + 9 * 3600 + _uniform_seconds(
        rng, 0, 9 * 3600, n), NEVER)
    promised_day = placed_t // DAY + np.array([o[5] for o in DELIVERY_OPTIONS])[option]
    late = deliver_t // DAY > promised_day
    complete_t = np.where(deliver_t < NEVER, deliver_t + 14 * DAY, NEVER)

    lo_late = late[line_order] & (deliver_t[line_order] < NEVER)
    rate = RETURN_RATE[line_category] * np.where(lo_late, LATE_RETURN_FACTOR, 1.0)
    ret = (rng.random(nl) < rate) & (deliver_t[line_order] < NEVER)
    base = deliver_t[line_order]
    request_t = np.where(ret, base + _uniform_seconds(rng, DAY, 8 * DAY, nl), NEVER)
    approve_t = np.where(ret, request_t + _uniform_seconds(rng, 2 * 3600, 20 * 3600, nl), NEVER)
    # received in the evening (after the day's shipments: the ledger's id order is time order)
    receive_day = (request_t + _uniform_seconds(rng, 2 * DAY, 4 * DAY, nl)) // DAY
    receive_t = np.where(ret, receive_day * DAY + 18 * 3600 + _uniform_seconds(rng, 0, 3 * 3600, nl), NEVER)
    refund_t = np.where(ret, receive_t + _uniform_seconds(rng, 2 * 3600, 20 * 3600, nl), NEVER)
    restock = ret & (rng.random(nl) < 0.85)
    return OrderPlan(method, declined, unpaid, option, paid_t, cancel_t, alloc_t, ship_t, deliver_t, complete_t,
                     promised_day, delayed, ret, request_t, approve_t, receive_t, refund_t, restock)


def is_late(plan_deliver_t: np.ndarray, promised_day: np.ndarray) -> np.ndarray:
    return (plan_deliver_t < NEVER) & (plan_deliver_t // DAY > promised_day)
