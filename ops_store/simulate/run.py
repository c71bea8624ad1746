"""Run the simulator: build the history in memory, write it to the store in one transaction
through the bulk path, then the landing files and the ground truth."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import text

from ops_store.bulk import analyze_tables
from ops_store.db import Store
from ops_store.errors import DomainError
from ops_store.migrate import head_revision, revision_of
from ops_store.simulate.calendar import build_calendar
from ops_store.simulate.campaigns import build_campaigns
from ops_store.simulate.catalog import build_catalog
from ops_store.simulate.config import SimConfig
from ops_store.simulate.crm import crm_frames
from ops_store.simulate.customers import build_customers
from ops_store.simulate.engine import simulate_days
from ops_store.simulate.landing import clickstream, competitor_prices, write_clickstream
from ops_store.simulate.lifecycle import order_events, payments, returned_times
from ops_store.simulate.money import compute_money
from ops_store.simulate.records_catalog import catalog_frames
from ops_store.simulate.records_orders import order_frames, payment_frames, return_frames, shipping_frames
from ops_store.simulate.records_people import customer_frames, loyalty_frames, marketing_frames
from ops_store.simulate.records_stock import movement_frames, stock_frames
from ops_store.simulate.truth import write_truth
from ops_store.simulate.writer import Writer


class StoreNotReady(DomainError):
    code = "store_not_ready"


@dataclass
class Progress:
    """Hooks for a progress display: start(phase, total), advance(phase, n), done(phase)."""

    start: Callable[[str, int], None] = lambda phase, total: None
    advance: Callable[[str, int], None] = lambda phase, n: None
    done: Callable[[str], None] = lambda phase: None


@dataclass
class Report:
    phases: dict[str, float] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    table_seconds: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


def check_store(store: Store) -> None:
    with store.engine.connect() as conn:
        current, head = revision_of(conn), head_revision()
        if current != head:
            raise StoreNotReady(f"the store is at schema revision {current or 'none'}, not {head}: "
                                "run `ecom db upgrade` first", field="OPS_STORE_URL")
        orders = conn.execute(text("SELECT COUNT(*) FROM orders")).scalar_one()
    if orders:
        raise StoreNotReady(f"the store already holds {orders} orders; simulate into an empty, migrated store "
                            "(a new database or file)", field="OPS_STORE_URL")


def simulate(store: Store, cfg: SimConfig, data_dir: Path, progress: Progress | None = None) -> Report:
    progress = progress or Progress()
    check_store(store)
    report = Report()
    seeds = np.random.SeedSequence(cfg.seed).spawn(8)
    rng = [np.random.default_rng(s) for s in seeds]

    def phase(name: str, total: int, work: Callable[[], Any]) -> Any:
        progress.start(name, total)
        began = time.perf_counter()
        out = work()
        report.phases[name] = report.phases.get(name, 0.0) + time.perf_counter() - began
        progress.done(name)
        return out

    cal = build_calendar(cfg, rng[0])
    cat = build_catalog(cfg, rng[0])
    cust = build_customers(cfg, cal, cat, rng[0], rng[7])  # tastes from their own stream
    campaigns = build_campaigns(cfg.days, cust, rng[0])
    hist = phase("simulate days", cfg.days,
                 lambda: simulate_days(cfg, cal, cat, cust, campaigns, rng[1],
                                       lambda d: progress.advance("simulate days", 1)))
    book = hist.book
    assert book is not None

    def build() -> list:
        n = len(hist.orders["placed_t"])
        full, _, _ = returned_times(hist, n)
        money = compute_money(hist, cal, cat, campaigns, cfg.cutoff, full, rng[2])
        line_total = money.line_gross - money.line_discount
        txns, pay_status, captured, refunded, refunded_t = payments(hist, money.total, line_total, cfg.cutoff)
        ev, status, last_t = order_events(hist, cfg.cutoff, refunded_t)
        return [
            *catalog_frames(cat, book, cfg.days),
            *marketing_frames(campaigns, money, cfg.days),
            *order_frames(hist, cat, money, ev, status, last_t, cfg.cutoff),
            *return_frames(hist, money, cat, cfg.cutoff),
            *payment_frames(hist, money, cat, txns, pay_status, captured, refunded, rng[3]),
            *shipping_frames(hist, cat, cfg.cutoff),
            *stock_frames(cat, book, cfg.days),
            *movement_frames(cat, book),
            *loyalty_frames(money, cust.n),
            *crm_frames(hist, cfg.cutoff, rng[4]),
        ]

    frames = phase("build rows", 1, build)
    people = phase("encrypt customers", cust.n, lambda: customer_frames(
        cust, cat, store.cipher, cfg.seed, lambda k: progress.advance("encrypt customers", k)))
    # parents first: catalog, customers, marketing, then the rest in the order built
    ordered = frames[:7] + people + frames[7:]
    total_rows = sum(len(f) for f in ordered)

    def write() -> Writer:
        with store.engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA defer_foreign_keys=ON")
            if conn.execute(text("SELECT COUNT(*) FROM orders")).scalar_one():  # someone wrote meanwhile
                raise StoreNotReady("orders appeared in the store while simulating; nothing was written",
                                    field="OPS_STORE_URL")
            writer = Writer(conn, cfg.start_at, lambda n: progress.advance("write store", n))
            for frame in ordered:
                writer.write(frame)
        return writer

    writer = phase("write store", total_rows, write)
    report.rows, report.table_seconds = writer.counts, writer.seconds
    phase("analyze store", 1, lambda: analyze_tables(store.engine, [n for n, rows in writer.counts.items() if rows]))
    landing = data_dir / "landing"

    def files() -> int:
        for folder in ("events", "competitor_prices", "ground_truth"):  # the simulator's own output only
            shutil.rmtree(landing / folder, ignore_errors=True)
        events = clickstream(hist, cat, cust, cfg.days, cfg.sessions_per_order, rng[5])
        report.rows["landing:events"] = events.height
        n = write_clickstream(events, landing / "events", cfg.start_at)
        competitor_prices(cat, cfg.days, cfg.start, landing / "competitor_prices", rng[6])
        write_truth(landing / "ground_truth", cfg, cal, cat, cust, campaigns, hist)
        return n

    phase("landing files", 1, files)
    o = hist.orders
    report.info = {
        "orders": len(o["placed_t"]), "order_lines": len(hist.lines["order"]), "customers": cust.n,
        "products": cat.n, "merchants": len(cat.merchant_code), "days": cfg.days,
        "start": cfg.start.isoformat(), "end": cfg.end.isoformat(), "seed": cfg.seed, "landing": str(landing),
    }
    return report
