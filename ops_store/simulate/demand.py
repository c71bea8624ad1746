"""One day's demand: who buys (new customers on their acquisition day, repeat buyers by their
rate, seasonality and campaign contact), from which merchant, through which channel, when, and
what (popularity among the products on sale, planted affinities)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ops_store.simulate.calendar import Calendar
from ops_store.simulate.catalog import Catalog
from ops_store.simulate.config import DAY
from ops_store.simulate.customers import CHANNEL_SHARE, Customers

HOUR_PROFILE = np.array([1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 3, 4, 4.5, 5, 5.5, 5, 5, 5, 5, 5.5, 6, 7, 7.5, 7, 5, 2.5])
HOUR_P = HOUR_PROFILE / HOUR_PROFILE.sum()


@dataclass
class DayDemand:
    customer: np.ndarray
    first: np.ndarray
    merchant: np.ndarray
    channel: np.ndarray
    t: np.ndarray  # seconds from the start, ascending
    line_order: np.ndarray  # index into this day's orders
    product: np.ndarray
    qty: np.ndarray


def selling(cat: Catalog, day: int) -> np.ndarray:
    return (cat.launch <= day) & (cat.retire > day)


def day_demand(day: int, cal: Calendar, cat: Catalog, cust: Customers, camp_factor: np.ndarray,
               rng: np.random.Generator) -> DayDemand:
    new = np.arange(cust.day_start[day], cust.day_start[day + 1])
    live = np.flatnonzero((cust.acquired < day) & (cust.churn > day) & (cust.rate > 0))
    weights = cust.rate[live] * camp_factor[live]
    cum = np.cumsum(weights)
    k = int(rng.poisson(cum[-1] * cal.weight[day])) if len(cum) else 0
    repeat = live[np.minimum(np.searchsorted(cum, rng.random(k) * cum[-1], side="right"), len(live) - 1)] \
        if k else np.empty(0, dtype=np.int64)
    customer = np.concatenate([new, repeat]).astype(np.int64)
    first = np.r_[np.ones(len(new), bool), np.zeros(len(repeat), bool)]
    n = len(customer)
    merchant = np.where(rng.random(n) < 0.8, cust.merchant[customer],
                        rng.choice(len(cat.merchant_code), size=n, p=cat.merchant_weight))
    channel = np.where(rng.random(n) < 0.85, cust.channel[customer],
                       rng.choice(len(CHANNEL_SHARE), size=n, p=CHANNEL_SHARE))
    t = day * DAY + rng.choice(24, size=n, p=HOUR_P) * 3600 + rng.integers(0, 3600, n)
    order = np.argsort(t, kind="stable")
    customer, first, merchant, channel, t = customer[order], first[order], merchant[order], channel[order], t[order]

    n_lines = 1 + np.minimum(rng.poisson(1.45, n), 7)
    line_order = np.repeat(np.arange(n), n_lines)
    line_merchant = merchant[line_order]
    product = np.full(len(line_order), -1, dtype=np.int64)
    on_sale = selling(cat, day)
    for m in np.unique(line_merchant):
        prods = np.flatnonzero((cat.merchant == m) & on_sale)
        where = np.flatnonzero(line_merchant == m)
        if not len(prods):
            continue
        cdf = np.cumsum(cat.popularity[prods])
        pick = np.searchsorted(cdf, rng.random(len(where)) * cdf[-1], side="right")
        product[where] = prods[np.minimum(pick, len(prods) - 1)]
    # Planted affinities: a product pulls its partner into the basket.
    partner = np.where(product >= 0, cat.partner[np.maximum(product, 0)], -1)
    pull = (partner >= 0) & (rng.random(len(product)) < cat.partner_prob[np.maximum(product, 0)])
    pull &= on_sale[np.maximum(partner, 0)]
    line_order = np.concatenate([line_order, line_order[pull]])
    product = np.concatenate([product, partner[pull]])
    keep = product >= 0
    line_order, product = line_order[keep], product[keep]
    key = line_order * cat.n + product
    _, first_idx = np.unique(key, return_index=True)  # one line per product and order
    line_order, product = line_order[first_idx], product[first_idx]
    qty = 1 + (rng.random(len(product)) < 0.18) * rng.integers(1, 3, len(product))
    return DayDemand(customer, first, merchant, channel, t, line_order, product, qty.astype(np.int64))
