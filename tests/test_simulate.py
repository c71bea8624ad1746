"""The shop simulator: deterministic for a seed, keeps every invariant the services keep, looks
like a shop (seasonality, repeat buyers, affinities, returns, late deliveries, campaigns), writes
landing files consistent with its orders, and refuses a store that already has orders."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import func, select, text

from ops_store.db import Store
from ops_store.models import (
    Base,
    Coupon,
    CouponRedemption,
    LoyaltyAccount,
    LoyaltyEntry,
    Order,
    OrderLine,
    Payment,
    PaymentTransaction,
    Reservation,
)
from ops_store.simulate import fulfilment
from ops_store.simulate.config import SimConfig
from ops_store.simulate.run import StoreNotReady, simulate
from tests.test_stock_invariants import check_invariants

CFG = SimConfig(orders=2500, days=150, seed=3, end=date(2026, 6, 30))


def _run(store: Store, data_dir: Path, cfg: SimConfig = CFG):  # type: ignore[no-untyped-def]
    return simulate(store, cfg, data_dir)


def test_invariants_hold(store: Store, tmp_path: Path) -> None:
    report = _run(store, tmp_path)
    assert report.info["orders"] > 2000
    check_invariants(store)
    with store.read() as s:
        # orders add up (the CHECK holds; lines add up to subtotal - discount)
        for o_id, sub, disc, lines_total in s.execute(
            select(Order.id, Order.subtotal, Order.discount, func.sum(OrderLine.line_total))
            .join(OrderLine, OrderLine.order_id == Order.id).group_by(Order.id, Order.subtotal, Order.discount)
        ):
            assert lines_total == sub - disc, o_id
        # loyalty: balance = ledger sum >= 0, and remaining lots never exceed their points
        ledger = dict(s.execute(select(LoyaltyEntry.customer_id, func.sum(LoyaltyEntry.points))
                                .group_by(LoyaltyEntry.customer_id)).all())
        accounts = list(s.scalars(select(LoyaltyAccount)))
        assert accounts and any(e < 0 for e in s.scalars(select(LoyaltyEntry.points)))
        for a in accounts:
            assert a.balance == ledger.get(a.customer_id, 0) >= 0
        assert sum(a.balance for a in accounts) == sum(s.scalars(select(LoyaltyEntry.remaining)))
        # coupons: uses = redemptions
        used = dict(s.execute(select(CouponRedemption.coupon_id, func.count())
                         .group_by(CouponRedemption.coupon_id)).all())
        coupons = list(s.scalars(select(Coupon)))
        assert sum(c.uses for c in coupons) > 0
        for c in coupons:
            assert c.uses == used.get(c.id, 0)
        # payments: amounts consistent with statuses and with the transactions
        refunds = dict(s.execute(select(PaymentTransaction.payment_id, func.sum(PaymentTransaction.amount))
                                 .where(PaymentTransaction.kind == "refund")
                                 .group_by(PaymentTransaction.payment_id)).all())
        statuses = set()
        for p, order_status, total in s.execute(select(Payment, Order.status, Order.total)
                                                .join(Order, Order.id == Payment.order_id)):
            statuses.add(p.status)
            assert p.amount == total
            if p.status in ("captured", "partially_refunded", "refunded"):
                assert p.captured_amount == p.amount
            else:
                assert p.captured_amount == 0 and p.refunded_amount == 0
            assert p.refunded_amount == refunds.get(p.id, 0)
            assert (p.status == "refunded") == (p.refunded_amount == p.captured_amount > 0)
            if p.status == "failed":
                assert order_status == "cancelled"
        assert {"captured", "failed", "partially_refunded"} <= statuses
        # active reservations belong to open orders only
        open_statuses = set(s.scalars(select(Order.status).join(Reservation, Reservation.order_id == Order.id)
                                      .where(Reservation.status == "active")))
        assert open_statuses and open_statuses <= {"placed", "paid", "allocated"}


def test_an_order_cancelled_after_the_end_keeps_its_units_reserved(store: Store, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A declined payment cancels its order a minute later; an order placed in the history's last
    minute is still open at its end, so the stock level must still hold its units, as its active
    reservation does (a 1M-order shop had three such products one unit apart). A 20-day delay
    makes many such orders in a small shop."""
    monkeypatch.setattr(fulfilment, "DECLINE_CANCEL_S", 20 * 86_400)
    cfg = SimConfig(orders=1500, days=60, seed=4, end=date(2026, 6, 30))
    _run(store, tmp_path, cfg)
    with store.read() as s:
        still_pending = s.scalar(select(func.count()).select_from(Payment).join(Order, Order.id == Payment.order_id)
                                 .where(Payment.method.in_(["card", "e_wallet"]), Payment.status == "pending",
                                        Order.placed_at < cfg.start_at + timedelta(days=cfg.days - 2)))
    assert still_pending > 0  # declined orders whose cancellation falls after the end
    check_invariants(store)


