"""Inventory page: stock position, alerts, turnover, the ABC/XYZ matrix, stock-outs and count variances,
checked against SQL on the published snapshot, under the filters and each role's scope."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from ops_store.security.access import MATRIX
from tests.dashboard_support import (
    ROLES,
    DashboardShop,
    mentions,
    metrics,
    open_page,
    page_text,
    principal,
    published_without,
    snapshot_connection,
    table_with,
    usd,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900), pytest.mark.xdist_group("built-shop")]


def _position(con: duckdb.DuckDBPyConnection, end: date, *, category: str | None = None,
              merchant: int | None = None) -> tuple[Any, ...]:
    """On hand, reserved, available and value of every product x warehouse at its latest day on or before end."""
    return con.execute(
        "SELECT sum(on_hand), sum(reserved), sum(available), sum(stock_value)::DOUBLE FROM (SELECT i.product_id, "
        "i.warehouse_id, arg_max(i.on_hand, i.day) AS on_hand, arg_max(i.reserved, i.day) AS reserved, "
        "arg_max(i.available, i.day) AS available, arg_max(i.stock_value, i.day) AS stock_value "
        "FROM marts.inventory_daily i JOIN marts.dim_products p USING (product_id) WHERE i.day <= ? "
        "AND (? IS NULL OR p.category = ?) AND (? IS NULL OR p.merchant_id = ?) GROUP BY ALL)",
        [end, category, category, merchant, merchant]).fetchone()


def test_inventory_renders_for_every_role_that_may_see_it(dashboard_env: DashboardShop) -> None:
    roles = [r for r in ROLES if r in MATRIX["stock.read"]]  # dashboards/app.py PAGES: inventory needs stock.read
    assert set(roles) == {"admin", "analyst", "merchant", "support", "engineer"}
    for role in roles:
        at = open_page("inventory", principal(role, 1))
        assert not at.exception, (role, at.exception)
        assert not at.info, (role, [i.value for i in at.info])
        assert {"On hand", "Reserved", "Available", "Stock value", "Open alerts", "Turnover", "Days of inventory",
                "Stock-out days", "Net variance value"} <= set(metrics(at)), role
        assert {"Stock position", "Open stock alerts", "Turnover and days of inventory", "ABC / XYZ matrix",
                "Stock-out history", "Stock-count variances"} <= {s.value for s in at.subheader}, role
        marks = [c.proto.spec for c in at.get("vega_lite_chart")]
        assert len(marks) >= 2 and any('"rect"' in spec for spec in marks), role  # heatmap + stock-outs


def test_stock_position_matches_the_snapshot_and_follows_the_filters(dashboard_env: DashboardShop) -> None:
    at = open_page("inventory", principal("analyst"))
    f = at.session_state["filters"]
    with snapshot_connection(dashboard_env) as con:
        on_hand, reserved, available, value = _position(con, f.end)
        before = _position(con, f.start - timedelta(days=1))
        fashion = _position(con, f.end, category="fashion")
        earlier = _position(con, f.end - timedelta(days=30))
        rows = con.execute("SELECT count(DISTINCT (product_id, warehouse_id)) FROM marts.inventory_daily "
                           "WHERE day <= ?", [f.end]).fetchone()[0]
    figures = metrics(at)
    assert figures["On hand"] == f"{on_hand:,}"
    assert figures["Reserved"] == f"{reserved:,}"
    assert figures["Available"] == f"{available:,}"
    assert figures["Stock value"] == usd(value)
    assert on_hand == reserved + available
    # the change is against the position at the end of the previous period
    delta = next(m for m in at.metric if m.label == "On hand").proto.delta
    assert delta == f"{(on_hand / before[0] - 1) * 100:,.1f}%"
    table = table_with(at, "avg_unit_cost")
    assert len(table) == min(rows, 100)
    assert table["stock_value"].is_monotonic_decreasing

    at.sidebar.multiselect(key="filter_categories").set_value(["fashion"]).run()
    assert not at.exception
    assert metrics(at)["On hand"] == f"{fashion[0]:,}"
    assert fashion[0] < on_hand
    assert set(table_with(at, "avg_unit_cost")["category"]) == {"fashion"}
    assert not any("Filters not applicable here" in c.value for c in at.caption)
    at.sidebar.multiselect(key="filter_channels").set_value(["web"]).run()  # inventory has no channel
    assert any("Filters not applicable here" in c.value for c in at.caption)
    assert metrics(at)["On hand"] == f"{fashion[0]:,}"

    at.sidebar.multiselect(key="filter_categories").set_value([]).run()
    at.sidebar.date_input(key="filter_dates").set_value((f.end - timedelta(days=57), f.end - timedelta(days=30))).run()
    assert metrics(at)["On hand"] == f"{earlier[0]:,}"


def test_turnover_matrix_stock_outs_and_variances_match_the_snapshot(dashboard_env: DashboardShop) -> None:
    at = open_page("inventory", principal("admin"))
    f = at.session_state["filters"]
    first, last = f.start.replace(day=1), f.end.replace(day=1)
    with snapshot_connection(dashboard_env) as con:
        months = con.execute(
            "SELECT month_start, any_value(days_in_period), sum(cogs)::DOUBLE, sum(average_inventory_value)::DOUBLE "
            "FROM marts.inventory_turnover WHERE level = 'merchant' AND month_start BETWEEN ? AND ? GROUP BY 1",
            [first, last]).fetchall()
        matrix = con.execute(
            "SELECT abc_class, xyz_class, count(DISTINCT product_id) FROM marts.inventory_turnover "
            "WHERE level = 'product' GROUP BY ALL").fetchall()
        products = con.execute("SELECT count(DISTINCT product_id) FROM marts.inventory_turnover "
                               "WHERE level = 'product'").fetchone()[0]
        stock_outs = con.execute("SELECT count(*) FILTER (WHERE is_stock_out) FROM marts.inventory_daily "
                                 "WHERE day BETWEEN ? AND ?", [f.start, f.end]).fetchone()[0]
        week_start = f.end - timedelta(days=6)
        week_stock_outs = con.execute("SELECT count(*) FILTER (WHERE is_stock_out) FROM marts.inventory_daily "
                                      "WHERE day BETWEEN ? AND ?", [week_start, f.end]).fetchone()[0]
        lines, net_value, abs_value = con.execute(
            "SELECT count(*), sum(variance_value)::DOUBLE, sum(abs_variance_value)::DOUBLE FROM marts.count_variances "
            "WHERE posted_on BETWEEN ? AND ?", [f.start, f.end]).fetchone()
        week_lines = con.execute("SELECT count(*) FROM marts.count_variances WHERE posted_on BETWEEN ? AND ?",
                                 [week_start, f.end]).fetchone()[0]
        alerts = con.execute("SELECT count(*), count(*) FILTER (WHERE is_below_safety_stock) "
                             "FROM marts.stock_alerts").fetchone()
    figures = metrics(at)

    # turnover = COGS / average stock value (the day-weighted mean of the months), DIO = days / turnover
    days = sum(m[1] for m in months)
    cogs = sum(m[2] for m in months)
    average = sum(m[1] * m[3] for m in months) / days
    assert figures["Turnover"] == f"{cogs / average:,.2f}"
    assert figures["Days of inventory"] == f"{days / (cogs / average):,.1f}"
    assert figures["Average stock value"] == usd(average)
    assert figures["Open alerts"] == f"{alerts[0]:,}" and figures["Below safety stock"] == f"{alerts[1]:,}"

    # ABC x XYZ: every cell of the 3 x 3 grid, counts as in the mart
    grid = table_with(at, "xyz_class", "products")
    assert len(grid) == 9 and grid["products"].sum() == products
    counts = {(a, x): n for a, x, n in matrix}
    for row in grid.itertuples():
        assert row.products == counts.get((row.abc_class, row.xyz_class), 0)

    assert figures["Stock-out days"] == f"{stock_outs:,}"
    assert table_with(at, "period", "stock_out_days")["stock_out_days"].sum() == stock_outs
    assert figures["Lines counted"] == f"{lines:,}"
    assert figures["Net variance value"] == usd(net_value)
    assert figures["Absolute variance value"] == usd(abs_value)

    at.sidebar.date_input(key="filter_dates").set_value((week_start, f.end)).run()
    assert not at.exception
    assert metrics(at)["Stock-out days"] == f"{week_stock_outs:,}"
    assert metrics(at)["Lines counted"] == f"{week_lines:,}"
    assert (week_stock_outs, week_lines) != (stock_outs, lines)
    at.radio(key="inventory_stockout_grain").set_value("week").run()
    weekly = table_with(at, "period", "stock_out_days")
    assert weekly["stock_out_days"].sum() == week_stock_outs
    assert pd.to_datetime(weekly["period"]).dt.day_of_week.eq(0).all()


def test_merchant_sees_only_its_own_stock(dashboard_env: DashboardShop) -> None:
    at = open_page("inventory", principal("merchant", 1))
    assert not at.exception
    f = at.session_state["filters"]
    with snapshot_connection(dashboard_env) as con:
        own = _position(con, f.end, merchant=1)
        everyone = _position(con, f.end)
        rows = con.execute("SELECT sku, product_name FROM marts.dim_products WHERE merchant_id <> 1 UNION ALL "
                           "SELECT merchant_code, merchant_name FROM marts.dim_merchants WHERE merchant_id <> 1")
        others = [value for row in rows.fetchall() for value in row if value]
        own_alerts = con.execute("SELECT count(*) FROM marts.stock_alerts WHERE merchant_id = 1").fetchone()[0]
        own_matrix = con.execute("SELECT count(DISTINCT product_id) FROM marts.inventory_turnover "
                                 "WHERE level = 'product' AND merchant_id = 1").fetchone()[0]
    figures = metrics(at)
    assert figures["On hand"] == f"{own[0]:,}" and own[0] < everyone[0]
    assert figures["Stock value"] == usd(own[3])
    assert figures["Open alerts"] == f"{own_alerts:,}"
    assert table_with(at, "xyz_class", "products")["products"].sum() == own_matrix
    assert mentions(page_text(at), others) == []
    assert mentions(page_text(open_page("inventory", principal("admin"))), others), "the check can see products"


def test_inventory_speaks_chinese(dashboard_env: DashboardShop) -> None:
    at = open_page("inventory", principal("analyst"), lang="zh")
    assert not at.exception
    assert {"在手库存", "可用", "库存价值", "周转率", "库存天数", "缺货天数"} <= set(metrics(at))
    assert {"库存状况", "ABC / XYZ 矩阵", "缺货历史", "盘点差异"} <= {s.value for s in at.subheader}
    assert any(m.value.startswith("US$") for m in at.metric)


def test_a_missing_mart_gives_a_friendly_message_and_the_rest_still_renders(
        dashboard_env: DashboardShop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    published_without(dashboard_env, tmp_path, monkeypatch, "marts.inventory_turnover")
    at = open_page("inventory", principal("merchant", 1))
    assert not at.exception
    messages = [i.value for i in at.info]
    assert messages and all("`marts.inventory_turnover`" in m and "ecom pipeline run" in m for m in messages)
    assert "On hand" in metrics(at)
    assert "Turnover" not in metrics(at)
