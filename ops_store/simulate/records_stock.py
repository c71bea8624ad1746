"""Frames for the stock side: purchase orders, counts, the ledger in id order, balances and the
weighted average cost per product."""

from __future__ import annotations

import numpy as np

from ops_store.simulate.catalog import Catalog
from ops_store.simulate.config import DAY
from ops_store.simulate.frame import Frame
from ops_store.simulate.stock import KINDS, REF_TYPES, StockBook

ACTOR = "simulator"
REASONS = ("purchase order received", "order shipped", "return restocked", "cycle count")


def half_even_div(value: np.ndarray, den: int) -> np.ndarray:
    q = np.floor_divide(value, den)
    r = value - q * den
    up = (2 * r > den) | ((2 * r == den) & (q % 2 == 1))
    return q + up


def stock_frames(cat: Catalog, book: StockBook, days: int) -> list[Frame]:
    po = np.array(book.po, dtype=np.int64).reshape(-1, 5)
    merchant, supplier, created, expected, arrival = po.T
    received = arrival < days
    created_t = created * DAY + np.where(created == expected, 5 * 3600, 20 * 3600)
    pos = (Frame("purchase_orders").add("merchant_id", merchant, "ref:merchants")
           .add("supplier_id", supplier, "ref:suppliers")
           .add("warehouse_id", cat.merchant_warehouse[merchant], "ref:warehouses")
           .add("status", np.where(received, "received", "open").tolist()).add("expected_on", expected, "day")
           .add("actor", ACTOR).add("created_at", created_t, "t")
           .add("updated_at", np.where(received, arrival * DAY + 6 * 3600, created_t), "t"))
    pl = [np.concatenate(c) for c in zip(*book.po_lines, strict=True)] if book.po_lines else [np.zeros(0, np.int64)] * 4
    po_idx, product, qty, cost = pl
    lines = (Frame("purchase_order_lines").add("purchase_order_id", po_idx, "ref:purchase_orders")
             .add("product_id", product, "ref:products").add("qty_ordered", qty)
             .add("qty_received", np.where(received[po_idx], qty, 0)).add("unit_cost", cost, "cost")
             .add("updated_at", np.where(received[po_idx], arrival[po_idx] * DAY + 6 * 3600,
                                         created_t[po_idx]), "t"))
    counts = np.array(book.counts, dtype=np.int64).reshape(-1, 2)
    count_t = counts[:, 1] * DAY + 7 * 3600 + counts[:, 0] * 60
    count_frame = (Frame("stock_counts").add("warehouse_id", counts[:, 0], "ref:warehouses").add("status", "posted")
                   .add("actor", ACTOR).add("created_at", count_t - 3600, "t").add("posted_at", count_t, "t")
                   .add("updated_at", count_t, "t"))
    cl = [np.concatenate(c) for c in zip(*book.count_lines, strict=True)] if book.count_lines \
        else [np.zeros(0, np.int64)] * 5
    c_idx, c_product, c_expected, c_counted, c_avg = cl
    variance = c_counted - c_expected
    count_lines = (Frame("stock_count_lines").add("stock_count_id", c_idx, "ref:stock_counts")
                   .add("product_id", c_product, "ref:products").add("counted_qty", c_counted)
                   .add("expected_qty", c_expected).add("variance_qty", variance).add("unit_cost", c_avg, "cost")
                   .add("variance_value", half_even_div(variance * c_avg, 100), "cents")
                   .add("updated_at", count_t[c_idx] if len(c_idx) else np.zeros(0, np.int64), "t"))
    return [pos, lines, count_frame, count_lines]


def movement_frames(cat: Catalog, book: StockBook, line_to_order_line: np.ndarray | None = None) -> list[Frame]:
    mv = [np.concatenate(c) for c in zip(*book.mov, strict=True)]
    product, kind, qty, cost, ref_type, ref, t = mv
    kinds = np.array(KINDS, dtype=object)[kind].tolist()
    ref_types = np.array(REF_TYPES, dtype=object)[ref_type].tolist()
    reasons = np.array(REASONS, dtype=object)[kind].tolist()
    movements = (Frame("stock_movements").add("product_id", product, "ref:products")
                 .add("warehouse_id", cat.warehouse[product], "ref:warehouses").add("kind", kinds)
                 .add("quantity", qty).add("unit_cost", cost, "cost").add("reason", reasons)
                 .add("ref_type", ref_types)
                 .add("ref_id", ref_type.astype(np.int64) * (1 << 40) + ref,
                      "refs:" + ",".join(("purchase_orders", "order_lines", "return_requests", "stock_counts")))
                 .add("actor", ACTOR).add("created_at", t, "t"))
    last_t = int(t.max()) if len(t) else 0
    levels = (Frame("stock_levels", has_id=False).add("product_id", np.arange(cat.n), "ref:products")
              .add("warehouse_id", cat.warehouse, "ref:warehouses").add("on_hand", book.on_hand.copy())
              .add("reserved", book.reserved.copy()).add("updated_at", last_t, "t"))
    valuations = (Frame("stock_valuations", has_id=False).add("product_id", np.arange(cat.n), "ref:products")
                  .add("avg_unit_cost", book.avg.copy(), "cost").add("updated_at", last_t, "t"))
    return [movements, levels, valuations]
