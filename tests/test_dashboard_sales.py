"""Sales page: best sellers / slow movers, weekly trends and stock without sales, checked against SQL
on the published snapshot, under the filters and each role's scope."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

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


def _ranking(con: duckdb.DuckDBPyConnection, start: date, end: date, *, by: str = "net_revenue",
             channel: str | None = None, merchant: int | None = None) -> pd.DataFrame:
    """The page's best-seller ranking, written independently from fct_daily_sales."""
    order = "net_revenue DESC, units DESC, product_id" if by == "net_revenue" else \
        "units DESC, net_revenue DESC, product_id"
    return con.execute(
        "SELECT p.sku, sum(s.units) AS units, sum(s.net_revenue)::DOUBLE AS net_revenue, p.product_id "
        "FROM marts.fct_daily_sales s JOIN marts.dim_products p USING (product_id) "
        "WHERE s.day BETWEEN ? AND ? AND (? IS NULL OR s.channel = ?) AND (? IS NULL OR p.merchant_id = ?) "
        f"GROUP BY p.sku, p.product_id HAVING sum(s.units) > 0 ORDER BY {order}",
        [start, end, channel, channel, merchant, merchant]).df()


def test_sales_renders_for_every_role_that_may_see_it(dashboard_env: DashboardShop) -> None:
    roles = [r for r in ROLES if r in MATRIX["orders.read"]]  # dashboards/app.py PAGES: sales needs orders.read
    assert set(roles) == {"admin", "analyst", "merchant", "support", "engineer"}
    for role in roles:
        at = open_page("sales", principal(role, 1))
        assert not at.exception, (role, at.exception)
        assert not at.info, (role, [i.value for i in at.info])  # no "missing mart" / "not allowed"
        assert {"Net revenue", "Units sold", "Products sold"} <= set(metrics(at)), role
        subheaders = {s.value for s in at.subheader}
        assert {"Best sellers", "Slow movers", "Weekly trends", "Stock without sales"} <= subheaders, role
        assert len(at.get("vega_lite_chart")) >= 4, role  # top 10 + category, channel, region
        assert any(b.label == "Download CSV" for b in at.get("download_button")), role


def test_best_sellers_match_the_snapshot_and_follow_the_filters(dashboard_env: DashboardShop) -> None:
    at = open_page("sales", principal("analyst"))
    f = at.session_state["filters"]
    before_start, before_end = f.start - timedelta(days=f.days), f.start - timedelta(days=1)
    with snapshot_connection(dashboard_env) as con:
        ranking = _ranking(con, f.start, f.end)
        previous = _ranking(con, before_start, before_end).set_index("sku")
        by_units = _ranking(con, f.start, f.end, by="units")
        web = _ranking(con, f.start, f.end, channel="web")
        region, region_revenue = con.execute(
            "SELECT c.region, sum(l.net_revenue)::DOUBLE FROM marts.fct_order_lines l "
            "JOIN marts.dim_customers c USING (customer_id) WHERE NOT l.is_cancelled AND l.placed_on BETWEEN ? AND ? "
            "GROUP BY 1 ORDER BY 2 DESC LIMIT 1", [f.start, f.end]).fetchone()

    assert metrics(at)["Net revenue"] == usd(ranking["net_revenue"].sum())
    assert metrics(at)["Units sold"] == f"{int(ranking['units'].sum()):,}"
    best = table_with(at, "rank")
    assert list(best["sku"]) == list(ranking["sku"].head(20))
    assert best["net_revenue"].round(2).tolist() == ranking["net_revenue"].head(20).round(2).tolist()
    top = ranking.iloc[0]
    if top["sku"] in previous.index and previous.loc[top["sku"], "net_revenue"] > 0:
        expected = top["net_revenue"] / previous.loc[top["sku"], "net_revenue"] - 1
        assert best["revenue_growth"].iloc[0] == pytest.approx(expected)
    slow = table_with(at, "rank", nth=1)
    bottom = ranking.sort_values(["net_revenue", "units", "product_id"])  # the same ranking, from the bottom
    assert list(slow["sku"]) == list(bottom["sku"].head(20))

    at.radio(key="sales_rank_by").set_value("units").run()
    assert list(table_with(at, "rank")["sku"]) == list(by_units["sku"].head(20))

    at.sidebar.multiselect(key="filter_channels").set_value(["web"]).run()
    assert not at.exception
    assert metrics(at)["Net revenue"] == usd(web["net_revenue"].sum())
    assert web["net_revenue"].sum() < ranking["net_revenue"].sum()
    assert list(table_with(at, "rank")["sku"]) == list(web.sort_values(
        ["units", "net_revenue", "product_id"], ascending=[False, False, True])["sku"].head(20))

    # a region filter: order lines of that region's customers (refunds with their order), and the page says so
    at.sidebar.multiselect(key="filter_channels").set_value([]).run()
    at.sidebar.multiselect(key="filter_regions").set_value([region]).run()
    assert not at.exception
    assert metrics(at)["Net revenue"] == usd(region_revenue)
    assert any("region filter is set" in c.value for c in at.caption)


