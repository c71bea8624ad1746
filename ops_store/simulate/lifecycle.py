"""Where every order stands at the cutoff: its event trail (status changes in time order), the
payment's transactions and status, shipments and their tracking timelines."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ops_store.simulate.engine import History
from ops_store.simulate.fulfilment import NEVER

STATUSES = ("placed", "paid", "allocated", "shipped", "delivered", "completed", "cancelled", "returned", "refunded")
S = {name: i for i, name in enumerate(STATUSES)}


@dataclass
class Events:
    order: np.ndarray
    src: np.ndarray  # status index, -1 = none
    dst: np.ndarray
    t: np.ndarray


def _cat(parts: list[tuple[np.ndarray, int, np.ndarray | int, np.ndarray]]) -> Events:
    order = np.concatenate([p[0] for p in parts])
    dst = np.concatenate([np.full(len(p[0]), p[1]) for p in parts])
    src = np.concatenate([np.broadcast_to(p[2], len(p[0])) for p in parts])
    t = np.concatenate([p[3] for p in parts])
    by = np.lexsort((dst, t))
    return Events(order[by], src[by], dst[by], t[by])


def returned_times(hist: History, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per order: all lines planned back, when the last one is received, when the last is refunded."""
    ln = hist.lines
    lines = np.bincount(ln["order"], minlength=n)
    back = np.bincount(ln["order"], weights=ln["ret"], minlength=n)
    full = (lines > 0) & (back == lines)
    recv = np.zeros(n, dtype=np.int64)
    refund = np.zeros(n, dtype=np.int64)
    np.maximum.at(recv, ln["order"], np.where(ln["ret"], ln["receive_t"], 0))
    np.maximum.at(refund, ln["order"], np.where(ln["ret"], ln["refund_t"], 0))
    return full, np.where(full, recv, NEVER), np.where(full, refund, NEVER)


def order_events(hist: History, cutoff: int, fully_refunded_t: np.ndarray) -> tuple[Events, np.ndarray, np.ndarray]:
    o = hist.orders
    n = len(o["placed_t"])
    idx = np.arange(n)
    full, returned_t, _ = returned_times(hist, n)
    parts = [(idx, S["placed"], -1, o["placed_t"])]

    def add(t: np.ndarray, dst: str, src: np.ndarray | int) -> None:
        m = t < cutoff
        parts.append((idx[m], S[dst], src[m] if isinstance(src, np.ndarray) else src, t[m]))

    add(o["cancel_t"], "cancelled", S["placed"])
    add(np.where(o["method"] == 3, NEVER, o["paid_t"]), "paid", S["placed"])
    add(o["alloc_t"], "allocated", np.where(o["method"] == 3, S["placed"], S["paid"]))
    add(o["ship_t"], "shipped", S["allocated"])
    add(o["deliver_t"], "delivered", S["shipped"])
    add(np.where(full, NEVER, o["complete_t"]), "completed", S["delivered"])
    add(returned_t, "returned", S["delivered"])
    add(fully_refunded_t, "refunded", S["returned"])
    ev = _cat(parts)
    status = np.zeros(n, dtype=np.int64)
    last_t = np.zeros(n, dtype=np.int64)
    who, at = last_per(ev.order)
    status[who], last_t[who] = ev.dst[at], ev.t[at]
    return ev, status, last_t


