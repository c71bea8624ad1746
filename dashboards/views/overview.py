"""Overview: the period's headline figures against the previous period, and revenue over time."""

from __future__ import annotations

from dataclasses import replace

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import data, filters, i18n, sales_source, ui
from dashboards.i18n import Texts

T = Texts(
    en={"title": "Overview", "net_revenue": "Net revenue", "orders": "Orders", "aov": "Average order value",
        "conversion": "Conversion rate", "new_customers": "New customers",
        "returning_customers": "Returning customers", "gross_margin": "Gross margin",
        "margin_rate": "Gross margin rate", "revenue_over_time": "Net revenue per day",
        "this_period": "this period", "previous_period": "previous period", "day": "Day",
        "period": "Period", "conversion_help": "Orders / sessions. Sessions are counted for the whole shop "
        "(by channel), so the rate is shown only without merchant, category or region filters.",
        "mixed_currency": "The merchants in view use different currencies; pick one merchant to see money.",
        "day_of_period": "Day of period",
        "region_note": "With a region filter, revenue and margin come from order lines: a refund counts on its "
                       "order's day rather than the day it was paid."},
    zh={"title": "概览", "net_revenue": "净收入", "orders": "订单数", "aov": "平均订单金额", "conversion": "转化率",
        "new_customers": "新客户", "returning_customers": "回头客", "gross_margin": "毛利",
        "margin_rate": "毛利率", "revenue_over_time": "每日净收入", "this_period": "本期",
        "previous_period": "上期", "day": "日期", "period": "期间",
        "conversion_help": "订单数 / 会话数。会话按全店（按渠道）统计，因此仅在未按商户、品类或地区筛选时显示。",
        "mixed_currency": "所选商户使用不同币种；请选择一个商户以查看金额。", "day_of_period": "期间第几天",
        "region_note": "按地区筛选时，收入和毛利来自订单行：退款计入其订单的日期，而非退款支付日。"},
)

ORDERS = data.Columns(merchant="o.merchant_id", day="o.placed_on", channel="o.channel", region="c.region",
                      category="l.category")


def _where(f: data.Filters) -> tuple[sales_source.Source, str, list[object]]:
    source = sales_source.for_filters(f)
    where, params = data.scoped(replace(source.columns, day=source.day), f, extra=source.extra)
    return source, where, params


def _sales(f: data.Filters) -> pd.Series:
    source, where, params = _where(f)
    return data.fetch(
        "SELECT coalesce(sum(s.net_revenue), 0) AS net_revenue, coalesce(sum(s.cogs), 0) AS cogs "
        f"FROM {source.relation} {where}", params, needs=source.needs).iloc[0]


def _orders(f: data.Filters) -> pd.Series:
    category = ""
    columns = ORDERS
    if f.categories:  # an order counts when one of its lines is in a chosen category
        category = ("AND EXISTS (SELECT 1 FROM marts.fct_order_lines ol JOIN marts.dim_products l "
                    "USING (product_id) WHERE ol.order_id = o.order_id AND l.category IN "
                    f"({', '.join('?' * len(f.categories))}))")
        columns = data.Columns(merchant="o.merchant_id", day="o.placed_on", channel="o.channel", region="c.region")
    where, params = data.scoped(columns, f, extra=["NOT o.is_cancelled"])
    return data.fetch(
        "SELECT count(*) AS orders, count(DISTINCT o.customer_id) FILTER (WHERE o.is_first_order) AS new_customers, "
        "count(DISTINCT o.customer_id) FILTER (WHERE NOT o.is_first_order) AS returning_customers "
        f"FROM marts.fct_orders o LEFT JOIN marts.dim_customers c USING (customer_id) {where} {category}",
        params + list(f.categories), needs=["marts.fct_orders", "marts.dim_customers"]).iloc[0]


def _sessions(f: data.Filters) -> float | None:
    """Sessions of the period, or None where they cannot be matched to the orders in view."""
    if f.merchants or f.categories or f.regions or data.bound_merchant() is not None:
        return None
    if not data.has("marts.funnel_daily"):
        return None
    where = "WHERE day BETWEEN ? AND ?"
    params: list[object] = [f.start, f.end]
    if f.channels:
        where += f" AND channel IN ({', '.join('?' * len(f.channels))})"
        params += list(f.channels)
    value = data.fetch(f"SELECT sum(sessions) AS sessions FROM marts.funnel_daily {where}", params,
                       needs=["marts.funnel_daily"])["sessions"].iloc[0]
    return None if pd.isna(value) or value == 0 else float(value)


