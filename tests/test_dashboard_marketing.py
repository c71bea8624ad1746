"""Marketing page: campaign results, competitor price index and the purchase funnel, checked against
SQL on the published snapshot, per role, with filters, and in Chinese."""

from __future__ import annotations

import re

import pytest

from tests.dashboard_support import DashboardShop, metrics, open_page, page_text, principal, query, table_with, usd

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900), pytest.mark.xdist_group("built-shop")]

PORTAL_WIDE = "This part covers the whole shop (every merchant) and is not shown to merchant accounts."


@pytest.mark.parametrize("role", ["admin", "merchant", "analyst"])
def test_marketing_renders_for_every_role_that_reads_marketing(dashboard_env: DashboardShop, role: str) -> None:
    at = open_page("marketing", principal(role, 1))
    assert not at.exception, at.exception
    headers = [h.value for h in at.subheader]
    assert {"Campaign results", "Competitor price index", "Purchase funnel"} <= set(headers)
    assert at.get("vega_lite_chart"), "the price index chart at least"
    assert "Average price index" in metrics(at)


def test_campaign_results_match_the_mart_and_follow_the_date_range(dashboard_env: DashboardShop) -> None:
    at = open_page("marketing", principal("analyst"))
    f = at.session_state["filters"]
    overlapping = "SELECT campaign_code, spend FROM marts.campaign_performance WHERE starts_on <= ? AND ends_on >= ?"
    shown = query(dashboard_env, overlapping, [f.end, f.start])
    if shown:
        assert metrics(at)["Campaigns"] == str(len(shown))
        assert set(table_with(at, "campaign_code")["campaign_code"]) == {c for c, _ in shown}
    (first, last), = query(dashboard_env, "SELECT min(starts_on), max(ends_on) FROM marts.campaign_performance")
    at.sidebar.date_input(key="filter_dates").set_value((first, last)).run()
    assert not at.exception, at.exception
    every = query(dashboard_env, overlapping, [last, first])
    assert len(every) > len(shown), "the whole campaign history holds more campaigns than the default 28 days"
    figures = metrics(at)
    assert figures["Campaigns"] == str(len(every))
    assert figures["Spend"] == usd(sum(float(s) for _, s in every))
    table = table_with(at, "campaign_code")
    assert set(table["campaign_code"]) == {c for c, _ in every}
    assert {"uplift", "uplift_ci_low", "uplift_ci_high", "is_uplift_ci_reliable", "incremental_revenue",
            "incremental_gross_margin", "return_on_spend", "roas", "new_customers"} <= set(table.columns)
    (incremental,), = query(dashboard_env, "SELECT sum(incremental_revenue) FROM marts.campaign_performance "
                            "WHERE starts_on <= ? AND ends_on >= ?", [last, first])
    assert figures["Incremental revenue"] == usd(incremental)
    assert len(at.get("vega_lite_chart")) >= 2, "uplift with its confidence interval, price index"


def test_funnel_and_price_index_follow_the_sidebar_filters(dashboard_env: DashboardShop) -> None:
    at = open_page("marketing", principal("analyst"))
    f = at.session_state["filters"]
    funnel = "SELECT sum(sessions), sum(purchase_sessions) FROM marts.funnel_daily WHERE day BETWEEN ? AND ?"
    (sessions, purchases), = query(dashboard_env, funnel, [f.start, f.end])
    assert metrics(at)["Sessions"] == f"{sessions:,}"
    assert metrics(at)["Purchase"] == f"{purchases:,}"
    by_channel = table_with(at, "channel")
    assert int(by_channel["sessions"].sum()) == sessions
    assert len(table_with(at, "device")) >= 2

    at.sidebar.multiselect(key="filter_channels").set_value(["web"]).run()
    (web, _), = query(dashboard_env, funnel + " AND channel = 'web'", [f.start, f.end])
    assert metrics(at)["Sessions"] == f"{web:,}"
    assert web < sessions

    index = ("SELECT avg(pi.price_index) FROM marts.competitor_price_index pi JOIN marts.dim_products p "
             "USING (product_id) WHERE pi.observed_on BETWEEN ? AND ?")
    (everything,), = query(dashboard_env, index, [f.start, f.end])
    (beauty,), = query(dashboard_env, index + " AND p.category = 'beauty'", [f.start, f.end])
    assert metrics(at)["Average price index"] == f"{everything:,.1f}"
    at.sidebar.multiselect(key="filter_categories").set_value(["beauty"]).run()
    assert not at.exception, at.exception
    assert metrics(at)["Average price index"] == f"{beauty:,.1f}"
    assert f"{beauty:,.1f}" != f"{everything:,.1f}"
    undercut = table_with(at, "competitor_min_price")
    assert set(undercut["category"]) == {"beauty"}
    assert (undercut["competitor_min_price"] < undercut["our_price"]).all()


def test_merchant_sees_its_own_prices_and_nothing_shop_wide(dashboard_env: DashboardShop) -> None:
    at = open_page("marketing", principal("merchant", 1))
    assert not at.exception, at.exception
    f = at.session_state["filters"]
    others = query(dashboard_env, "SELECT sku, product_name FROM marts.dim_products WHERE merchant_id <> 1")
    programme_wide = query(dashboard_env, "SELECT c.code FROM staging.stg_store__campaigns c "
                                          "WHERE c.merchant_id IS DISTINCT FROM 1")
    text = page_text(at)
    for sku, name in others:
        assert not re.search(rf"\b{re.escape(sku)}\b", text), sku
        assert not re.search(rf"\b{re.escape(name)}\b", text), name
    for (code,) in programme_wide:
        assert code not in text, code
    # the funnel counts every merchant's sessions: a message instead of numbers
    assert PORTAL_WIDE in [i.value for i in at.info]
    assert "Sessions" not in metrics(at)
    latest = ("SELECT count(*) FILTER (WHERE merchant_id = 1), count(*) FROM marts.competitor_price_index "
              "WHERE observed_on = (SELECT max(observed_on) FROM marts.competitor_price_index "
              "WHERE observed_on BETWEEN ? AND ?)")
    (own, every), = query(dashboard_env, latest, [f.start, f.end])
    assert metrics(at)["Products observed (latest day)"] == f"{own:,}"
    assert own < every
    undercut = table_with(at, "competitor_min_price")
    mine = {s for (s,) in query(dashboard_env, "SELECT sku FROM marts.dim_products WHERE merchant_id = 1")}
    assert set(undercut["sku"]) <= mine


def test_marketing_speaks_chinese(dashboard_env: DashboardShop) -> None:
    at = open_page("marketing", principal("analyst"), lang="zh")
    assert not at.exception, at.exception
    assert {"营销活动效果", "竞品价格指数", "购买漏斗"} <= {h.value for h in at.subheader}
    labels = metrics(at)
    assert "平均价格指数" in labels and "会话" in labels
    assert at.title[0].value == "营销"
