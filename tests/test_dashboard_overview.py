"""Overview page: headline figures against the previous period, scoped to the user's merchant."""

from __future__ import annotations

import pytest
from babel.numbers import get_currency_symbol

from tests.dashboard_support import DashboardShop, metrics, open_page, page_text, principal, query

# the first dashboard test of a run waits for the shared shop's build (simulation, pipeline, models)
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900), pytest.mark.xdist_group("built-shop")]


def test_overview_renders_headlines_and_chart(dashboard_env: DashboardShop) -> None:
    at = open_page("overview", principal("analyst"))
    assert not at.exception, at.exception
    figures = metrics(at)
    assert {"Net revenue", "Orders", "Average order value", "Gross margin"} <= set(figures)
    assert at.get("vega_lite_chart"), "revenue over time chart"


def test_overview_orders_match_the_mart_and_follow_the_channel_filter(dashboard_env: DashboardShop) -> None:
    at = open_page("overview", principal("analyst"))
    start, end = at.session_state["filters"].start, at.session_state["filters"].end
    (total, web), = query(dashboard_env, "SELECT count(*), count(*) FILTER (WHERE channel = 'web') "
                                         "FROM marts.fct_orders WHERE NOT is_cancelled AND placed_on BETWEEN ? AND ?",
                          [start, end])
    assert metrics(at)["Orders"] == f"{total:,}"
    at.sidebar.multiselect(key="filter_channels").set_value(["web"]).run()
    assert metrics(at)["Orders"] == f"{web:,}"
    assert web < total


def test_merchant_sees_only_its_own_numbers(dashboard_env: DashboardShop) -> None:
    mine = open_page("overview", principal("merchant", 1))
    f = mine.session_state["filters"]
    (own, other), = query(dashboard_env, "SELECT count(*) FILTER (WHERE merchant_id = 1), count(*) FILTER "
                                         "(WHERE merchant_id <> 1) FROM marts.fct_orders WHERE NOT is_cancelled "
                                         "AND placed_on BETWEEN ? AND ?", [f.start, f.end])
    names = [r[0] for r in query(dashboard_env, "SELECT merchant_code FROM marts.dim_merchants WHERE merchant_id <> 1")]
    assert metrics(mine)["Orders"] == f"{own:,}"
    assert f"{own + other:,}" != f"{own:,}"
    # the sidebar cannot widen the scope: choosing the other merchant still shows only merchant 1
    assert mine.session_state["filters"].merchants == (1,)
    text = page_text(mine)
    assert not any(name in text for name in names)


def test_overview_speaks_chinese(dashboard_env: DashboardShop) -> None:
    at = open_page("overview", principal("analyst"), lang="zh")
    assert not at.exception
    labels = {m.label for m in at.metric}
    assert "净收入" in labels and "订单数" in labels
    (currency,), = query(dashboard_env, "SELECT min(currency) FROM marts.dim_merchants")
    symbol = get_currency_symbol(currency, locale="zh_Hans_CN")  # the data's currency, the locale's symbol
    assert symbol in metrics(at)["净收入"]
