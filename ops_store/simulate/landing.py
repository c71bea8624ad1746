"""Landing files outside the store: clickstream events (one folder per day) consistent with the
orders placed, and competitors' price observations (one CSV per day)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from ops_store.simulate.catalog import Catalog
from ops_store.simulate.config import DAY
from ops_store.simulate.customers import CHANNELS, Customers
from ops_store.simulate.engine import History

EVENT_TYPES = ("session_start", "page_view", "product_view", "search", "add_to_cart", "checkout", "purchase")
E = {name: i for i, name in enumerate(EVENT_TYPES)}
DEVICES = ("desktop", "mobile_web", "app", "call_centre")
COMPETITORS = ("pricehawk", "shopmart", "bargainbay")


def _device(channel: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    web = np.where(rng.random(len(channel)) < 0.6, 0, 1)
    return np.select([channel == 0, channel == 1, channel == 2], [web, 2, 0], 3)


def clickstream(hist: History, cat: Catalog, cust: Customers, days: int, spo: float,
                rng: np.random.Generator) -> pl.DataFrame:
    o, ln = hist.orders, hist.lines
    n = len(o["placed_t"])
    n_lines = np.bincount(ln["order"], minlength=n)
    start = o["placed_t"] - 60 * (3 + 2 * n_lines) - rng.integers(0, 300, n)
    # converting sessions: start, page view, per line a product view and an add to cart, checkout, purchase
    parts_sess = [np.arange(n), np.arange(n), ln["order"], ln["order"], np.arange(n), np.arange(n)]
    parts_type = [np.full(n, E["session_start"]), np.full(n, E["page_view"]), np.full(len(ln["order"]),
                  E["product_view"]), np.full(len(ln["order"]), E["add_to_cart"]), np.full(n, E["checkout"]),
                  np.full(n, E["purchase"])]
    k = ln["line_no"]
    parts_ts = [start, start + 10, start[ln["order"]] + 30 + 120 * (k - 1), start[ln["order"]] + 90 + 120 * (k - 1),
                o["placed_t"] - 30, o["placed_t"]]
    parts_sku = [np.full(n, -1), np.full(n, -1), ln["product"], ln["product"], np.full(n, -1), np.full(n, -1)]
    parts_order = [np.full(n, -1), np.full(n, -1), np.full(len(k), -1), np.full(len(k), -1), np.full(n, -1),
                   np.arange(n)]
    conv_customer = o["customer"]
    conv_channel = o["channel"]
    # sessions that do not buy: spread over the days like the orders
    per_day = np.bincount(o["placed_t"] // DAY, minlength=days)
    m = np.maximum(np.round(per_day * spo).astype(np.int64), 5)
    nn = int(m.sum())
    s_day = np.repeat(np.arange(days), m)
    s_start = s_day * DAY + rng.integers(0, DAY - 1800, nn)
    s_id = n + np.arange(nn)
    views = 1 + rng.integers(0, 3, nn)
    searched = rng.random(nn) < 0.3
    carted = rng.random(nn) < 0.15
    checked = carted & (rng.random(nn) < 0.3)
    popular = np.argsort(-cat.popularity)[: max(10, cat.n // 5)]
    view_s = np.repeat(np.arange(nn), views)
    view_rank = np.arange(len(view_s)) - np.repeat(np.cumsum(views) - views, views)
    view_sku = rng.choice(popular, len(view_s))
    first_view = np.cumsum(views) - views
    parts_sess += [s_id, s_id, s_id[searched], s_id[view_s], s_id[carted], s_id[checked]]
    parts_type += [np.full(nn, E["session_start"]), np.full(nn, E["page_view"]),
                   np.full(int(searched.sum()), E["search"]), np.full(len(view_s), E["product_view"]),
                   np.full(int(carted.sum()), E["add_to_cart"]), np.full(int(checked.sum()), E["checkout"])]
    parts_ts += [s_start, s_start + 15, s_start[searched] + 25, s_start[view_s] + 40 + 50 * view_rank,
                 s_start[carted] + 40 + 50 * views[carted], s_start[checked] + 60 + 50 * views[checked]]
    parts_sku += [np.full(nn, -1), np.full(nn, -1), np.full(int(searched.sum()), -1), view_sku,
                  view_sku[first_view[carted]], np.full(int(checked.sum()), -1)]
    parts_order += [np.full(nn, -1), np.full(nn, -1), np.full(int(searched.sum()), -1), np.full(len(view_s), -1),
                    np.full(int(carted.sum()), -1), np.full(int(checked.sum()), -1)]
    known = rng.random(nn) < 0.4
    max_cust = np.maximum(cust.day_start[np.minimum(s_day + 1, days)], 1)
    s_customer = np.where(known, (rng.random(nn) * max_cust).astype(np.int64), -1)
    s_channel = rng.choice(3, nn, p=[0.6, 0.35, 0.05])
    sess_customer = np.r_[conv_customer, s_customer]
    sess_channel = np.r_[conv_channel, s_channel]
    sess_device = _device(sess_channel, rng)

    session = np.concatenate(parts_sess)
    etype = np.concatenate(parts_type)
    ts = np.concatenate(parts_ts)
    sku = np.concatenate(parts_sku)
    order = np.concatenate(parts_order)
    by = np.lexsort((etype, session, ts))
    session, etype, ts, sku, order = session[by], etype[by], ts[by], sku[by], order[by]
    customer = sess_customer[session]
    lookup = {
        "device": dict(enumerate(DEVICES)), "channel": dict(enumerate(CHANNELS)),
        "event_type": dict(enumerate(EVENT_TYPES)), "sku": dict(enumerate(cat.sku)),
    }
    frame = pl.DataFrame({
        "event_id": np.arange(1, len(session) + 1, dtype=np.int64),
        "session_id": session.astype(np.int64) + 1, "customer": customer,
        "device": sess_device[session], "channel": sess_channel[session], "event_type": etype.astype(np.int64),
        "sku": sku, "order": order, "ts_s": ts,
    })

    def ref(column: str, prefix: str, width: int) -> pl.Expr:
        c = pl.col(column)
        return pl.when(c < 0).then(None).otherwise(pl.lit(prefix) + (c + 1).cast(pl.Utf8).str.zfill(width)).alias(
            column)

    def name(column: str) -> pl.Expr:
        c = pl.col(column)
        return pl.when(c < 0).then(None).otherwise(
            c.replace_strict(lookup[column], default=None, return_dtype=pl.Utf8)).alias(column)

    return frame.select(
        "event_id", "session_id", ref("customer", "SIM-C", 7).alias("customer_ref"), name("device"),
        name("channel"), name("event_type"), name("sku"), ref("order", "SIM-", 8).alias("order_ref"), "ts_s",
    )


def write_clickstream(frame: pl.DataFrame, root: Path, start: datetime) -> int:
    epoch_us = int(start.timestamp() * 1_000_000)
    frame = frame.with_columns(
        pl.from_epoch(pl.col("ts_s") * 1_000_000 + epoch_us, time_unit="us").dt.replace_time_zone("UTC").alias("ts"),
        (pl.col("ts_s") // DAY).alias("day"),
    ).drop("ts_s")
    frame = frame.filter(pl.col("day") >= 0)
    files = 0
    for (day,), part in frame.partition_by("day", as_dict=True, maintain_order=True).items():
        folder = root / f"dt={(start.date() + timedelta(days=int(day))).isoformat()}"
        folder.mkdir(parents=True, exist_ok=True)
        part.drop("day").write_parquet(folder / "events.parquet")
        files += 1
    return files


def competitor_prices(cat: Catalog, days: int, start: date, root: Path, rng: np.random.Generator) -> int:
    root.mkdir(parents=True, exist_ok=True)
    covers = [np.flatnonzero(rng.random(cat.n) < 0.4) for _ in COMPETITORS]
    bias = rng.normal(-0.02, 0.04, (len(COMPETITORS), cat.n))
    for d in range(days):
        frames = []
        for c, skus in enumerate(covers):
            skus = skus[(cat.launch[skus] <= d) & (cat.retire[skus] > d)]
            ours = cat.price_on(skus, d)
            promo = rng.random(len(skus)) < 0.08
            price = ours * (1 + bias[c, skus] + rng.normal(0, 0.01, len(skus))) * np.where(promo, 0.85, 1.0)
            frames.append(pl.DataFrame({"competitor": [COMPETITORS[c]] * len(skus),
                                        "sku": [cat.sku[i] for i in skus.tolist()],
                                        "price": np.round(price / 100, 2), "promo": promo}))
        pl.concat(frames).write_csv(root / f"{(start + timedelta(days=d)).isoformat()}.csv")
    return days
