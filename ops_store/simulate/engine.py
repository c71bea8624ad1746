"""The day-by-day loop: demand meets stock (reservations, lost demand), orders are planned, and
shipments, cancellations, returns, counts and purchase orders move the stock book in time order."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ops_store.simulate.calendar import Calendar
from ops_store.simulate.campaigns import SimCampaign, factor_on
from ops_store.simulate.catalog import WAREHOUSES, Catalog
from ops_store.simulate.config import DAY, SimConfig
from ops_store.simulate.customers import Customers
from ops_store.simulate.demand import day_demand, selling
from ops_store.simulate.fulfilment import NEVER, OrderPlan, plan_orders
from ops_store.simulate.stock import StockBook

ORDER_FIELDS = ("customer", "first", "merchant", "channel", "placed_t")
PLAN_ORDER = ("method", "declined", "unpaid", "option", "paid_t", "cancel_t", "alloc_t", "ship_t", "deliver_t",
              "complete_t", "promised_day", "delayed")
PLAN_LINE = ("ret", "request_t", "approve_t", "receive_t", "refund_t", "restock")


@dataclass
class History:
    orders: dict[str, np.ndarray] = field(default_factory=dict)
    lines: dict[str, np.ndarray] = field(default_factory=dict)
    book: StockBook | None = None


def _expected_daily(cfg: SimConfig, cat: Catalog) -> np.ndarray:
    share = np.zeros(cat.n)
    for m in range(len(cat.merchant_code)):
        own = cat.merchant == m
        share[own] = cat.popularity[own] / cat.popularity[own].sum() * cat.merchant_weight[m]
    return share * cfg.orders * 2.6 * 1.2 / cfg.days * 1.3


def simulate_days(cfg: SimConfig, cal: Calendar, cat: Catalog, cust: Customers, campaigns: list[SimCampaign],
                  rng: np.random.Generator, tick: Callable[[int], None] = lambda _: None) -> History:
    book = StockBook(cat, _expected_daily(cfg, cat), rng)
    o_chunks: dict[str, list[np.ndarray]] = defaultdict(list)
    l_chunks: dict[str, list[np.ndarray]] = defaultdict(list)
    ship_bucket: dict[int, list[tuple[np.ndarray, ...]]] = defaultdict(list)
    release_bucket: dict[int, list[tuple[np.ndarray, np.ndarray]]] = defaultdict(list)
    return_bucket: dict[int, list[tuple[np.ndarray, ...]]] = defaultdict(list)
    line_cost = np.full(max(1024, cfg.orders * 4), -1, dtype=np.int64)
    n_orders = n_lines = n_returns = 0
    wh_products = [np.flatnonzero(cat.warehouse == w) for w in range(len(WAREHOUSES))]
    for d in range(cfg.days):
        drift = 1.0 + 0.08 * d / 365.0
        launching = np.flatnonzero(cat.launch == d)
        book.initial_stock(d, launching, cfg.days, drift)
        book.receive(d)
        if cal.weekday[d] == 0:  # Monday cycle counts: a quarter of each warehouse's products
            week = d // 7
            for w, prods in enumerate(wh_products):
                book.count(d, w, prods[(prods % 4) == (week % 4)])
        for line, product, qty, t in ship_bucket.pop(d, []):
            line_cost[line] = book.ship(product, qty, line, t)
        for product, qty in release_bucket.pop(d, []):
            book.release(product, qty)

        dd = day_demand(d, cal, cat, cust, factor_on(d, campaigns, cust.n), rng)
        ok = book.reserve(dd.product, dd.qty, d) if len(dd.product) else np.zeros(0, bool)
        line_order, product, qty = dd.line_order[ok], dd.product[ok], dd.qty[ok]
        has_lines = np.bincount(line_order, minlength=len(dd.customer)) > 0
        remap = np.cumsum(has_lines) - 1
        line_order = remap[line_order]
        keep = np.flatnonzero(has_lines)
        n = len(keep)
        if n:
            placed_t = dd.t[keep]
            plan = plan_orders(placed_t, dd.channel[keep], line_order, cat.category[product], rng)
            gl = np.arange(n_lines, n_lines + len(product))
            # declined payments give their units back at once, unpaid transfers after 5 days; an
            # order cancelled after the end of the history is still open, its units still reserved
            # (its reservation stays active in the records: records_orders.py)
            dec = plan.declined[line_order] & (plan.cancel_t[line_order] < cfg.cutoff)
            book.release(product[dec], qty[dec])
            unp = plan.unpaid[line_order]
            for day in np.unique(plan.cancel_t[line_order[unp]] // DAY):
                sel = unp & (plan.cancel_t[line_order] // DAY == day)
                if day < cfg.days:
                    release_bucket[int(day)].append((product[sel], qty[sel]))
            ship_t = plan.ship_t[line_order]
            for day in np.unique(ship_t[ship_t < cfg.cutoff] // DAY):
                sel = (ship_t // DAY) == day
                ship_bucket[int(day)].append((gl[sel], product[sel], qty[sel], ship_t[sel]))
            ret_idx = np.full(len(product), -1, dtype=np.int64)
            has_ret = plan.ret & (plan.request_t < cfg.cutoff)
            ret_idx[has_ret] = np.arange(n_returns, n_returns + int(has_ret.sum()))
            n_returns += int(has_ret.sum())
            back = plan.restock & (plan.receive_t < cfg.cutoff)
            for day in np.unique(plan.receive_t[back] // DAY):
                sel = back & (plan.receive_t // DAY == day)
                return_bucket[int(day)].append((ret_idx[sel], gl[sel], product[sel], qty[sel], plan.receive_t[sel]))
            for name in ORDER_FIELDS:
                value = {"customer": dd.customer, "first": dd.first, "merchant": dd.merchant,
                         "channel": dd.channel, "placed_t": dd.t}[name]
                o_chunks[name].append(value[keep])
            for name in PLAN_ORDER:
                o_chunks[name].append(getattr(plan, name))
            for name in PLAN_LINE:
                l_chunks[name].append(getattr(plan, name))
            l_chunks["order"].append(line_order + n_orders)
            l_chunks["product"].append(product)
            l_chunks["qty"].append(qty)
            l_chunks["unit_price"].append(cat.price_on(product, d))
            l_chunks["return_idx"].append(ret_idx)
            n_orders += n
            n_lines += len(product)
            if n_lines > len(line_cost):
                line_cost = np.concatenate([line_cost, np.full(len(line_cost), -1, dtype=np.int64)])
        for ret, line, product_r, qty_r, t in return_bucket.pop(d, []):
            book.restock(ret, product_r, qty_r, line_cost[line], t)
        book.lose_units(d)
        book.order_stock(d, selling(cat, d), cfg.days, drift)
        tick(d)
    hist = History(book=book)
    hist.orders = {k: np.concatenate(v) for k, v in o_chunks.items()}
    hist.lines = {k: np.concatenate(v) for k, v in l_chunks.items()}
    hist.lines["unit_cost"] = line_cost[:n_lines]
    hist.lines["line_no"] = _line_numbers(hist.lines["order"])
    assert cfg.cutoff < NEVER
    return hist


def _line_numbers(order: np.ndarray) -> np.ndarray:
    start = np.r_[0, np.flatnonzero(np.diff(order)) + 1]
    counts = np.diff(np.r_[start, len(order)])
    return np.arange(len(order)) - np.repeat(start, counts) + 1


def plan_of(hist: History) -> OrderPlan:  # convenience for readers of the arrays
    o, ln = hist.orders, hist.lines
    return OrderPlan(*(o[k] for k in PLAN_ORDER), *(ln[k] for k in PLAN_LINE))