def _figures(f: data.Filters) -> dict[str, float | None]:
    sales, orders = _sales(f), _orders(f)
    net, count = float(sales["net_revenue"]), int(orders["orders"])
    margin = net - float(sales["cogs"])  # METRICS: gross margin = net revenue - COGS
    sessions = _sessions(f)
    return {"net_revenue": net, "orders": count, "aov": net / count if count else None,
            "conversion": count / sessions if sessions else None,
            "new_customers": int(orders["new_customers"]), "returning_customers": int(orders["returning_customers"]),
            "gross_margin": margin, "margin_rate": margin / net if net else None}


def _headlines(f: data.Filters, currency: str | None) -> None:
    now, before = _figures(f), _figures(f.previous())
    money = lambda v: i18n.money(v, currency)  # noqa: E731
    count = lambda v: i18n.number(v)  # noqa: E731
    st.caption(i18n.COMMON("previous_period", days=f.days))
    row = st.columns(4)
    ui.kpi(row[0], T("net_revenue"), now["net_revenue"], before["net_revenue"], money)
    ui.kpi(row[1], T("orders"), now["orders"], before["orders"], count)
    ui.kpi(row[2], T("aov"), now["aov"], before["aov"], money)
    ui.kpi(row[3], T("conversion"), now["conversion"], before["conversion"], i18n.percent, help=T("conversion_help"))
    row = st.columns(4)
    ui.kpi(row[0], T("new_customers"), now["new_customers"], before["new_customers"], count)
    ui.kpi(row[1], T("returning_customers"), now["returning_customers"], before["returning_customers"], count)
    ui.kpi(row[2], T("gross_margin"), now["gross_margin"], before["gross_margin"], money)
    ui.kpi(row[3], T("margin_rate"), now["margin_rate"], before["margin_rate"], i18n.percent)


def _daily(f: data.Filters) -> pd.DataFrame:
    source, where, params = _where(f)
    return data.fetch(f"SELECT {source.day} AS day, sum(s.net_revenue)::DOUBLE AS net_revenue "
                      f"FROM {source.relation} {where} GROUP BY 1 ORDER BY 1", params, needs=source.needs)


def _revenue_chart(f: data.Filters) -> None:
    st.subheader(T("revenue_over_time"))
    now, before = _daily(f), _daily(f.previous())
    now["period"], before["period"] = T("this_period"), T("previous_period")
    now["offset"] = (pd.to_datetime(now["day"]) - pd.Timestamp(f.start)).dt.days + 1
    before["offset"] = (pd.to_datetime(before["day"]) - pd.Timestamp(f.previous().start)).dt.days + 1
    both = pd.concat([now, before], ignore_index=True)
    order = [T("this_period"), T("previous_period")]
    if both.empty:
        st.caption(i18n.COMMON("no_rows"))
        return
    ui.chart(alt.Chart(both).mark_line(point=True).encode(
        x=alt.X("offset:Q", title=T("day_of_period")),
        y=alt.Y("net_revenue:Q", title=T("net_revenue")),
        # this period solid and first in the legend, the previous one dashed behind it
        color=alt.Color("period:N", title=T("period"), sort=order, legend=alt.Legend(orient="top")),
        strokeDash=alt.StrokeDash("period:N", sort=order, legend=None),
        tooltip=[alt.Tooltip("day:T", title=T("day")), alt.Tooltip("net_revenue:Q", format=",.2f",
                                                                   title=T("net_revenue"))]))


def render() -> None:
    st.title(T("title"))
    with ui.friendly():
        f = filters.current()
        ui.ignored_filters(ORDERS, f)
        if f.regions:
            st.caption(T("region_note"))
        currency = filters.currency()
        if currency is None:
            st.warning(T("mixed_currency"))
        ui.section(lambda: _headlines(f, currency))
        ui.section(lambda: _revenue_chart(f))


render()