def test_weekly_trends_add_up_to_the_period(dashboard_env: DashboardShop) -> None:
    at = open_page("sales", principal("admin"))
    f = at.session_state["filters"]
    with snapshot_connection(dashboard_env) as con:
        by_category = con.execute(
            "SELECT p.category, sum(s.net_revenue)::DOUBLE FROM marts.fct_daily_sales s JOIN marts.dim_products p "
            "USING (product_id) WHERE s.day BETWEEN ? AND ? GROUP BY 1", [f.start, f.end]).fetchall()
        by_region_total = con.execute(
            "SELECT sum(net_revenue)::DOUBLE FROM marts.fct_order_lines WHERE NOT is_cancelled "
            "AND placed_on BETWEEN ? AND ?", [f.start, f.end]).fetchone()[0]
    category = table_with(at, "week")
    assert set(category["value"]) == {c for c, _ in by_category}
    sums = category.groupby("value")["net_revenue"].sum()
    for name, revenue in by_category:
        assert sums[name] == pytest.approx(revenue, abs=0.01)
    assert pd.to_datetime(category["week"]).dt.day_of_week.eq(0).all()  # weeks start on Monday
    region = table_with(at, "week", nth=2)
    assert region["net_revenue"].sum() == pytest.approx(by_region_total, abs=0.01)


def test_stock_without_sales_follows_the_date_range(dashboard_env: DashboardShop) -> None:
    at = open_page("sales", principal("admin"))
    end = at.session_state["filters"].end
    start = end - timedelta(days=6)
    at.sidebar.date_input(key="filter_dates").set_value((start, end)).run()
    assert not at.exception
    assert at.session_state["filters"].start == start
    with snapshot_connection(dashboard_env) as con:
        expected = con.execute(
            "WITH stock AS (SELECT product_id, sum(on_hand) AS on_hand FROM (SELECT product_id, warehouse_id, "
            "arg_max(on_hand, day) AS on_hand FROM marts.inventory_daily WHERE day <= ? GROUP BY ALL) GROUP BY 1), "
            "sold AS (SELECT product_id, sum(units) AS units FROM marts.fct_daily_sales WHERE day BETWEEN ? AND ? "
            "GROUP BY 1) "
            "SELECT p.sku FROM stock k JOIN marts.dim_products p USING (product_id) "
            "LEFT JOIN sold s USING (product_id) "
            "WHERE k.on_hand > 0 AND coalesce(s.units, 0) = 0", [end, start, end]).fetchall()
    expected_skus = {sku for (sku,) in expected}
    assert expected_skus, "the fixture shop has products with stock and no sales in a week"
    assert metrics(at)["Products with stock, no sales"] == f"{len(expected_skus):,}"
    assert set(table_with(at, "last_sold")["sku"]) == expected_skus
    assert (table_with(at, "last_sold")["on_hand"] > 0).all()


def _other_merchants(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute("SELECT sku, product_name FROM marts.dim_products WHERE merchant_id <> 1 UNION ALL "
                       "SELECT merchant_code, merchant_name FROM marts.dim_merchants WHERE merchant_id <> 1").fetchall()
    return [value for row in rows for value in row if value]


def test_merchant_sees_only_its_own_products(dashboard_env: DashboardShop) -> None:
    at = open_page("sales", principal("merchant", 1))
    assert not at.exception
    f = at.session_state["filters"]
    with snapshot_connection(dashboard_env) as con:
        own = _ranking(con, f.start, f.end, merchant=1)
        everyone = _ranking(con, f.start, f.end)
        others = _other_merchants(con)
        own_skus = {r[0] for r in con.execute("SELECT sku FROM marts.dim_products WHERE merchant_id = 1").fetchall()}
    assert metrics(at)["Net revenue"] == usd(own["net_revenue"].sum())
    assert own["net_revenue"].sum() != pytest.approx(everyone["net_revenue"].sum())
    assert set(table_with(at, "rank")["sku"]) <= own_skus
    assert mentions(page_text(at), others) == []
    assert mentions(page_text(open_page("sales", principal("admin"))), others), "the check can see products"

    # a session that asks for the other merchant (the widget is disabled for merchants) still sees only its own
    forged = open_page("sales", principal("merchant", 1), state={"filter_merchants": [2]})
    assert not forged.exception
    assert metrics(forged)["Net revenue"] == usd(own["net_revenue"].sum())
    assert mentions(page_text(forged), others) == []


def test_sales_speaks_chinese(dashboard_env: DashboardShop) -> None:
    at = open_page("sales", principal("analyst"), lang="zh")
    assert not at.exception
    labels = set(metrics(at))
    assert {"净收入", "销量", "有销售的商品数"} <= labels
    assert {"畅销商品", "滞销商品", "每周趋势"} <= {s.value for s in at.subheader}
    assert any(m.value.startswith("US$") for m in at.metric)
    assert any(r.label == "排序依据" for r in at.radio)


def test_a_missing_mart_gives_a_friendly_message_and_the_rest_still_renders(
        dashboard_env: DashboardShop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    published_without(dashboard_env, tmp_path, monkeypatch, "marts.inventory_daily")
    at = open_page("sales", principal("merchant", 1))
    assert not at.exception
    messages = [i.value for i in at.info]
    assert messages and all("`marts.inventory_daily`" in m and "ecom pipeline run" in m for m in messages)
    assert "Net revenue" in metrics(at)
    assert "Stock value" not in metrics(at)