def _checksums(store: Store) -> dict[str, str]:
    out = {}
    with store.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            cols = [c for c in table.columns if not c.name.endswith("_enc")]
            keys = list(table.primary_key.columns)
            rows = conn.execute(select(*cols).order_by(*keys)).all()
            out[table.name] = hashlib.sha256(repr(rows).encode()).hexdigest()
    return out


def test_same_seed_same_rows(fresh_store: Callable[[str], Store], tmp_path: Path) -> None:
    first = fresh_store("sqlite")
    _run(first, tmp_path / "a")
    sums = _checksums(first)
    pii = first.cipher
    with first.engine.connect() as conn:
        names = [pii.decrypt(v) for v in conn.execute(text("SELECT name_enc FROM customers ORDER BY id")).scalars()]
    second = fresh_store("sqlite")
    _run(second, tmp_path / "b")
    assert _checksums(second) == sums
    with second.engine.connect() as conn:
        again = [pii.decrypt(v) for v in conn.execute(text("SELECT name_enc FROM customers ORDER BY id")).scalars()]
    assert again == names and len(names) == CFG.n_customers
    day = sorted((tmp_path / "a" / "landing" / "events").iterdir())[40].name
    a = pl.read_parquet(tmp_path / "a" / "landing" / "events" / day / "events.parquet")
    b = pl.read_parquet(tmp_path / "b" / "landing" / "events" / day / "events.parquet")
    assert a.equals(b)


def test_history_looks_like_a_shop(fresh_store: Callable[[str], Store], tmp_path: Path) -> None:
    store = fresh_store("sqlite")
    _run(store, tmp_path, SimConfig(orders=5000, days=200, seed=5, end=date(2026, 6, 30)))
    with store.engine.connect() as conn:
        q = lambda sql: conn.execute(text(sql)).all()  # noqa: E731
        by_dow = dict(q("SELECT strftime('%w', placed_at), COUNT(*) FROM orders GROUP BY 1"))
        weekend = (by_dow["0"] + by_dow["6"]) / 2
        weekday = sum(by_dow[d] for d in "12345") / 5
        assert weekend / weekday > 1.12  # configured about 1.3
        per_customer = [n for (n,) in q("SELECT COUNT(*) FROM orders GROUP BY customer_id")]
        assert sum(n == 1 for n in per_customer) / len(per_customer) > 0.5
        assert sum(n >= 3 for n in per_customer) > 20
        rates = dict(q("SELECT p.category, SUM(r.quantity) * 1.0 / SUM(l.quantity) FROM order_lines l "
                       "JOIN products p ON p.id = l.product_id LEFT JOIN return_requests r ON r.order_line_id = l.id "
                       "WHERE l.unit_cost IS NOT NULL GROUP BY 1"))
        rates = {k: v or 0.0 for k, v in rates.items()}
        assert max(rates.values()) > 2.5 * max(min(rates.values()), 0.004)
        late = q("SELECT date(s.delivered_at) > s.promised_on AS late, COUNT(DISTINCT s.order_id), "
                 "COUNT(DISTINCT t.order_id) FROM shipments s LEFT JOIN tickets t ON t.order_id = s.order_id "
                 "AND t.category <> 'return' WHERE s.delivered_at IS NOT NULL GROUP BY 1")
        rate = {bool(flag): tickets / orders for flag, orders, tickets in late}
        assert rate[True] > 3 * rate[False]
        assert q("SELECT COUNT(*) FROM stock_movements WHERE kind = 'count_correction'")[0][0] > 0
        bought = pl.DataFrame(q("SELECT c.customer_ref, p.category FROM order_lines l "
                                "JOIN orders o ON o.id = l.order_id JOIN customers c ON c.id = o.customer_id "
                                "JOIN products p ON p.id = l.product_id"), schema=["customer_ref", "category"],
                              orient="row")
    truth = tmp_path / "landing" / "ground_truth"
    # lasting tastes: customers buy mostly in their favourite categories, far above those categories' share
    tastes = pl.read_parquet(truth / "customers.parquet")
    assert tastes["favourite_categories"].list.len().is_between(1, 2).all()
    assert tastes["taste_strength"].mean() == pytest.approx(0.6, abs=0.03)
    share = bought.group_by("category").agg((pl.len() / bought.height).alias("share"))
    lines = (bought.join(tastes.select("customer_ref", "favourite_categories"), on="customer_ref")
             .with_columns(pl.col("favourite_categories").list.contains(pl.col("category")).alias("in_favourite")))
    expected = (tastes.select("customer_ref", pl.col("favourite_categories").alias("category")).explode("category")
                .join(share, on="category").group_by("customer_ref").agg(pl.col("share").sum().alias("expected")))
    lines = lines.join(expected, on="customer_ref")
    assert lines["in_favourite"].mean() > lines["expected"].mean() + 0.2
    aff = pl.read_parquet(truth / "affinities.parquet").filter(pl.col("orders_with_a") >= 20)
    assert aff.height >= 2 and aff["observed_lift"].median() > 1.5
    campaigns = json.loads((truth / "campaign_uplift.json").read_text())
    assert campaigns
    assert all(c["true_conversion_uplift"] > 0 for c in campaigns)
    # the control group gets no uplift: it converts as expected without contact (pooled over campaigns)
    controls = sum(c["controls"] for c in campaigns)
    realised = sum(c["realised_conversion_control"] * c["controls"] for c in campaigns) / controls
    expected = sum(c["expected_conversion_control"] * c["controls"] for c in campaigns) / controls
    assert realised == pytest.approx(expected, abs=0.08)