def last_per(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct keys and the position of each one's last row (rows already in time order)."""
    rev = keys[::-1]
    uniq, first_rev = np.unique(rev, return_index=True)
    return uniq, len(keys) - 1 - first_rev


@dataclass
class PaymentTxns:
    order: np.ndarray
    kind: list[str]
    amount: np.ndarray
    outcome: list[str]
    src: list[str]
    dst: list[str]
    t: np.ndarray
    reference: np.ndarray  # return row (local) refunded, -1 none
    line: np.ndarray  # refunded order line (-1 none)


def payments(hist: History, total: np.ndarray, line_total: np.ndarray, cutoff: int):  # type: ignore[no-untyped-def]
    """Transactions in time order, and per order: status, captured, refunded, fully refunded at."""
    o, ln = hist.orders, hist.lines
    n = len(total)
    idx = np.arange(n)
    m = o["method"]
    rows: list[tuple[np.ndarray, str, np.ndarray, str, str, str, np.ndarray]] = []

    def add(mask: np.ndarray, kind: str, outcome: str, src: str, dst: str, t: np.ndarray) -> None:
        rows.append((idx[mask], kind, total[mask], outcome, src, dst, t[mask]))

    prepaid_ok = (m <= 1) & ~o["declined"]
    add(o["declined"] & (o["cancel_t"] < cutoff), "authorize", "declined", "pending", "failed", o["cancel_t"])
    add(o["unpaid"] & (o["cancel_t"] < cutoff), "void", "approved", "pending", "voided", o["cancel_t"])
    add(prepaid_ok & (o["paid_t"] < cutoff), "authorize", "approved", "pending", "authorized", o["paid_t"])
    add(prepaid_ok & (o["ship_t"] < cutoff), "capture", "approved", "authorized", "captured", o["ship_t"])
    add((m == 2) & ~o["unpaid"] & (o["paid_t"] < cutoff), "capture", "approved", "pending", "captured", o["paid_t"])
    add((m == 3) & (o["deliver_t"] < cutoff), "capture", "approved", "pending", "captured", o["deliver_t"])
    captured_at = np.full(n, NEVER)
    captured_at = np.where(prepaid_ok, o["ship_t"], captured_at)
    captured_at = np.where((m == 2) & ~o["unpaid"], o["paid_t"], captured_at)
    captured_at = np.where(m == 3, o["deliver_t"], captured_at)
    captured = np.where(captured_at < cutoff, total, 0)

    refunds = np.flatnonzero(ln["ret"] & (ln["refund_t"] < cutoff))
    r_order, r_t, r_amt = ln["order"][refunds], ln["refund_t"][refunds], line_total[refunds]
    by = np.lexsort((r_t, r_order))
    r_order, r_t, r_amt, refunds = r_order[by], r_t[by], r_amt[by], refunds[by]
    first = np.r_[True, r_order[1:] != r_order[:-1]] if len(r_order) else np.zeros(0, bool)
    cum = np.cumsum(r_amt)
    base = np.maximum.accumulate(np.where(first, cum - r_amt, 0)) if len(cum) else cum
    running = cum - base
    full_now = running == captured[r_order]
    refunded = np.bincount(r_order, weights=r_amt, minlength=n).astype(np.int64)
    fully_refunded_t = np.full(n, NEVER)
    fully_refunded_t[r_order[full_now]] = r_t[full_now]

    order = np.concatenate([r[0] for r in rows] + [r_order])
    kind = [r[1] for r in rows for _ in range(len(r[0]))] + ["refund"] * len(r_order)
    amount = np.concatenate([r[2] for r in rows] + [r_amt])
    outcome = [r[3] for r in rows for _ in range(len(r[0]))] + ["approved"] * len(r_order)
    src = [r[4] for r in rows for _ in range(len(r[0]))] + \
        np.where(first, "captured", "partially_refunded").tolist()
    dst = [r[5] for r in rows for _ in range(len(r[0]))] + \
        np.where(full_now, "refunded", "partially_refunded").tolist()
    t = np.concatenate([r[6] for r in rows] + [r_t])
    reference = np.concatenate([np.full(len(order) - len(r_order), -1), ln["return_idx"][refunds]])
    line = np.concatenate([np.full(len(order) - len(r_order), -1), refunds])
    by = np.argsort(t, kind="stable")
    txns = PaymentTxns(order[by], [kind[i] for i in by], amount[by], [outcome[i] for i in by],
                       [src[i] for i in by], [dst[i] for i in by], t[by], reference[by], line[by])
    status = np.array(["pending"] * n, dtype=object)
    who, at = last_per(txns.order)
    status[who] = np.array(txns.dst, dtype=object)[at]
    return txns, status, captured, refunded, fully_refunded_t
