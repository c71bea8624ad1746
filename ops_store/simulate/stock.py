"""Per-SKU stock state through the simulated days: the ledger (movements in id order), the
reserved units, the weighted average cost, purchase orders with lead times, hidden shrinkage
found by periodic counts.

Each product is stocked in one warehouse (its merchant's), so the per-product average of the
store (all warehouses) is the average of that one balance. Costs are integers in 1/10000."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from ops_store.simulate.catalog import Catalog
from ops_store.simulate.config import DAY

KINDS = ("receipt", "sale", "return", "count_correction")
REF_TYPES = ("purchase_order", "order_line", "return", "count")


def weighted_average_units(on_hand: int, avg: int, qty_in: int, cost: int) -> int:
    """ledger.weighted_average on integers in 1/10000 (the same half-even result, exactly)."""
    if on_hand <= 0:
        return cost
    q, r = divmod(on_hand * avg + qty_in * cost, on_hand + qty_in)
    return q + 1 if 2 * r > on_hand + qty_in or (2 * r == on_hand + qty_in and q & 1) else q


class StockBook:
    def __init__(self, cat: Catalog, expected_daily: np.ndarray, rng: np.random.Generator) -> None:
        n = cat.n
        self.cat = cat
        self.rng = rng
        self.on_hand = np.zeros(n, dtype=np.int64)
        self.reserved = np.zeros(n, dtype=np.int64)
        self.on_order = np.zeros(n, dtype=np.int64)
        self.avg = np.zeros(n, dtype=np.int64)
        self.shrink = np.zeros(n, dtype=np.int64)
        lead = cat.supplier_lead[cat.supplier]
        # Some products are planned tightly (they run out now and then), most comfortably.
        cover = rng.choice([0.6, 1.2, 1.6], size=n, p=[0.15, 0.45, 0.4])
        self.rop = np.ceil(expected_daily * (lead + 3) * cover).astype(np.int64) + 1
        self.roq = np.maximum(5, np.ceil(expected_daily * 28)).astype(np.int64)
        self.lead = lead
        self.mov: list[tuple[np.ndarray, ...]] = []  # chunks: product, kind, qty, cost, ref type, ref, t
        self.po: list[tuple[int, int, int, int, int]] = []  # merchant, supplier, created day, expected day, arrival
        self.po_lines: list[tuple[np.ndarray, ...]] = []  # po, product, qty, cost
        self.arrivals: dict[int, list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]] = defaultdict(list)
        self.counts: list[tuple[int, int]] = []  # warehouse, day
        self.count_lines: list[tuple[np.ndarray, ...]] = []  # count, product, expected, counted, avg
        self.lost: list[tuple[int, np.ndarray, np.ndarray]] = []  # day, product, qty of demand lost

    # -- ledger -------------------------------------------------------------------------------
    def _add(self, product: np.ndarray, kind: int, qty: np.ndarray, cost: np.ndarray, ref_type: int,
             ref: np.ndarray, t: np.ndarray) -> None:
        if len(product):
            k = np.full(len(product), kind, dtype=np.int8)
            rt = np.full(len(product), ref_type, dtype=np.int8)
            self.mov.append((product.astype(np.int64), k, qty.astype(np.int64), cost.astype(np.int64), rt,
                             ref.astype(np.int64), t.astype(np.int64)))

    def _inflow(self, product: np.ndarray, qty: np.ndarray, cost: np.ndarray) -> None:
        """Inflows in this order: the average moves with each (one product may come twice)."""
        oh, avg = self.on_hand, self.avg
        for p, q, c in zip(product.tolist(), qty.tolist(), cost.tolist(), strict=True):
            avg[p] = weighted_average_units(int(oh[p]), int(avg[p]), q, c)
            oh[p] += q

    # -- the day's phases -----------------------------------------------------------------------
    def receive(self, day: int) -> None:
        for po, product, qty, cost in self.arrivals.pop(day, []):
            t = day * DAY + 6 * 3600 + po % 3600
            self._add(product, 0, qty, cost, 0, np.full(len(product), po), np.full(len(product), t))
            self._inflow(product, qty, cost)
            self.on_order[product] -= qty

    def ship(self, product: np.ndarray, qty: np.ndarray, line: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Sales leave at the current average and consume their reservations; returns the cost."""
        cost = self.avg[product].copy()
        self._add(product, 1, -qty, cost, 1, line, t)
        np.subtract.at(self.on_hand, product, qty)
        np.subtract.at(self.reserved, product, qty)
        return cost

    def release(self, product: np.ndarray, qty: np.ndarray) -> None:
        np.subtract.at(self.reserved, product, qty)

    def reserve(self, product: np.ndarray, qty: np.ndarray, day: int) -> np.ndarray:
        """First come, first served per product: which lines get their units (the rest is lost)."""
        avail = self.on_hand - self.reserved
        order = np.argsort(product, kind="stable")
        p_sorted, q_sorted = product[order], qty[order]
        cum = np.cumsum(q_sorted)
        first = np.r_[True, p_sorted[1:] != p_sorted[:-1]]
        group_cum = cum - np.maximum.accumulate(np.where(first, cum - q_sorted, 0))
        ok_sorted = group_cum <= avail[p_sorted]
        ok = np.empty_like(ok_sorted)
        ok[order] = ok_sorted
        np.add.at(self.reserved, product[ok], qty[ok])
        if (~ok).any():
            self.lost.append((day, product[~ok], qty[~ok]))
        return ok

    def restock(self, ret: np.ndarray, product: np.ndarray, qty: np.ndarray, cost: np.ndarray,
                t: np.ndarray) -> None:
        """Returned goods back on hand at the cost they left with."""
        self._add(product, 2, qty, cost, 2, ret, t)
        self._inflow(product, qty, cost)

    def lose_units(self, day: int) -> None:
        """Hidden shrinkage (theft, damage) the books do not see until a count."""
        hit = self.rng.random(len(self.on_hand)) < 0.004
        self.shrink[hit & (self.on_hand - self.reserved - self.shrink > 0)] += 1

    def count(self, day: int, warehouse: int, products: np.ndarray) -> None:
        if not len(products):
            return
        idx = len(self.counts)
        self.counts.append((warehouse, day))
        expected = self.on_hand[products].copy()
        loss = np.minimum(self.shrink[products], self.on_hand[products] - self.reserved[products])
        loss = np.maximum(loss, 0)
        self.count_lines.append((np.full(len(products), idx), products, expected, expected - loss,
                                 self.avg[products].copy()))
        hit = loss > 0
        t = day * DAY + 7 * 3600 + warehouse * 60
        self._add(products[hit], 3, -loss[hit], self.avg[products[hit]], 3, np.full(hit.sum(), idx),
                  np.full(hit.sum(), t))
        self.on_hand[products] -= loss
        self.shrink[products] = 0

    def order_stock(self, day: int, selling: np.ndarray, days: int, cost_drift: float) -> None:
        """Reorder what fell to its reorder point: one purchase order per supplier and day."""
        position = self.on_hand - self.reserved + self.on_order
        due = np.flatnonzero(selling & (position <= self.rop))
        self._place_po(day, due, self.roq[due], days, cost_drift)

    def initial_stock(self, day: int, products: np.ndarray, days: int, cost_drift: float) -> None:
        self._place_po(day, products, self.roq[products] + self.rop[products], days, cost_drift, lead=False)

    def _place_po(self, day: int, products: np.ndarray, qty: np.ndarray, days: int, cost_drift: float,
                  lead: bool = True) -> None:
        if not len(products):
            return
        cat = self.cat
        sup = cat.supplier[products]
        for s in np.unique(sup):
            mask = sup == s
            prods, q = products[mask], qty[mask]
            po = len(self.po)
            expected = day + int(cat.supplier_lead[s]) if lead else day
            late = int(self.rng.choice([0, 0, 0, 1, 2, 6])) if lead else 0
            arrival = expected + late
            self.po.append((int(cat.supplier_merchant[s]), int(s), day, expected, arrival))
            cost = np.round(cat.cost[prods] * cost_drift * self.rng.uniform(0.97, 1.03, len(prods)), -2)
            cost = cost.astype(np.int64)
            self.po_lines.append((np.full(len(prods), po), prods, q, cost))
            self.on_order[prods] += q
            if arrival < days:
                self.arrivals[arrival].append((po, prods, q, cost))