def test_landing_files_match_the_orders(fresh_store: Callable[[str], Store], tmp_path: Path) -> None:
    store = fresh_store("sqlite")
    _run(store, tmp_path)
    landing = tmp_path / "landing"
    days = sorted(p.name for p in (landing / "events").iterdir())
    assert len(days) >= CFG.days
    assert len(list((landing / "competitor_prices").glob("*.csv"))) == CFG.days
    prices = pl.read_csv(landing / "competitor_prices" / f"{CFG.end.replace(day=1).isoformat()}.csv")
    assert prices.columns == ["competitor", "sku", "price", "promo"] and prices.height > 0
    events = pl.read_parquet(landing / "events" / "*" / "events.parquet")
    assert set(events["event_type"].unique()) == {"session_start", "page_view", "product_view", "search",
                                                  "add_to_cart", "checkout", "purchase"}
    purchases = events.filter(pl.col("event_type") == "purchase")
    with store.engine.connect() as conn:
        refs = set(conn.execute(text("SELECT channel_order_ref FROM orders")).scalars())
        lines = conn.execute(text("SELECT o.channel_order_ref, l.sku FROM order_lines l "
                                  "JOIN orders o ON o.id = l.order_id")).all()
    assert set(purchases["order_ref"]) == refs and purchases.height == len(refs)
    session_of = dict(zip(purchases["order_ref"], purchases["session_id"], strict=True))
    carted = set(zip(*events.filter(pl.col("event_type") == "add_to_cart").select("session_id", "sku")
                     .to_dict(as_series=False).values(), strict=True))
    viewed = set(zip(*events.filter(pl.col("event_type") == "product_view").select("session_id", "sku")
                     .to_dict(as_series=False).values(), strict=True))
    for ref, sku in lines:
        assert (session_of[ref], sku) in carted and (session_of[ref], sku) in viewed
    sessions = events["session_id"].n_unique()
    assert sessions > 2 * len(refs)  # many sessions do not convert


def test_the_tables_written_have_planner_statistics(store: Store, tmp_path: Path) -> None:
    """Without them PostgreSQL plans from an empty table's figures, and the warehouse's incremental
    reads of a bulk-filled store scan whole tables instead of their indexes."""
    _run(store, tmp_path, SimConfig(orders=300, days=30, seed=1, end=date(2026, 6, 30)))
    with store.read() as s:
        if store.is_postgres:
            analyzed = set(s.scalars(text("SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL "
                                          "AND last_vacuum IS NOT NULL AND schemaname = current_schema()")))
        else:
            analyzed = set(s.scalars(text("SELECT DISTINCT tbl FROM sqlite_stat1")))
    assert {"orders", "order_lines", "order_events", "stock_movements", "customers"} <= analyzed


def test_refuses_a_store_with_orders(store: Store, tmp_path: Path) -> None:
    small = SimConfig(orders=300, days=30, seed=1, end=date(2026, 6, 30))
    _run(store, tmp_path, small)
    with pytest.raises(StoreNotReady, match="already holds"):
        _run(store, tmp_path, small)


def test_refuses_an_unmigrated_store(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'empty.sqlite'}")
    try:
        with pytest.raises(StoreNotReady, match="ecom db upgrade"):
            _run(store, tmp_path)
    finally:
        store.dispose()
