"""Service page: delivery by carrier, returns, support SLAs and loyalty, checked against SQL on the
published snapshot, per role, with filters, and in Chinese."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest

from tests.dashboard_support import DashboardShop, metrics, open_page, page_text, principal, query, table_with, usd

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900), pytest.mark.xdist_group("built-shop")]

PORTAL_WIDE = "This part covers the whole shop (every merchant) and is not shown to merchant accounts."
SECTIONS = {"Delivery performance by carrier", "Returns by reason and category", "Support SLA and satisfaction",
            "Loyalty programme"}
# units sold counted once per month and product (returns_analysis repeats them on every reason row)
RETURNS = ("WITH r AS (SELECT r.*, p.merchant_id FROM marts.returns_analysis r JOIN marts.dim_products p "
           "USING (product_id) WHERE r.month_start BETWEEN date_trunc('month', ?::DATE) AND ? {extra}) "
           "SELECT (SELECT sum(units_sold) FROM (SELECT DISTINCT month_start, product_id, units_sold FROM r)), "
           "sum(units_returned) FROM r")


def _weekly(shop: DashboardShop, mart: str, figure: str, start: date, end: date) -> Any:
    """A weekly mart's figure over the weeks the range touches."""
    (value,), = query(shop, f"SELECT {figure} FROM marts.{mart} "
                            "WHERE week_start BETWEEN date_trunc('week', ?::DATE) AND ?", [start, end])
    return value


@pytest.mark.parametrize("role", ["admin", "merchant", "support", "analyst"])
def test_service_renders_for_every_role_that_reads_crm(dashboard_env: DashboardShop, role: str) -> None:
    at = open_page("service", principal(role, 1))
    assert not at.exception, at.exception
    assert {h.value for h in at.subheader} >= SECTIONS
    assert {"Units sold", "Units returned", "Return rate"} <= set(metrics(at))
    assert at.get("vega_lite_chart"), "returns by reason and category at least"


def test_delivery_support_and_loyalty_match_the_marts_and_follow_the_date_range(
        dashboard_env: DashboardShop) -> None:
    at = open_page("service", principal("support"))
    f = at.session_state["filters"]
    shipments = _weekly(dashboard_env, "delivery_performance", "sum(shipments)", f.start, f.end)
    on_time = _weekly(dashboard_env, "delivery_performance", "sum(delivered_on_time) / sum(delivered)", f.start,
                      f.end)
    tickets = _weekly(dashboard_env, "support_sla", "sum(tickets)", f.start, f.end)
    figures = metrics(at)
    assert figures["Shipments"] == f"{shipments:,}"
    assert figures["On-time rate"] == f"{on_time:.1%}"
    assert figures["Tickets"] == f"{tickets:,}"
    carriers = table_with(at, "carrier_name")
    assert int(carriers["shipments"].sum()) == shipments
    (members, liability), = query(dashboard_env, "SELECT sum(members), sum(points_liability) "
                                  "FROM marts.loyalty_summary WHERE month_start = (SELECT max(month_start) "
                                  "FROM marts.loyalty_summary WHERE month_start <= ?)", [f.end])
    assert figures["Members"] == f"{members:,}"
    assert figures["Points liability"] == usd(liability)

    # eight weeks ending four weeks earlier: other weeks, other figures
    start, end = f.start - timedelta(days=56), f.end - timedelta(days=28)
    at.sidebar.date_input(key="filter_dates").set_value((start, end)).run()
    assert not at.exception, at.exception
    earlier = _weekly(dashboard_env, "delivery_performance", "sum(shipments)", start, end)
    earlier_tickets = _weekly(dashboard_env, "support_sla", "sum(tickets)", start, end)
    assert earlier != shipments
    assert metrics(at)["Shipments"] == f"{earlier:,}"
    assert metrics(at)["Tickets"] == f"{earlier_tickets:,}"


def test_returns_follow_the_category_filter(dashboard_env: DashboardShop) -> None:
    at = open_page("service", principal("analyst"))
    f = at.session_state["filters"]
    (sold, returned), = query(dashboard_env, RETURNS.format(extra=""), [f.start, f.end])
    assert metrics(at)["Units sold"] == f"{sold:,}"
    assert metrics(at)["Units returned"] == f"{returned:,}"
    assert metrics(at)["Return rate"] == f"{returned / sold:.1%}"
    by_reason = table_with(at, "reason")
    assert int(by_reason["units_returned"].sum()) == returned

    at.sidebar.multiselect(key="filter_categories").set_value(["fashion"]).run()
    assert not at.exception, at.exception
    (fashion_sold, fashion_returned), = query(dashboard_env, RETURNS.format(extra="AND p.category = 'fashion'"),
                                              [f.start, f.end])
    assert fashion_sold < sold
    assert metrics(at)["Units sold"] == f"{fashion_sold:,}"
    assert metrics(at)["Units returned"] == f"{fashion_returned:,}"
    assert set(table_with(at, "category")["category"]) == {"fashion"}


def test_merchant_sees_its_own_returns_and_nothing_shop_wide(dashboard_env: DashboardShop) -> None:
    at = open_page("service", principal("merchant", 1))
    assert not at.exception, at.exception
    f = at.session_state["filters"]
    (own_sold, own_returned), = query(dashboard_env, RETURNS.format(extra="AND merchant_id = 1"),
                                      [f.start, f.end])
    (all_sold, _), = query(dashboard_env, RETURNS.format(extra=""), [f.start, f.end])
    figures = metrics(at)
    assert figures["Units sold"] == f"{own_sold:,}"
    assert figures["Units returned"] == f"{own_returned:,}"
    assert own_sold < all_sold
    # shipments, tickets and loyalty are counted for the whole shop: a message instead of numbers
    assert [i.value for i in at.info].count(PORTAL_WIDE) == 3
    assert not {"Shipments", "Tickets", "Members", "Points liability"} & set(figures)
    text = page_text(at)
    for sku, name in query(dashboard_env, "SELECT sku, product_name FROM marts.dim_products WHERE merchant_id <> 1"):
        assert not re.search(rf"\b{re.escape(sku)}\b", text), sku
        assert not re.search(rf"\b{re.escape(name)}\b", text), name
    products = table_with(at, "sku")
    mine = {s for (s,) in query(dashboard_env, "SELECT sku FROM marts.dim_products WHERE merchant_id = 1")}
    assert set(products["sku"]) <= mine


def test_service_speaks_chinese(dashboard_env: DashboardShop) -> None:
    at = open_page("service", principal("support"), lang="zh")
    assert not at.exception, at.exception
    assert at.title[0].value == "服务"
    headers = {h.value for h in at.subheader}
    assert {"各承运商配送表现", "按原因和品类的退货", "客服时效与满意度", "会员积分计划"} <= headers
    labels = metrics(at)
    assert {"准时率", "退货率", "工单数", "积分负债"} <= set(labels)
    assert labels["积分负债"].startswith("US$")
