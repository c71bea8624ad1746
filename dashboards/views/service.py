"""Service: delivery performance by carrier, returns by reason and category, support SLAs and
satisfaction, and the loyalty programme's points and liability.

The marts are weekly or monthly: a date range covers every week (month) it touches, and the
previous period is the same number of weeks (months) just before. Returns belong to a product and
so to its merchant (a merchant user sees its own); shipments, tickets and loyalty points are
counted for the whole shop, so merchant users get a message there instead of numbers.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import data, filters, i18n, ui
from dashboards.i18n import Texts

T = Texts(
    en={"title": "Service", "weeks_covered": "Weeks starting {first} to {last}, against the {n} weeks before.",
        "months_covered": "Months of sale {first} to {last}, against the {n} months before.",
        "loyalty_months": "Months {first} to {last}; balances at the end of {last}.",
        "delivery": "Delivery performance by carrier", "delivery_help": "On-time rate: shipments delivered on or "
        "before the promised date / shipments delivered. Delivery days: delivered time - shipped time. Exception "
        "rate: shipments with a carrier exception / shipments. Shipments count in the week they were shipped.",
        "carrier": "Carrier", "carrier_code": "Code", "week": "Week", "shipments": "Shipments",
        "delivered": "Delivered", "on_time_rate": "On-time rate", "avg_delivery_days": "Avg delivery days",
        "exceptions": "Exceptions", "exception_rate": "Exception rate", "measure": "Measure",
        "returns": "Returns by reason and category", "returns_help": "Return rate: units returned (accepted "
        "returns) / units sold, both attributed to the month the units were sold in. Refund value: refunds paid for "
        "those returns.",
        "units_sold": "Units sold", "units_returned": "Units returned", "return_rate": "Return rate",
        "refunded_value": "Refund value", "reason": "Reason", "category": "Category", "by_reason": "By reason",
        "by_category": "By category", "top_returned": "Most returned products (top 50)", "sku": "SKU",
        "product_name": "Product", "currency": "Currency",
        "mixed_currency": "The products in view are sold in different currencies; refunds are shown per currency.",
        "support": "Support SLA and satisfaction", "support_help": "Times run from the ticket's creation; a breach "
        "is a response or resolution later than the target for the ticket's priority (or still missing and past "
        "it). CSAT: share of ratings of 4 or 5. Tickets count in the week they were created.",
        "tickets": "Tickets", "responded_tickets": "Responded", "resolved_tickets": "Resolved",
        "first_response_breach_rate": "First-response breach rate",
        "resolution_breach_rate": "Resolution breach rate", "avg_first_response_hours": "Avg first response (h)",
        "avg_resolution_hours": "Avg resolution (h)", "csat_rate": "CSAT", "avg_satisfaction": "Avg rating (1-5)",
        "rated_tickets": "Rated", "priority": "Priority", "ticket_category": "Ticket category",
        "by_priority": "By priority", "by_ticket_category": "By ticket category", "breach_rate": "Breach rate",
        "loyalty": "Loyalty programme", "loyalty_help": "Members and balances by the tier held at the month's end. "
        "Points liability: points issued - redeemed - expired, at the programme's value per point.",
        "tier": "Tier", "month": "Month", "members": "Members", "members_with_points": "Members with points",
        "points_issued": "Points issued", "points_redeemed": "Points redeemed", "points_expired": "Points expired",
        "points_outstanding": "Points outstanding", "points_liability": "Points liability",
        "point_value": "Value per point", "points": "Points", "flow": "Flow"},
    zh={"title": "服务", "weeks_covered": "自 {first} 至 {last} 开始的各周，对比之前的 {n} 周。",
        "months_covered": "销售月份 {first} 至 {last}，对比之前的 {n} 个月。",
        "loyalty_months": "{first} 至 {last} 各月；余额为 {last} 月末数。",
        "delivery": "各承运商配送表现", "delivery_help": "准时率：在承诺日期当天或之前送达的包裹 / 已送达包裹。"
        "配送天数：送达时间 - 发货时间。异常率：出现承运商异常的包裹 / 包裹数。包裹计入发货所在周。",
        "carrier": "承运商", "carrier_code": "代码", "week": "周", "shipments": "包裹数", "delivered": "已送达",
        "on_time_rate": "准时率", "avg_delivery_days": "平均配送天数", "exceptions": "异常数",
        "exception_rate": "异常率", "measure": "指标", "returns": "按原因和品类的退货",
        "returns_help": "退货率：退货件数（已接受的退货）/ 销售件数，二者都归入商品售出的月份。"
        "退款金额：这些退货已支付的退款。",
        "units_sold": "销售件数", "units_returned": "退货件数", "return_rate": "退货率", "refunded_value": "退款金额",
        "reason": "原因", "category": "品类", "by_reason": "按原因", "by_category": "按品类",
        "top_returned": "退货最多的商品（前 50）", "sku": "SKU", "product_name": "商品", "currency": "币种",
        "mixed_currency": "所示商品以不同币种销售；退款按币种分别显示。", "support": "客服时效与满意度",
        "support_help": "时长从工单创建时起算；超时指首次响应或解决晚于该优先级的目标（或尚未完成且已超时）。"
        "CSAT：4 分或 5 分评价的占比。工单计入创建所在周。",
        "tickets": "工单数", "responded_tickets": "已响应", "resolved_tickets": "已解决",
        "first_response_breach_rate": "首次响应超时率", "resolution_breach_rate": "解决超时率",
        "avg_first_response_hours": "平均首次响应（小时）", "avg_resolution_hours": "平均解决（小时）",
        "csat_rate": "CSAT 满意率", "avg_satisfaction": "平均评分（1-5）", "rated_tickets": "已评价",
        "priority": "优先级", "ticket_category": "工单类别", "by_priority": "按优先级",
        "by_ticket_category": "按工单类别", "breach_rate": "超时率", "loyalty": "会员积分计划",
        "loyalty_help": "会员及余额按月末所在等级统计。积分负债：发放 - 兑换 - 过期的积分，按计划每积分价值计算。",
        "tier": "等级", "month": "月份", "members": "会员数", "members_with_points": "有积分的会员",
        "points_issued": "发放积分", "points_redeemed": "兑换积分", "points_expired": "过期积分",
        "points_outstanding": "未兑换积分", "points_liability": "积分负债", "point_value": "每积分价值",
        "points": "积分", "flow": "变动"},
)

DELIVERY = data.Columns(merchant=None)
# returns_analysis has no merchant column: its product's merchant (dim_products) scopes it
RETURNS = data.Columns(merchant="p.merchant_id", category="p.category")
SUPPORT = data.Columns(merchant=None)  # the mart's category is the ticket's, not a product category
LOYALTY = data.Columns(merchant=None)

Span = tuple[date, date]  # first and last week (month) start covered


def weeks(f: data.Filters) -> tuple[Span, Span]:
    """The weeks (Monday starts) the range touches, and as many weeks just before."""
    first, last = f.start - timedelta(days=f.start.weekday()), f.end - timedelta(days=f.end.weekday())
    n = (last - first).days // 7 + 1
    return (first, last), (first - timedelta(days=7 * n), first - timedelta(days=7))


def _month_add(month: date, k: int) -> date:
    index = month.year * 12 + month.month - 1 + k
    return date(index // 12, index % 12 + 1, 1)


def months(f: data.Filters) -> tuple[Span, Span]:
    """The months the range touches, and as many months just before."""
    first, last = f.start.replace(day=1), f.end.replace(day=1)
    n = (last.year - first.year) * 12 + last.month - first.month + 1
    return (first, last), (_month_add(first, -n), _month_add(first, -1))


def _where(columns: data.Columns, f: data.Filters, column: str, span: Span) -> tuple[str, list[Any]]:
    """``scoped`` (the user's merchant and the filters that apply) plus the weeks or months covered."""
    return data.scoped(columns, f, extra=[f"{column} BETWEEN ? AND ?"], extra_params=[span[0], span[1]])


def _span_caption(key: str, span: Span) -> None:
    """Which weeks (months) the figures cover; the comparison is with as many just before."""
    if key == "months_covered":
        n = (span[1].year - span[0].year) * 12 + span[1].month - span[0].month + 1
    else:
        n = (span[1] - span[0]).days // 7 + 1
    label = i18n.month if key == "months_covered" else i18n.day
    st.caption(T(key, first=label(span[0]), last=label(span[1]), n=n))


# --- delivery --------------------------------------------------------------------------------------------------

DELIVERY_FIGURES = (
    "sum(shipments)::BIGINT AS shipments, sum(delivered)::BIGINT AS delivered, "
    "sum(delivered_on_time)::DOUBLE / nullif(sum(delivered), 0) AS on_time_rate, "
    # the weekly means weighted by the shipments they are over (delivered ones)
    "sum(avg_delivery_days * delivered) FILTER (WHERE avg_delivery_days IS NOT NULL) "
    "/ nullif(sum(delivered) FILTER (WHERE avg_delivery_days IS NOT NULL), 0) AS avg_delivery_days, "
    "sum(exceptions)::BIGINT AS exceptions, "
    "sum(shipments_with_exception)::DOUBLE / nullif(sum(shipments), 0) AS exception_rate")


def delivery(f: data.Filters, span: Span, by: str = "") -> pd.DataFrame:
    """Delivery figures over the weeks, per ``by`` ('carrier', 'carrier_week' or '' for the total)."""
    where, params = _where(DELIVERY, f, "week_start", span)
    group = {"carrier": "carrier_name, carrier_code", "carrier_week": "carrier_name, week_start"}.get(by, "")
    select = f"{group}, " if group else ""
    tail = f"GROUP BY {group} ORDER BY {group}" if group else ""
    return data.fetch(f"SELECT {select}{DELIVERY_FIGURES} FROM marts.delivery_performance {where} {tail}",
                      params, needs=["marts.delivery_performance"])


def _delivery(f: data.Filters) -> None:
    st.subheader(T("delivery"), help=T("delivery_help"))
    span, previous = weeks(f)
    now = delivery(f, span).iloc[0]
    ui.ignored_filters(DELIVERY, f)
    _span_caption("weeks_covered", span)
    if pd.isna(now["shipments"]) or not now["shipments"]:
        st.caption(i18n.COMMON("no_rows"))
        return
    before = delivery(f, previous).iloc[0]
    row = st.columns(4)
    ui.kpi(row[0], T("shipments"), now["shipments"], before["shipments"], i18n.number)
    ui.kpi(row[1], T("on_time_rate"), now["on_time_rate"], before["on_time_rate"], i18n.percent)
    ui.kpi(row[2], T("avg_delivery_days"), now["avg_delivery_days"], before["avg_delivery_days"],
           lambda v: i18n.number(v, 1), lower_is_better=True)
    ui.kpi(row[3], T("exception_rate"), now["exception_rate"], before["exception_rate"], i18n.percent,
           lower_is_better=True)
    weekly = delivery(f, span, "carrier_week")
    long = weekly.melt(id_vars=["carrier_name", "week_start"], value_vars=["on_time_rate", "exception_rate"],
                       var_name="key", value_name="rate")
    long["measure"] = long["key"].map(T)
    ui.chart(alt.Chart(long).mark_line(point=True).encode(
        x=alt.X("week_start:T", title=T("week")), y=alt.Y("rate:Q", title=None, axis=alt.Axis(format="%")),
        color=alt.Color("carrier_name:N", title=T("carrier")),
        strokeDash=alt.StrokeDash("measure:N", title=T("measure")),
        tooltip=[alt.Tooltip("carrier_name:N", title=T("carrier")), alt.Tooltip("week_start:T", title=T("week")),
                 alt.Tooltip("measure:N", title=T("measure")), alt.Tooltip("rate:Q", format=".1%")]))
    carriers = delivery(f, span, "carrier")
    ui.table(carriers, "delivery_by_carrier", column_config={
        "carrier_name": st.column_config.TextColumn(T("carrier")),
        "carrier_code": st.column_config.TextColumn(T("carrier_code")),
        "shipments": ui.number(T("shipments"), "%d"), "delivered": ui.number(T("delivered"), "%d"),
        "on_time_rate": ui.number(T("on_time_rate"), "percent"),
        "avg_delivery_days": ui.number(T("avg_delivery_days"), "%.2f"),
        "exceptions": ui.number(T("exceptions"), "%d"), "exception_rate": ui.number(T("exception_rate"), "percent")})


# --- returns ---------------------------------------------------------------------------------------------------

def _returns_scope(f: data.Filters, span: Span) -> tuple[str, list[Any]]:
    """CTEs: the mart's rows in scope (r) and units sold once per month and product (sold; the mart
    repeats them on every reason row)."""
    where, params = _where(RETURNS, f, "r.month_start", span)
    ctes = ("WITH r AS (SELECT r.month_start, r.product_id, p.sku, p.product_name, p.category, r.reason, "
            "r.units_sold, r.units_returned, r.refunded_value, p.currency FROM marts.returns_analysis r "
            f"JOIN marts.dim_products p ON p.product_id = r.product_id {where}), "
            "sold AS (SELECT DISTINCT month_start, product_id, sku, product_name, category, units_sold FROM r) ")
    return ctes, params


RETURNS_NEEDS = ["marts.returns_analysis", "marts.dim_products"]


def returns_total(f: data.Filters, span: Span) -> pd.Series:
    ctes, params = _returns_scope(f, span)
    return data.fetch(
        ctes + "SELECT (SELECT sum(units_sold) FROM sold)::BIGINT AS units_sold, "
        "sum(units_returned)::BIGINT AS units_returned, "
        "sum(units_returned)::DOUBLE / nullif((SELECT sum(units_sold) FROM sold), 0) AS return_rate, "
        "sum(refunded_value)::DOUBLE AS refunded_value, count(DISTINCT currency) AS currencies, "
        "min(currency) AS currency FROM r", params, needs=RETURNS_NEEDS).iloc[0]


def returns_by(f: data.Filters, span: Span, by: str) -> pd.DataFrame:
    """Returns per reason, per category, or per product (top 50 by units returned)."""
    ctes, params = _returns_scope(f, span)
    if by == "reason":
        sql = ("SELECT reason, sum(units_returned)::BIGINT AS units_returned, "
               "sum(units_returned)::DOUBLE / nullif((SELECT sum(units_sold) FROM sold), 0) AS return_rate, "
               "sum(refunded_value)::DOUBLE AS refunded_value, currency FROM r GROUP BY reason, currency "
               "ORDER BY units_returned DESC, reason")
    else:
        keys = "category" if by == "category" else "sku, product_name, category"
        sql = (f"SELECT {keys}, s.units_sold, x.units_returned, x.units_returned::DOUBLE / nullif(s.units_sold, 0) "
               "AS return_rate, x.refunded_value, x.currency "
               f"FROM (SELECT {keys}, sum(units_sold)::BIGINT AS units_sold FROM sold GROUP BY {keys}) s "
               f"JOIN (SELECT {keys}, currency, sum(units_returned)::BIGINT AS units_returned, "
               f"sum(refunded_value)::DOUBLE AS refunded_value FROM r GROUP BY {keys}, currency) x USING ({keys}) ")
        sql += ("ORDER BY return_rate DESC NULLS LAST, category" if by == "category"
                else "WHERE x.units_returned > 0 ORDER BY x.units_returned DESC, return_rate DESC, sku LIMIT 50")
    return data.fetch(ctes + sql, params, needs=RETURNS_NEEDS)


def _returns(f: data.Filters) -> None:
    st.subheader(T("returns"), help=T("returns_help"))
    span, previous = months(f)
    now = returns_total(f, span)
    ui.ignored_filters(RETURNS, f)
    _span_caption("months_covered", span)
    if pd.isna(now["units_sold"]) or not now["units_sold"]:
        st.caption(i18n.COMMON("no_rows"))
        return
    before = returns_total(f, previous)
    currency = now["currency"] if now["currencies"] == 1 else None
    row = st.columns(4)
    ui.kpi(row[0], T("units_sold"), now["units_sold"], before["units_sold"], i18n.number)
    ui.kpi(row[1], T("units_returned"), now["units_returned"], before["units_returned"], i18n.number,
           lower_is_better=True)
    ui.kpi(row[2], T("return_rate"), now["return_rate"], before["return_rate"], i18n.percent, lower_is_better=True)
    if currency is None:
        st.warning(T("mixed_currency"))
    else:
        ui.kpi(row[3], T("refunded_value"), now["refunded_value"], before["refunded_value"],
               lambda v: i18n.money(v, currency), lower_is_better=True)
    money_format = ui.money_format(currency)
    common = {"reason": st.column_config.TextColumn(T("reason")), "sku": st.column_config.TextColumn(T("sku")),
              "product_name": st.column_config.TextColumn(T("product_name")),
              "category": st.column_config.TextColumn(T("category")), "units_sold": ui.number(T("units_sold"), "%d"),
              "units_returned": ui.number(T("units_returned"), "%d"),
              "return_rate": ui.number(T("return_rate"), "percent"),
              "refunded_value": ui.number(T("refunded_value"), money_format),
              "currency": st.column_config.TextColumn(T("currency"))}
    left, right = st.columns(2)
    for column, by in ((left, "reason"), (right, "category")):
        frame = returns_by(f, span, by)
        with column:
            st.markdown(f"**{T('by_' + by)}**")
            ui.chart(alt.Chart(frame).mark_bar().encode(
                y=alt.Y(f"{by}:N", title=T(by), sort="-x"),
                x=alt.X("return_rate:Q", title=T("return_rate"), axis=alt.Axis(format="%")),
                tooltip=[alt.Tooltip(f"{by}:N", title=T(by)),
                         alt.Tooltip("units_returned:Q", title=T("units_returned")),
                         alt.Tooltip("return_rate:Q", format=".1%", title=T("return_rate")),
                         alt.Tooltip("refunded_value:Q", format=",.2f", title=T("refunded_value"))]))
            ui.table(frame, f"returns_by_{by}", column_config=common)
    st.markdown(f"**{T('top_returned')}**")
    ui.table(returns_by(f, span, "product"), "most_returned_products", column_config=common)


# --- support ---------------------------------------------------------------------------------------------------

SUPPORT_FIGURES = (
    "sum(tickets)::BIGINT AS tickets, sum(responded_tickets)::BIGINT AS responded_tickets, "
    "sum(resolved_tickets)::BIGINT AS resolved_tickets, "
    "sum(first_response_breaches)::DOUBLE / nullif(sum(tickets), 0) AS first_response_breach_rate, "
    "sum(resolution_breaches)::DOUBLE / nullif(sum(tickets), 0) AS resolution_breach_rate, "
    # the mart's means are over responded / resolved / rated tickets: weight them by those counts
    "sum(avg_first_response_hours * responded_tickets) / nullif(sum(responded_tickets) "
    "FILTER (WHERE avg_first_response_hours IS NOT NULL), 0) AS avg_first_response_hours, "
    "sum(avg_resolution_hours * resolved_tickets) / nullif(sum(resolved_tickets) "
    "FILTER (WHERE avg_resolution_hours IS NOT NULL), 0) AS avg_resolution_hours, "
    "sum(rated_tickets)::BIGINT AS rated_tickets, "
    "sum(csat_rate * rated_tickets) / nullif(sum(rated_tickets), 0) AS csat_rate, "
    "sum(avg_satisfaction * rated_tickets) / nullif(sum(rated_tickets), 0) AS avg_satisfaction")


def support(f: data.Filters, span: Span, by: str = "") -> pd.DataFrame:
    """Ticket figures over the weeks, per ``by`` ('priority', 'category', 'week' or '' for the total)."""
    where, params = _where(SUPPORT, f, "week_start", span)
    group = {"priority": "priority", "category": "category AS ticket_category", "week": "week_start"}.get(by, "")
    select = f"{group}, " if group else ""
    key = group.split(" AS ")[-1]
    tail = f"GROUP BY {key} ORDER BY {'tickets DESC, ' if by != 'week' else ''}{key}" if group else ""
    return data.fetch(f"SELECT {select}{SUPPORT_FIGURES} FROM marts.support_sla {where} {tail}", params,
                      needs=["marts.support_sla"])


def _support(f: data.Filters) -> None:
    st.subheader(T("support"), help=T("support_help"))
    span, previous = weeks(f)
    now = support(f, span).iloc[0]
    ui.ignored_filters(SUPPORT, f)
    _span_caption("weeks_covered", span)
    if pd.isna(now["tickets"]) or not now["tickets"]:
        st.caption(i18n.COMMON("no_rows"))
        return
    before = support(f, previous).iloc[0]
    hours = lambda v: i18n.number(v, 1)  # noqa: E731
    row = st.columns(3)
    ui.kpi(row[0], T("tickets"), now["tickets"], before["tickets"], i18n.number, lower_is_better=True)
    ui.kpi(row[1], T("first_response_breach_rate"), now["first_response_breach_rate"],
           before["first_response_breach_rate"], i18n.percent, lower_is_better=True)
    ui.kpi(row[2], T("resolution_breach_rate"), now["resolution_breach_rate"], before["resolution_breach_rate"],
           i18n.percent, lower_is_better=True)
    row = st.columns(3)
    ui.kpi(row[0], T("avg_first_response_hours"), now["avg_first_response_hours"],
           before["avg_first_response_hours"], hours, lower_is_better=True)
    ui.kpi(row[1], T("avg_resolution_hours"), now["avg_resolution_hours"], before["avg_resolution_hours"], hours,
           lower_is_better=True)
    ui.kpi(row[2], T("csat_rate"), now["csat_rate"], before["csat_rate"], i18n.percent)
    weekly = support(f, span, "week")
    long = weekly.melt(id_vars=["week_start"], value_vars=["first_response_breach_rate", "resolution_breach_rate"],
                       var_name="key", value_name="rate")
    long["measure"] = long["key"].map(T)
    lines = alt.Chart(long).mark_line(point=True).encode(
        x=alt.X("week_start:T", title=T("week")), y=alt.Y("rate:Q", title=T("breach_rate"), axis=alt.Axis(format="%")),
        color=alt.Color("measure:N", title=T("measure")),
        tooltip=[alt.Tooltip("week_start:T", title=T("week")), alt.Tooltip("measure:N", title=T("measure")),
                 alt.Tooltip("rate:Q", format=".1%", title=T("breach_rate"))])
    bars = alt.Chart(weekly).mark_bar(opacity=0.25).encode(
        x=alt.X("week_start:T", title=T("week")), y=alt.Y("tickets:Q", title=T("tickets")),
        tooltip=[alt.Tooltip("week_start:T", title=T("week")), alt.Tooltip("tickets:Q", title=T("tickets"))])
    ui.chart(alt.layer(bars, lines).resolve_scale(y="independent"))
    config = {"priority": st.column_config.TextColumn(T("priority")),
              "ticket_category": st.column_config.TextColumn(T("ticket_category")),
              "tickets": ui.number(T("tickets"), "%d"), "responded_tickets": ui.number(T("responded_tickets"), "%d"),
              "resolved_tickets": ui.number(T("resolved_tickets"), "%d"),
              "rated_tickets": ui.number(T("rated_tickets"), "%d"),
              "first_response_breach_rate": ui.number(T("first_response_breach_rate"), "percent"),
              "resolution_breach_rate": ui.number(T("resolution_breach_rate"), "percent"),
              "avg_first_response_hours": ui.number(T("avg_first_response_hours"), "%.1f"),
              "avg_resolution_hours": ui.number(T("avg_resolution_hours"), "%.1f"),
              "csat_rate": ui.number(T("csat_rate"), "percent"),
              "avg_satisfaction": ui.number(T("avg_satisfaction"), "%.2f")}
    left, right = st.columns(2)
    for column, by, name in ((left, "priority", "by_priority"), (right, "category", "by_ticket_category")):
        with column:
            st.markdown(f"**{T(name)}**")
            ui.table(support(f, span, by), f"support_{name}", column_config=config)


# --- loyalty ---------------------------------------------------------------------------------------------------

def loyalty(f: data.Filters, span: Span) -> pd.DataFrame:
    where, params = _where(LOYALTY, f, "month_start", span)
    return data.fetch(
        "SELECT month_start, tier, members, members_with_points, points_issued, points_redeemed, points_expired, "
        "points_outstanding, point_value::DOUBLE AS point_value, points_liability::DOUBLE AS points_liability "
        f"FROM marts.loyalty_summary {where} ORDER BY month_start DESC, tier LIMIT 500", params,
        needs=["marts.loyalty_summary"])


def _shop_currency() -> str | None:
    """The programme's points are in the shop's currency: the merchants' one currency, if they share one."""
    where, params = data.scoped(data.Columns(), None)
    codes = data.fetch(f"SELECT DISTINCT currency FROM marts.dim_merchants {where}", params,
                       needs=["marts.dim_merchants"])["currency"].dropna().tolist()
    return codes[0] if len(codes) == 1 else None


def _loyalty_totals(frame: pd.DataFrame) -> dict[str, float | None]:
    if frame.empty:
        return dict.fromkeys(("members", "points_outstanding", "points_liability", "points_issued",
                              "points_redeemed", "points_expired"))
    last = frame[frame["month_start"] == frame["month_start"].max()]
    return {"members": float(last["members"].sum()), "points_outstanding": float(last["points_outstanding"].sum()),
            "points_liability": float(last["points_liability"].sum()),
            "points_issued": float(frame["points_issued"].sum()),
            "points_redeemed": float(frame["points_redeemed"].sum()),
            "points_expired": float(frame["points_expired"].sum())}


def _loyalty(f: data.Filters) -> None:
    st.subheader(T("loyalty"), help=T("loyalty_help"))
    span, previous = months(f)
    frame = loyalty(f, span)
    ui.ignored_filters(LOYALTY, f)
    if frame.empty:
        st.caption(i18n.COMMON("no_rows"))
        return
    last = pd.Timestamp(frame["month_start"].max()).date()
    first = pd.Timestamp(frame["month_start"].min()).date()
    st.caption(T("loyalty_months", first=i18n.month(first), last=i18n.month(last)))
    now, before = _loyalty_totals(frame), _loyalty_totals(loyalty(f, previous))
    currency = _shop_currency()
    row = st.columns(3)
    ui.kpi(row[0], T("members"), now["members"], before["members"], i18n.number)
    ui.kpi(row[1], T("points_outstanding"), now["points_outstanding"], before["points_outstanding"], i18n.number)
    ui.kpi(row[2], T("points_liability"), now["points_liability"], before["points_liability"],
           lambda v: i18n.money(v, currency), lower_is_better=True)
    row = st.columns(3)
    ui.kpi(row[0], T("points_issued"), now["points_issued"], before["points_issued"], i18n.number)
    ui.kpi(row[1], T("points_redeemed"), now["points_redeemed"], before["points_redeemed"], i18n.number)
    ui.kpi(row[2], T("points_expired"), now["points_expired"], before["points_expired"], i18n.number,
           lower_is_better=True)
    flows = frame.groupby("month_start", as_index=False)[["points_issued", "points_redeemed", "points_expired"]].sum()
    long = flows.melt(id_vars=["month_start"], var_name="key", value_name="points")
    long["flow"] = long["key"].map(T)
    left, right = st.columns(2)
    with left:
        ui.chart(alt.Chart(long).mark_bar().encode(
            x=alt.X("yearmonth(month_start):O", title=T("month")), xOffset=alt.XOffset("flow:N"),
            y=alt.Y("points:Q", title=T("points")), color=alt.Color("flow:N", title=T("flow")),
            tooltip=[alt.Tooltip("yearmonth(month_start):T", title=T("month")),
                     alt.Tooltip("flow:N", title=T("flow")), alt.Tooltip("points:Q", format=",", title=T("points"))]))
    with right:
        ui.chart(alt.Chart(frame).mark_bar().encode(
            x=alt.X("yearmonth(month_start):O", title=T("month")),
            y=alt.Y("points_liability:Q", title=T("points_liability")), color=alt.Color("tier:N", title=T("tier")),
            tooltip=[alt.Tooltip("yearmonth(month_start):T", title=T("month")), alt.Tooltip("tier:N", title=T("tier")),
                     alt.Tooltip("points_liability:Q", format=",.2f", title=T("points_liability"))]))
    money_format = ui.money_format(currency)
    ui.table(frame, "loyalty_by_month_and_tier", column_config={
        "month_start": st.column_config.DateColumn(T("month")), "tier": st.column_config.TextColumn(T("tier")),
        "members": ui.number(T("members"), "%d"), "members_with_points": ui.number(T("members_with_points"), "%d"),
        "points_issued": ui.number(T("points_issued"), "%d"), "points_redeemed": ui.number(T("points_redeemed"), "%d"),
        "points_expired": ui.number(T("points_expired"), "%d"),
        "points_outstanding": ui.number(T("points_outstanding"), "%d"),
        "point_value": ui.number(T("point_value"), money_format.replace("%.2f", "%.4f")),
        "points_liability": ui.number(T("points_liability"), money_format)})


def render() -> None:
    st.title(T("title"))
    with ui.friendly():
        f = filters.current()
        ui.section(lambda: _delivery(f))
        ui.section(lambda: _returns(f))
        ui.section(lambda: _support(f))
        ui.section(lambda: _loyalty(f))


render()
