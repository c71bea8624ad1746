"""Order money: subtotal, promotion, coupon and points discounts, shipping, tax, total (integer
cents; the totals add up exactly as the CHECK constraint wants), the discount split over lines,
and the loyalty ledger (earn on completion, redeem at placement, first-in first-out lots)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ops_store.simulate.calendar import Calendar
from ops_store.simulate.campaigns import SimCampaign
from ops_store.simulate.catalog import DELIVERY_OPTIONS, Catalog
from ops_store.simulate.config import DAY
from ops_store.simulate.engine import History
from ops_store.simulate.fulfilment import NEVER

WELCOME_PCT = 10
EXPIRY_DAYS = 365


@dataclass
class Money:
    subtotal: np.ndarray
    discount: np.ndarray
    shipping: np.ndarray
    tax: np.ndarray
    total: np.ndarray
    coupon: np.ndarray  # coupon index (-1 none): 0 = welcome, 1 + i = campaign i
    coupon_value: np.ndarray
    points: np.ndarray
    line_gross: np.ndarray
    line_discount: np.ndarray
    # loyalty entries: customer, kind (0 earn, 1 redeem), points, remaining, order, t, expires day
    loyalty: dict[str, np.ndarray]
    earned: np.ndarray  # per order


def _half_up_div(num: np.ndarray, den: int) -> np.ndarray:
    return (2 * num + den) // (2 * den)


def compute_money(hist: History, cal: Calendar, cat: Catalog, campaigns: list[SimCampaign], cutoff: int,
                  fully_returned: np.ndarray, rng: np.random.Generator) -> Money:
    o, ln = hist.orders, hist.lines
    n = len(o["placed_t"])
    gross = ln["qty"] * ln["unit_price"]
    subtotal = np.bincount(ln["order"], weights=gross, minlength=n).astype(np.int64)
    day = o["placed_t"] // DAY
    promo = _half_up_div(subtotal * cal.promo_pct[o["merchant"], day].astype(np.int64), 100)
    live = ~(o["declined"] | o["unpaid"])
    coupon = np.full(n, -1, dtype=np.int64)
    coupon[live & o["first"] & (rng.random(n) < 0.15)] = 0
    pct = np.zeros(n, dtype=np.int64)
    pct[coupon == 0] = WELCOME_PCT
    for i, c in enumerate(campaigns):
        inside = live & (day >= c.start) & (day <= c.end) & np.isin(o["customer"], c.members[c.target])
        use = inside & (rng.random(n) < 0.5)
        coupon[use], pct[use] = 1 + i, c.coupon_pct
    payable = subtotal - promo
    coupon_value = np.minimum(_half_up_div(payable * pct, 100), payable)
    points, earned, loyalty = _loyalty(hist, subtotal, promo + coupon_value, live, cutoff, fully_returned, rng)
    discount = promo + coupon_value + points
    shipping = np.array([d[4] for d in DELIVERY_OPTIONS], dtype=np.int64)[o["option"]]
    tax = _half_up_div((subtotal - discount) * cat.merchant_tax_bp[o["merchant"]], 10_000)
    total = subtotal - discount + shipping + tax
    return Money(subtotal, discount, shipping, tax, total, coupon, coupon_value, points, gross,
                 split_discount(discount, gross, ln["order"], subtotal), loyalty, earned)


def split_discount(discount: np.ndarray, gross: np.ndarray, order: np.ndarray, subtotal: np.ndarray) -> np.ndarray:
    """Shares in proportion to the line gross (cents down), the leftover cents to the order's largest line."""
    sub = np.maximum(subtotal[order], 1)
    share = discount[order] * gross // sub
    left = discount - np.bincount(order, weights=share, minlength=len(discount)).astype(np.int64)
    by = np.lexsort((-gross, order))  # per order, largest line first
    first = by[np.r_[True, order[by][1:] != order[by][:-1]]]
    share[first] += left[order[first]]
    return share


def _loyalty(hist: History, subtotal: np.ndarray, discount_before_points: np.ndarray, live: np.ndarray,
             cutoff: int, fully_returned: np.ndarray, rng: np.random.Generator):  # type: ignore[no-untyped-def]
    o = hist.orders
    n = len(subtotal)
    completes = (o["complete_t"] < cutoff) & ~fully_returned
    points = np.zeros(n, dtype=np.int64)
    earned = np.zeros(n, dtype=np.int64)
    # events in time order: redemptions at placement (live orders), earnings at completion
    ev_t = np.concatenate([o["placed_t"][live], o["complete_t"][completes]])
    ev_o = np.concatenate([np.flatnonzero(live), np.flatnonzero(completes)])
    ev_k = np.concatenate([np.ones(int(live.sum()), np.int8), np.zeros(int(completes.sum()), np.int8)])
    order = np.lexsort((ev_k, ev_o, ev_t))
    want = rng.random(n) < 0.35
    balance: dict[int, int] = {}
    lots: dict[int, list[int]] = {}  # customer -> entry indices of lots with points left
    cust, kind, pts, rem, ords, ts, exp = [], [], [], [], [], [], []
    customer = o["customer"]
    for i in order.tolist():
        oi, k, t = int(ev_o[i]), int(ev_k[i]), int(ev_t[i])
        c = int(customer[oi])
        if k == 1:  # redeem at placement
            bal = balance.get(c, 0)
            limit = int(subtotal[oi] - discount_before_points[oi])
            take = min(bal, 2000, limit) // 100 * 100
            if bal < 500 or not want[oi] or take <= 0:
                continue
            points[oi] = take
            balance[c] = bal - take
            left = take
            queue = lots[c]
            while left:
                e = queue[0]
                used = min(left, rem[e])
                rem[e] -= used
                left -= used
                if rem[e] == 0:
                    queue.pop(0)
            cust.append(c), kind.append(1), pts.append(-take), rem.append(0), ords.append(oi), ts.append(t)
            exp.append(-1)
        else:  # earn on completion: floor(net goods x 1 point per unit), bronze multiplier 1
            gain = int(subtotal[oi] - discount_before_points[oi] - points[oi]) // 100
            if gain <= 0:
                continue
            earned[oi] = gain
            balance[c] = balance.get(c, 0) + gain
            lots.setdefault(c, []).append(len(cust))
            cust.append(c), kind.append(0), pts.append(gain), rem.append(gain), ords.append(oi), ts.append(t)
            exp.append(t // DAY + EXPIRY_DAYS)
    loyalty = {"customer": np.array(cust, dtype=np.int64), "kind": np.array(kind, dtype=np.int8),
               "points": np.array(pts, dtype=np.int64), "remaining": np.array(rem, dtype=np.int64),
               "order": np.array(ords, dtype=np.int64), "t": np.array(ts, dtype=np.int64),
               "expires": np.array(exp, dtype=np.int64)}
    assert cutoff < NEVER
    return points, earned, loyalty
