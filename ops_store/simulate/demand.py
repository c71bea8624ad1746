"""One day's demand: who buys (new customers on their acquisition day, repeat buyers by their
rate, seasonality and campaign contact), from which merchant, through which channel, when, and
what (the customer's favourite categories with the probability of their taste strength, else
popularity among the merchant's products on sale; planted affinities)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ops_store.simulate.calendar import Calendar
from ops_store.simulate.catalog import CATEGORIES, Catalog
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


def taste_products(cat: Catalog, on_sale: np.ndarray, line_merchant: np.ndarray, favourite: np.ndarray,
                   rng: np.random.Generator) -> np.ndarray:
    """Per line, a product drawn by popularity among its merchant's products on sale in the line's
    favourite categories (``favourite``: (lines, 2), -1 = no second one); -1 where there are none.
    One draw over all lines: products sorted by (merchant, category) share one cumulative popularity;
    a line's category is picked by its mass, then a point inside that category's stretch of it."""
    nc = len(CATEGORIES)
    k = len(line_merchant)
    key = cat.merchant * nc + cat.category
    by_group = np.argsort(key, kind="stable")
    prods = by_group[on_sale[by_group]]
    if not k or not len(prods):
        return np.full(k, -1, dtype=np.int64)
    cdf = np.cumsum(cat.popularity[prods])
    bounds = np.searchsorted(key[prods], np.arange(len(cat.merchant_code) * nc + 1))
    before = np.r_[0.0, cdf][bounds]  # popularity of all earlier (merchant, category) groups
    mass = np.diff(before)
    g1 = line_merchant * nc + favourite[:, 0]
    g2 = line_merchant * nc + np.maximum(favourite[:, 1], 0)
    m1 = mass[g1]
    total = m1 + np.where(favourite[:, 1] >= 0, mass[g2], 0.0)
    u = rng.random(k) * total
    first = u < m1
    g = np.where(first, g1, g2)
    pick = np.searchsorted(cdf, before[g] + np.where(first, u, u - m1), side="right")
    pick = np.clip(pick, bounds[g], np.maximum(bounds[g + 1] - 1, bounds[g]))
    return np.where(total > 0, prods[np.minimum(pick, len(prods) - 1)], -1)


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
    # Tastes: with the customer's taste strength a line comes from their favourite categories.
    line_customer = customer[line_order]
    tasteful = np.flatnonzero(rng.random(len(line_order)) < cust.taste[line_customer])
    product[tasteful] = taste_products(cat, on_sale, line_merchant[tasteful],
                                       cust.favourite[line_customer[tasteful]], rng)
    normal = product < 0  # the other lines, and those whose merchant sells none of the favourites today
    for m in np.unique(line_merchant[normal]):
        prods = np.flatnonzero((cat.merchant == m) & on_sale)
        where = np.flatnonzero(normal & (line_merchant == m))
        if not len(prods):
            continue
        cdf = np.cumsum(cat.popularity[prods])
        pick = np.searchsorted(cdf, rng.random(len(where)) * cdf[-1], side="right")
        product[where] = prods[np.minimum(pick, len(prods) - 1)]
    # A basket holds a product once: favourite-category lines that repeat one drawn earlier in the same
    # order get one more draw (a narrow choice repeats far more often than the whole range does).
    key = line_order * cat.n + product
    again = np.ones(len(key), bool)
    again[np.unique(key, return_index=True)[1]] = False
    again = np.flatnonzero(again[tasteful] & (product[tasteful] >= 0))
    if len(again):
        redo = tasteful[again]
        product[redo] = taste_products(cat, on_sale, line_merchant[redo], cust.favourite[line_customer[redo]], rng)
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
