"""Customers page: RFM segments, new customers by segment, clusters, cohorts, lifetime value and
churn risk; the numbers equal the marts', filters change them, a merchant sees its own grain only."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from babel.dates import format_skeleton
from babel.numbers import format_currency
from streamlit.testing.v1 import AppTest

from tests.dashboard_support import DashboardShop, metrics, open_page, page_text, principal, query, table_with

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900), pytest.mark.xdist_group("built-shop")]


def _segments(at: AppTest) -> dict[str, int]:
    rfm = table_with(at, "avg_frequency")
    return dict(zip(rfm["label"], rfm["customers"].astype(int), strict=True))


def _numbers(at: AppTest) -> list[float]:
    """Every number in every table on the page."""
    values: list[float] = []
    for frame in at.dataframe:
        for column in frame.value.select_dtypes("number").columns:
            values += [float(v) for v in frame.value[column].dropna()]
    return values


@pytest.mark.parametrize("role", ["admin", "analyst", "support", "merchant"])
def test_customers_page_renders_for_each_role(dashboard_env: DashboardShop, role: str) -> None:
    at = open_page("customers", principal(role, 1))
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["Customers"]
    headings = {h.value for h in at.subheader}
    assert {"RFM segments", "New customers and where they are now", "Segment moves, week by week",
            "Behavioural clusters", "Cohort retention", "Lifetime value", "Churn risk"} <= headings
    # RFM bars, new customers by first-order month, the retention heatmap, the lifetime-value histogram,
    # and for a merchant (whose figures are per merchant) its customers by segment week by week
    assert len(at.get("vega_lite_chart")) == (5 if role == "merchant" else 4)
    assert not at.info, [i.value for i in at.info]  # every mart is in the fixture, churn scores included


def test_figures_equal_the_portal_marts(dashboard_env: DashboardShop) -> None:
    at = open_page("customers", principal("analyst"))
    f = at.session_state["filters"]
    expected = query(dashboard_env, "SELECT rfm_segment, count(*), sum(monetary) FROM marts.customer_rfm GROUP BY 1")
    assert _segments(at) == {s: n for s, n, _ in expected}
    rfm = table_with(at, "avg_frequency").set_index("label")
    for segment, customers, revenue in expected:
        assert rfm.loc[segment, "revenue"] == pytest.approx(float(revenue))
        assert rfm.loc[segment, "share"] == pytest.approx(customers / sum(n for _, n, _ in expected))

    (new_now,), = query(dashboard_env, "SELECT count(*) FROM marts.customer_rfm WHERE first_order_on BETWEEN ? AND ?",
                        [f.start, f.end])
    assert metrics(at)["New customers (first order in period)"] == f"{new_now:,}"

    (customers, median), = query(dashboard_env, "SELECT count(*), median(lifetime_value::DOUBLE) "
                                                "FROM marts.customer_value")
    assert metrics(at)["Customers"] == f"{customers:,}"
    assert metrics(at)["Median lifetime value"] == format_currency(Decimal(str(median)), "USD", locale="en_US")

    cohorts = table_with(at, "retention_rate")
    mart = {(format_skeleton("yMMM", c, locale="en_US"), k): r for c, k, r in query(
        dashboard_env, "SELECT cohort_month, months_since, retention_rate FROM marts.customer_cohorts")}
    assert len(cohorts) == len(mart)  # the fixture's history is shorter than the 12 months shown
    for row in cohorts.itertuples():
        assert row.retention_rate == pytest.approx(mart[(row.cohort, row.months_since)])

    churn = table_with(at, "churn_probability")
    top = [r[0] for r in query(dashboard_env, "SELECT customer_id FROM marts.customer_churn_risk "
                                              "ORDER BY churn_probability DESC, customer_id LIMIT 100")]
    assert churn["customer_id"].tolist() == top
    assert "name" not in churn.columns and "email" not in churn.columns


def test_region_merchant_and_date_filters_change_what_is_shown(dashboard_env: DashboardShop) -> None:
    at = open_page("customers", principal("analyst"))
    everyone = _segments(at)
    before = metrics(at)["New customers (first order in period)"]

    at.sidebar.multiselect(key="filter_regions").set_value(["Midwest", "South"]).run()
    assert not at.exception
    in_regions = query(dashboard_env, "SELECT r.rfm_segment, count(*) FROM marts.customer_rfm r "
                                      "JOIN marts.dim_customers c USING (customer_id) "
                                      "WHERE c.region IN ('Midwest', 'South') GROUP BY 1")
    assert _segments(at) == dict(in_regions)
    assert sum(_segments(at).values()) < sum(everyone.values())
    at.sidebar.multiselect(key="filter_regions").set_value([]).run()

    at.sidebar.multiselect(key="filter_merchants").set_value([2]).run()
    assert not at.exception
    merchant_two = query(dashboard_env, "SELECT rfm_segment, count(*) FROM marts.merchant_customer_rfm "
                                        "WHERE merchant_id = 2 GROUP BY 1")
    assert _segments(at) == dict(merchant_two) != everyone
    assert any("Per merchant" in c.value for c in at.caption)
    clusters = table_with(at, "segment_name")
    assert "description" not in clusters.columns  # the clusters' words are the whole portal's
    at.sidebar.multiselect(key="filter_merchants").set_value([]).run()

    f = at.session_state["filters"]
    start, end = f.start - timedelta(days=60), f.end - timedelta(days=60)
    at.sidebar.date_input(key="filter_dates").set_value((start, end)).run()
    assert not at.exception
    (new_then,), = query(dashboard_env, "SELECT count(*) FROM marts.customer_rfm WHERE first_order_on BETWEEN ? AND ?",
                         [start, end])
    assert metrics(at)["New customers (first order in period)"] == f"{new_then:,}" != before
    assert _segments(at) == everyone  # RFM is as of the warehouse's day, not of the date range


def test_merchant_sees_its_own_grain_and_nothing_of_the_other_merchant(dashboard_env: DashboardShop) -> None:
    at = open_page("customers", principal("merchant", 1))
    assert not at.exception, at.exception
    own = query(dashboard_env, "SELECT rfm_segment, count(*) FROM marts.merchant_customer_rfm WHERE merchant_id = 1 "
                               "GROUP BY 1")
    assert _segments(at) == dict(own)

    (customers, median), = query(dashboard_env, "SELECT count(*), median(lifetime_value::DOUBLE) FROM "
                                                "marts.merchant_customer_value WHERE merchant_id = 1")
    assert metrics(at)["Customers"] == f"{customers:,}"
    assert metrics(at)["Median lifetime value"] == format_currency(Decimal(str(median)), "USD", locale="en_US")

    # model marts: only merchant 1's buyers, without the portal's money or words
    buyers = {r[0] for r in query(dashboard_env, "SELECT customer_id FROM marts.merchant_customer_rfm "
                                                 "WHERE merchant_id = 1")}
    churn = table_with(at, "churn_probability")
    assert set(churn["customer_id"]) <= buyers
    top = [r[0] for r in query(dashboard_env, "SELECT customer_id FROM marts.customer_churn_risk WHERE customer_id IN "
                                              "(SELECT customer_id FROM marts.merchant_customer_rfm "
                                              "WHERE merchant_id = 1) ORDER BY churn_probability DESC, customer_id "
                                              "LIMIT 100")]
    assert churn["customer_id"].tolist() == top
    own_recency = dict(query(dashboard_env, "SELECT customer_id, recency_days FROM marts.merchant_customer_rfm "
                                            "WHERE merchant_id = 1"))
    assert all(row.recency_days == own_recency[row.customer_id] for row in churn.itertuples())
    clusters = table_with(at, "segment_name")
    assert set(clusters.columns) == {"segment_name", "customers", "share"}
    assert clusters["customers"].sum() == len(buyers)

    text = page_text(at)
    products = query(dashboard_env, "SELECT sku, product_name FROM marts.dim_products WHERE merchant_id <> 1")
    assert not [p for sku, name in products for p in (sku, name) if p in text]
    codes = [r[0] for r in query(dashboard_env, "SELECT merchant_code FROM marts.dim_merchants WHERE merchant_id <> 1")]
    assert not [c for c in codes if c in text]
    # no money of merchant 2 or of the whole portal: neither its per-segment revenue nor the clusters' figures
    others = [float(r[0]) for r in query(
        dashboard_env,
        "SELECT sum(monetary) FROM marts.merchant_customer_rfm WHERE merchant_id = 2 GROUP BY rfm_segment "
        "UNION ALL SELECT sum(monetary) FROM marts.customer_rfm GROUP BY rfm_segment "
        "UNION ALL SELECT median_monetary FROM marts.customer_segment_profiles "
        "UNION ALL SELECT total_monetary FROM marts.customer_segment_profiles")]
    mine = {round(float(r[0]), 2) for r in query(dashboard_env, "SELECT sum(monetary) FROM marts.merchant_customer_rfm "
                                                                 "WHERE merchant_id = 1 GROUP BY rfm_segment")}
    shown = {round(v, 2) for v in _numbers(at)}
    others = [round(v, 2) for v in others if abs(v) >= 10]  # not 0 and the like, which any table may hold
    assert others and not [v for v in others if v in shown and v not in mine]
    assert "who spend" not in text  # the clusters' descriptions quote the portal's spend


def test_customers_page_speaks_chinese(dashboard_env: DashboardShop) -> None:
    at = open_page("customers", principal("analyst"), lang="zh")
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["客户"]
    assert {"RFM 分群", "同期群留存", "客户生命周期价值", "流失风险"} <= {h.value for h in at.subheader}
    assert "冠军客户" in _segments(at)
    figures = metrics(at)
    assert "客户数" in figures and "$" in figures["生命周期价值中位数"]
    assert any("截至" in c.value for c in at.caption)


def test_week_by_week_segment_moves_are_the_merchants_own(dashboard_env: DashboardShop) -> None:
    at = open_page("customers", principal("merchant", 1))
    assert not at.exception, at.exception
    f = at.session_state["filters"]

    def moves(merchant_id: int, start, end) -> list[tuple]:  # type: ignore[no-untyped-def]
        return query(dashboard_env, "SELECT coalesce(from_segment, ''), to_segment, sum(customers) FROM "
                                    "marts.merchant_segment_movement WHERE merchant_id = ? AND week_start BETWEEN ? "
                                    "AND ? GROUP BY 1, 2", [merchant_id, start, end])

    def changed(rows: list[tuple]) -> int:
        return sum(n for src, dst, n in rows if src and src != dst)

    mine = moves(1, f.start, f.end)
    assert changed(mine) > 0, "the test shop should have customers moving between segments"
    assert metrics(at)["Customers who changed segment"] == f"{changed(mine):,}"
    flows = table_with(at, "from_label", "to_label")
    expected = sorted(((n, src, dst) for src, dst, n in mine if src != dst), key=lambda r: (-r[0], r[1], r[2]))[:20]
    assert flows["customers"].tolist() == [n for n, _, _ in expected]
    assert len(at.get("vega_lite_chart")) == 5  # the four of every role and the weekly segments

    assert at.sidebar.multiselect(key="filter_merchants").disabled  # a merchant cannot look at another

    analyst = open_page("customers", principal("analyst"))
    assert any("choose a merchant" in c.value for c in analyst.caption)
    assert "Customers who changed segment" not in metrics(analyst)
    analyst.sidebar.multiselect(key="filter_merchants").set_value([2]).run()
    assert metrics(analyst)["Customers who changed segment"] == f"{changed(moves(2, f.start, f.end)):,}"
