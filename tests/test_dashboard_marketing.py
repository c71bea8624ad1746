"""Marketing page: campaign results, competitor price index and the purchase funnel, checked against
SQL on the published snapshot, per role, with filters, and in Chinese."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.dashboard_support import DashboardShop, open_page, page_text, principal

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

PORTAL_WIDE = "This part covers the whole shop (every merchant) and is not shown to merchant accounts."


def _query(shop: DashboardShop, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    """Read the snapshot as the dashboards do (staging views name the catalog 'warehouse')."""
    snapshot = Path(shop.data_dir) / "snapshots" / "current.duckdb"
    with duckdb.connect(":memory:") as con:
        con.execute(f"ATTACH '{snapshot}' AS warehouse (READ_ONLY)")
        con.execute("USE warehouse")
        return con.execute(sql, params or []).fetchall()


def _metrics(at) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {m.label: m.value for m in at.metric}


def _frame_with(at, column: str):  # type: ignore[no-untyped-def]
    frames = [d.value for d in at.dataframe if column in d.value.columns]
    assert frames, f"no table with a {column} column"
    return frames[0]


@pytest.mark.parametrize("role", ["admin", "merchant", "analyst"])
def test_marketing_renders_for_every_role_that_reads_marketing(dashboard_env: DashboardShop, role: str) -> None:
    at = open_page("marketing", principal(role, 1))
    assert not at.exception, at.exception
    headers = [h.value for h in at.subheader]
    assert {"Campaign results", "Competitor price index", "Purchase funnel"} <= set(headers)
    assert at.get("vega_lite_chart"), "the price index chart at least"
    assert "Average price index" in _metrics(at)


def test_campaign_results_match_the_mart_and_follow_the_date_range(dashboard_env: DashboardShop) -> None:
    at = open_page("marketing", principal("analyst"))
    f = at.session_state["filters"]
    overlapping = "SELECT campaign_code, spend FROM marts.campaign_performance WHERE starts_on <= ? AND ends_on >= ?"
    shown = _query(dashboard_env, overlapping, [f.end, f.start])
    if shown:
        assert _metrics(at)["Campaigns"] == str(len(shown))
        assert set(_frame_with(at, "campaign_code")["campaign_code"]) == {c for c, _ in shown}
    (first, last), = _query(dashboard_env, "SELECT min(starts_on), max(ends_on) FROM marts.campaign_performance")
    at.sidebar.date_input(key="filter_dates").set_value((first, last)).run()
    assert not at.exception, at.exception
    every = _query(dashboard_env, overlapping, [last, first])
    assert len(every) > len(shown), "the whole campaign history holds more campaigns than the default 28 days"
    metrics = _metrics(at)
    assert metrics["Campaigns"] == str(len(every))
    assert metrics["Spend"] == f"${sum(float(s) for _, s in every):,.2f}"
    table = _frame_with(at, "campaign_code")
    assert set(table["campaign_code"]) == {c for c, _ in every}
    assert {"uplift", "uplift_ci_low", "uplift_ci_high", "is_uplift_ci_reliable", "incremental_revenue",
            "incremental_gross_margin", "return_on_spend", "roas", "new_customers"} <= set(table.columns)
    (incremental,), = _query(dashboard_env, "SELECT sum(incremental_revenue) FROM marts.campaign_performance "
                             "WHERE starts_on <= ? AND ends_on >= ?", [last, first])
    assert metrics["Incremental revenue"] == f"${float(incremental):,.2f}"
    assert len(at.get("vega_lite_chart")) >= 2, "uplift with its confidence interval, price index"


def test_funnel_and_price_index_follow_the_sidebar_filters(dashboard_env: DashboardShop) -> None:
    at = open_page("marketing", principal("analyst"))
    f = at.session_state["filters"]
    funnel = "SELECT sum(sessions), sum(purchase_sessions) FROM marts.funnel_daily WHERE day BETWEEN ? AND ?"
    (sessions, purchases), = _query(dashboard_env, funnel, [f.start, f.end])
    assert _metrics(at)["Sessions"] == f"{sessions:,}"
    assert _metrics(at)["Purchase"] == f"{purchases:,}"
    by_channel = _frame_with(at, "channel")
    assert int(by_channel["sessions"].sum()) == sessions
    assert len(_frame_with(at, "device")) >= 2

    at.sidebar.multiselect(key="filter_channels").set_value(["web"]).run()
    (web, _), = _query(dashboard_env, funnel + " AND channel = 'web'", [f.start, f.end])
    assert _metrics(at)["Sessions"] == f"{web:,}"
    assert web < sessions

    index = ("SELECT avg(pi.price_index) FROM marts.competitor_price_index pi JOIN marts.dim_products p "
             "USING (product_id) WHERE pi.observed_on BETWEEN ? AND ?")
    (everything,), = _query(dashboard_env, index, [f.start, f.end])
    (beauty,), = _query(dashboard_env, index + " AND p.category = 'beauty'", [f.start, f.end])
    assert _metrics(at)["Average price index"] == f"{everything:,.1f}"
    at.sidebar.multiselect(key="filter_categories").set_value(["beauty"]).run()
    assert not at.exception, at.exception
    assert _metrics(at)["Average price index"] == f"{beauty:,.1f}"
    assert f"{beauty:,.1f}" != f"{everything:,.1f}"
    undercut = _frame_with(at, "competitor_min_price")
    assert set(undercut["category"]) == {"beauty"}
    assert (undercut["competitor_min_price"] < undercut["our_price"]).all()


def test_merchant_sees_its_own_prices_and_nothing_shop_wide(dashboard_env: DashboardShop) -> None:
    at = open_page("marketing", principal("merchant", 1))
    assert not at.exception, at.exception
    f = at.session_state["filters"]
    others = _query(dashboard_env, "SELECT sku, product_name FROM marts.dim_products WHERE merchant_id <> 1")
    programme_wide = _query(dashboard_env, "SELECT c.code FROM staging.stg_store__campaigns c "
                                           "WHERE c.merchant_id IS DISTINCT FROM 1")
    text = page_text(at)
    for sku, name in others:
        assert not re.search(rf"\b{re.escape(sku)}\b", text), sku
        assert not re.search(rf"\b{re.escape(name)}\b", text), name
    for (code,) in programme_wide:
        assert code not in text, code
    # the funnel counts every merchant's sessions: a message instead of numbers
    assert PORTAL_WIDE in [i.value for i in at.info]
    assert "Sessions" not in _metrics(at)
    latest = ("SELECT count(*) FILTER (WHERE merchant_id = 1), count(*) FROM marts.competitor_price_index "
              "WHERE observed_on = (SELECT max(observed_on) FROM marts.competitor_price_index "
              "WHERE observed_on BETWEEN ? AND ?)")
    (own, every), = _query(dashboard_env, latest, [f.start, f.end])
    assert _metrics(at)["Products observed (latest day)"] == f"{own:,}"
    assert own < every
    undercut = _frame_with(at, "competitor_min_price")
    mine = {s for (s,) in _query(dashboard_env, "SELECT sku FROM marts.dim_products WHERE merchant_id = 1")}
    assert set(undercut["sku"]) <= mine


def test_marketing_speaks_chinese(dashboard_env: DashboardShop) -> None:
    at = open_page("marketing", principal("analyst"), lang="zh")
    assert not at.exception, at.exception
    assert {"营销活动效果", "竞品价格指数", "购买漏斗"} <= {h.value for h in at.subheader}
    labels = _metrics(at)
    assert "平均价格指数" in labels and "会话" in labels
    assert at.title[0].value == "营销"
