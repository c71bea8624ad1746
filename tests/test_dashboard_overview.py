"""Overview page: headline figures against the previous period, scoped to the user's merchant."""

from __future__ import annotations

import duckdb
import pytest
from babel.numbers import get_currency_symbol

from tests.dashboard_support import DashboardShop, open_page, page_text, principal

# the first dashboard test of a run waits for the shared shop's build (simulation, pipeline, models)
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _metrics(at) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {m.label: m.value for m in at.metric}


def test_overview_renders_headlines_and_chart(dashboard_env: DashboardShop) -> None:
    at = open_page("overview", principal("analyst"))
    assert not at.exception, at.exception
    metrics = _metrics(at)
    assert {"Net revenue", "Orders", "Average order value", "Gross margin"} <= set(metrics)
    assert at.get("vega_lite_chart"), "revenue over time chart"


def test_overview_orders_match_the_mart_and_follow_the_channel_filter(dashboard_env: DashboardShop) -> None:
    at = open_page("overview", principal("analyst"))
    start, end = at.session_state["filters"].start, at.session_state["filters"].end
    snapshot = dashboard_env.data_dir / "snapshots" / "current.duckdb"
    with duckdb.connect(str(snapshot), read_only=True) as con:
        total, web = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE channel = 'web') FROM marts.fct_orders "
            "WHERE NOT is_cancelled AND placed_on BETWEEN ? AND ?", [start, end]).fetchone()
    assert _metrics(at)["Orders"] == f"{total:,}"
    at.sidebar.multiselect(key="filter_channels").set_value(["web"]).run()
    assert _metrics(at)["Orders"] == f"{web:,}"
    assert web < total


def test_merchant_sees_only_its_own_numbers(dashboard_env: DashboardShop) -> None:
    mine = open_page("overview", principal("merchant", 1))
    snapshot = dashboard_env.data_dir / "snapshots" / "current.duckdb"
    f = mine.session_state["filters"]
    with duckdb.connect(str(snapshot), read_only=True) as con:
        own, other = con.execute(
            "SELECT count(*) FILTER (WHERE merchant_id = 1), count(*) FILTER (WHERE merchant_id <> 1) "
            "FROM marts.fct_orders WHERE NOT is_cancelled AND placed_on BETWEEN ? AND ?", [f.start, f.end]).fetchone()
        names = [r[0] for r in con.execute(
            "SELECT merchant_code FROM marts.dim_merchants WHERE merchant_id <> 1").fetchall()]
    assert _metrics(mine)["Orders"] == f"{own:,}"
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
    snapshot = dashboard_env.data_dir / "snapshots" / "current.duckdb"
    with duckdb.connect(str(snapshot), read_only=True) as con:
        currency = con.execute("SELECT min(currency) FROM marts.dim_merchants").fetchone()[0]
    symbol = get_currency_symbol(currency, locale="zh_Hans_CN")  # the data's currency, the locale's symbol
    assert symbol in {m.label: m.value for m in at.metric}["净收入"]
