"""Sales: best sellers and slow movers of the period (by net revenue or by units, with growth
against the previous period of the same length), weekly net revenue by category, channel and
region, and products that hold stock but sold nothing in the period.

Rankings are computed here from fct_daily_sales (not product_performance, whose periods are fixed
ISO weeks and calendar months, so the date filter could not apply). Net revenue is METRICS' (refunds
on the day paid). The customer's region is not in fct_daily_sales: with a region filter, and for the
chart by region, figures come from fct_order_lines joined to dim_customers, where a line's refunds
count with its order (the page says so)."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import data, filters, i18n, sales_source, ui
from dashboards.i18n import Texts

T = Texts(
    en={"title": "Sales", "net_revenue": "Net revenue", "units": "Units sold", "products_sold": "Products sold",
        "stock_no_sales": "Products with stock, no sales", "rank_by": "Rank by", "by_revenue": "Net revenue",
        "by_units": "Units", "show_top": "Rows per list", "best_sellers": "Best sellers",
        "slow_movers": "Slow movers",
        "slow_help": "Products that sold in the period, lowest first. Products that sold nothing are listed "
                     "under “Stock without sales”.",
        "best_chart": "Top 10 by {measure}", "rank": "#", "sku": "SKU", "product": "Product",
        "category": "Category", "merchant": "Merchant", "prev_units": "Units (previous period)",
        "prev_net_revenue": "Net revenue (previous period)", "units_growth": "Units growth",
        "revenue_growth": "Net revenue growth",
        "growth_help": "Growth = period / previous period of the same length ({start} – {end}) - 1; "
                       "empty when the previous period had nothing.",
        "trends": "Weekly trends", "by_category": "By category", "by_channel": "By channel",
        "by_region": "By region", "week": "Week (from Monday)", "channel": "Channel", "region": "Region",
        "value": "Value", "orders": "Orders",
        "weeks_partial": "Weeks start on Monday; the first and last week are cut to the date range.",
        "region_note": "By region: net revenue of the order lines of customers in each region, with a line's "
                       "refunds counted in the week of its order (the customer's region is not kept with "
                       "refunds by the day paid).",
        "region_filter_note": "A region filter is set: figures come from the order lines of customers in those "
                              "regions, with refunds counted with their order rather than on the day paid.",
        "unknown": "unknown",
        "stock_title": "Stock without sales",
        "stock_help": "On hand at the end of the period ({day}) above zero and no unit sold in the period.",
        "on_hand": "On hand at period end", "stock_value": "Stock value at period end", "last_sold": "Last sold",
        "days_since": "Days since last sale", "never": "never",
        "shown_of": "Showing {shown} of {total} products.",
        "mixed_currency": "The merchants in view use different currencies; money is shown without a currency "
                          "and summed across them: pick one merchant for meaningful totals."},
    zh={"title": "销售", "net_revenue": "净收入", "units": "销量", "products_sold": "有销售的商品数",
        "stock_no_sales": "有库存无销售的商品", "rank_by": "排序依据", "by_revenue": "净收入", "by_units": "销量",
        "show_top": "每个列表行数", "best_sellers": "畅销商品", "slow_movers": "滞销商品",
        "slow_help": "本期有销售的商品，从最低开始排列。本期无任何销售的商品列在“有库存无销售”中。",
        "best_chart": "按{measure}排名前 10", "rank": "#", "sku": "SKU", "product": "商品", "category": "品类",
        "merchant": "商户", "prev_units": "销量（上期）", "prev_net_revenue": "净收入（上期）",
        "units_growth": "销量增长", "revenue_growth": "净收入增长",
        "growth_help": "增长 = 本期 / 相同长度的上期（{start} – {end}）- 1；上期为零时留空。",
        "trends": "每周趋势", "by_category": "按品类", "by_channel": "按渠道", "by_region": "按地区",
        "week": "周（周一开始）", "channel": "渠道", "region": "地区", "value": "值", "orders": "订单数",
        "weeks_partial": "每周从周一开始；第一周和最后一周按日期范围截断。",
        "region_note": "按地区：各地区客户订单行的净收入，订单行的退款计入其下单所在的周"
                       "（按支付日统计的退款不保留客户地区）。",
        "region_filter_note": "已设置地区筛选：数据来自这些地区客户的订单行，退款计入其订单而非支付日。",
        "unknown": "未知",
        "stock_title": "有库存无销售",
        "stock_help": "期末（{day}）在手库存大于零且本期没有售出任何一件。",
        "on_hand": "期末在手库存", "stock_value": "期末库存价值", "last_sold": "最近售出",
        "days_since": "距最近售出天数", "never": "从未",
        "shown_of": "显示 {shown} / {total} 个商品。",
        "mixed_currency": "所选商户使用不同币种；金额不带币种显示并跨币种相加：请选择一个商户以查看有意义的合计。"},
)

TOP_CHOICES = (10, 20, 50)
STOCK_LIMIT = 100
RANKINGS = {  # whitelisted ORDER BY clauses, never user text
    "net_revenue": ("net_revenue DESC, units DESC, product_id", "net_revenue ASC, units ASC, product_id"),
    "units": ("units DESC, net_revenue DESC, product_id", "units ASC, net_revenue ASC, product_id"),
}


STOCK = data.Columns(merchant="p.merchant_id", category="p.category")


def _where(source: sales_source.Source, f: data.Filters, *conditions: tuple[str, list[Any]]) -> tuple[str, list[Any]]:
    """scoped() over the source with our own conditions (and their parameters)."""
    return data.scoped(source.columns, f, extra=[c for c, _ in conditions] + list(source.extra),
                       extra_params=[p for _, values in conditions for p in values])


# --- best sellers / slow movers ---------------------------------------------------------------------

def _per_product(f: data.Filters) -> tuple[str, list[Any], tuple[str, ...]]:
    """SQL of a CTE ``sold``: units and net revenue per product in the period and the previous one."""
    source, before = sales_source.for_filters(f), f.previous()
    where, params = _where(source, f, (f"{source.day} BETWEEN ? AND ?", [before.start, f.end]))
    sql = (f"sold AS (SELECT p.product_id, "
           f"coalesce(sum(s.units) FILTER (WHERE {source.day} >= ?), 0) AS units, "
           f"coalesce(sum(s.net_revenue) FILTER (WHERE {source.day} >= ?), 0) AS net_revenue, "
           f"coalesce(sum(s.units) FILTER (WHERE {source.day} < ?), 0) AS prev_units, "
           f"coalesce(sum(s.net_revenue) FILTER (WHERE {source.day} < ?), 0) AS prev_net_revenue "
           f"FROM {source.relation} {where} GROUP BY 1)")
    return sql, [f.start] * 4 + params, source.needs


def _totals(f: data.Filters) -> pd.Series:
    cte, params, needs = _per_product(f)
    return data.fetch(
        f"WITH {cte} SELECT sum(units) AS units, sum(net_revenue)::DOUBLE AS net_revenue, "
        "sum(prev_units) AS prev_units, sum(prev_net_revenue)::DOUBLE AS prev_net_revenue, "
        "count(*) FILTER (WHERE units > 0) AS products_sold, "
        "count(*) FILTER (WHERE prev_units > 0) AS prev_products_sold FROM sold",
        params, needs=needs).iloc[0]


def _ranking(f: data.Filters, by: str, best: bool, limit: int) -> pd.DataFrame:
    cte, params, needs = _per_product(f)
    order = RANKINGS[by][0 if best else 1]
    return data.fetch(
        f"WITH {cte}, ranked AS (SELECT row_number() OVER (ORDER BY {order}) AS rank, * FROM sold "
        "WHERE units > 0) "
        "SELECT r.rank, p.sku, p.product_name, p.category, m.merchant_code, r.units, "
        "r.net_revenue::DOUBLE AS net_revenue, r.prev_units, r.prev_net_revenue::DOUBLE AS prev_net_revenue, "
        "CASE WHEN r.prev_units > 0 THEN r.units / r.prev_units - 1 END AS units_growth, "
        "CASE WHEN r.prev_net_revenue > 0 THEN r.net_revenue::DOUBLE / r.prev_net_revenue::DOUBLE - 1 END "
        "AS revenue_growth "
        "FROM ranked r JOIN marts.dim_products p ON p.product_id = r.product_id "
        "JOIN marts.dim_merchants m ON m.merchant_id = p.merchant_id "
        "ORDER BY r.rank LIMIT ?",
        params + [limit], needs=[*needs, "marts.dim_merchants"])


def _ranking_config(currency: str | None) -> dict[str, Any]:
    money = "%.2f"
    return {
        "rank": st.column_config.NumberColumn(T("rank"), format="%d"),
        "sku": st.column_config.TextColumn(T("sku")),
        "product_name": st.column_config.TextColumn(T("product")),
        "category": st.column_config.TextColumn(T("category")),
        "merchant_code": st.column_config.TextColumn(T("merchant")),
        "units": st.column_config.NumberColumn(T("units"), format="%d"),
        "net_revenue": st.column_config.NumberColumn(ui.money_label(T("net_revenue"), currency), format=money),
        "prev_units": st.column_config.NumberColumn(T("prev_units"), format="%d"),
        "prev_net_revenue": st.column_config.NumberColumn(ui.money_label(T("prev_net_revenue"), currency),
                                                          format=money),
        "units_growth": st.column_config.NumberColumn(T("units_growth"), format="percent"),
        "revenue_growth": st.column_config.NumberColumn(T("revenue_growth"), format="percent"),
    }


def _headlines(f: data.Filters, currency: str | None) -> None:
    now = _totals(f)
    stock_total = before_total = None  # without inventory_daily the stock section says what to build
    if data.has("marts.inventory_daily"):
        stock = _stock_without_sales(f, STOCK_LIMIT)  # the same query as the section below (cached)
        stock_total = int(stock["total"].iloc[0]) if len(stock) else 0
        before_stock = _stock_without_sales(f.previous(), STOCK_LIMIT)
        before_total = int(before_stock["total"].iloc[0]) if len(before_stock) else 0
    st.caption(i18n.COMMON("previous_period", days=f.days))
    row = st.columns(4)
    ui.kpi(row[0], T("net_revenue"), now["net_revenue"], now["prev_net_revenue"], lambda v: i18n.money(v, currency))
    ui.kpi(row[1], T("units"), now["units"], now["prev_units"], i18n.number)
    ui.kpi(row[2], T("products_sold"), now["products_sold"], now["prev_products_sold"], i18n.number)
    ui.kpi(row[3], T("stock_no_sales"), stock_total, before_total, i18n.number, lower_is_better=True)


def _rankings(f: data.Filters, currency: str | None) -> None:
    controls = st.columns([2, 1])
    by = controls[0].radio(T("rank_by"), list(RANKINGS), key="sales_rank_by", horizontal=True,
                           format_func=lambda k: T("by_revenue" if k == "net_revenue" else "by_units"))
    limit = controls[1].selectbox(T("show_top"), TOP_CHOICES, index=1, key="sales_top_n")
    measure = "net_revenue" if by == "net_revenue" else "units"
    before = f.previous()
    help_text = T("growth_help", start=i18n.day(before.start), end=i18n.day(before.end))
    config = _ranking_config(currency)

    st.subheader(T("best_sellers"), help=help_text)
    best = _ranking(f, by, True, int(limit))
    if not best.empty:
        top = best.head(10)
        ui.chart(alt.Chart(top).mark_bar().encode(
            x=alt.X(f"{measure}:Q", title=T(measure if measure == "net_revenue" else "units")),
            y=alt.Y("product_name:N", sort="-x", title=T("product")),
            color=alt.Color("category:N", title=T("category")),
            tooltip=[alt.Tooltip("sku:N", title=T("sku")), alt.Tooltip("product_name:N", title=T("product")),
                     alt.Tooltip("units:Q", title=T("units"), format=",d"),
                     alt.Tooltip("net_revenue:Q", title=T("net_revenue"), format=",.2f"),
                     alt.Tooltip("revenue_growth:Q", title=T("revenue_growth"), format="+.1%")],
        ).properties(title=T("best_chart", measure=T("by_revenue" if by == "net_revenue" else "by_units")),
                     height=max(160, 28 * len(top))))
    ui.table(best, f"best_sellers_{by}", column_config=config)

    st.subheader(T("slow_movers"), help=T("slow_help"))
    ui.table(_ranking(f, by, False, int(limit)), f"slow_movers_{by}", column_config=config)


# --- weekly trends ----------------------------------------------------------------------------------

def _weekly(f: data.Filters, dimension: str) -> pd.DataFrame:
    source = sales_source.LINES if dimension == "region" else sales_source.for_filters(f)
    value = {"category": "p.category", "channel": "s.channel", "region": "c.region"}[dimension]
    where, params = _where(source, f, (f"{source.day} BETWEEN ? AND ?", [f.start, f.end]))
    frame = data.fetch(
        f"SELECT date_trunc('week', {source.day})::DATE AS week, {value} AS value, "
        "sum(s.net_revenue)::DOUBLE AS net_revenue, sum(s.units) AS units "
        f"FROM {source.relation} {where} GROUP BY ALL ORDER BY 1, 2", params, needs=source.needs)
    frame["value"] = frame["value"].fillna(T("unknown"))
    return frame


def _trend(f: data.Filters, dimension: str, currency: str | None) -> None:
    frame = _weekly(f, dimension)
    if frame.empty:
        st.caption(i18n.COMMON("no_rows"))
        return
    if dimension == "region":
        st.caption(T("region_note"))
    label = T(dimension)
    ui.chart(alt.Chart(frame).mark_line(point=True).encode(
        x=alt.X("week:T", title=T("week")),
        y=alt.Y("net_revenue:Q", title=ui.money_label(T("net_revenue"), currency)),
        color=alt.Color("value:N", title=label),
        tooltip=[alt.Tooltip("week:T", title=T("week")), alt.Tooltip("value:N", title=label),
                 alt.Tooltip("net_revenue:Q", title=T("net_revenue"), format=",.2f"),
                 alt.Tooltip("units:Q", title=T("units"), format=",d")]))
    ui.table(frame, f"weekly_net_revenue_by_{dimension}", column_config={
        "week": st.column_config.DateColumn(T("week")),
        "value": st.column_config.TextColumn(label),
        "net_revenue": st.column_config.NumberColumn(ui.money_label(T("net_revenue"), currency), format="%.2f"),
        "units": st.column_config.NumberColumn(T("units"), format="%d")})


def _trends(f: data.Filters, currency: str | None) -> None:
    st.subheader(T("trends"))
    st.caption(T("weeks_partial"))
    tabs = st.tabs([T("by_category"), T("by_channel"), T("by_region")])
    for tab, dimension in zip(tabs, ("category", "channel", "region"), strict=True):
        with tab:
            ui.section(lambda d=dimension: _trend(f, d, currency))


# --- stock without sales ----------------------------------------------------------------------------

def _stock_without_sales(f: data.Filters, limit: int) -> pd.DataFrame:
    """Products on hand at the period's end (their latest inventory_daily row on or before it) that
    sold no unit in the period; ``total`` and ``total_value`` count all of them, before the LIMIT."""
    where_stock, params_stock = data.scoped(STOCK, f, extra=["i.day <= ?"], extra_params=[f.end])
    source = sales_source.for_filters(f)
    where_sold, params_sold = _where(source, f, (f"{source.day} <= ?", [f.end]))
    return data.fetch(
        "WITH positions AS (SELECT i.product_id, i.warehouse_id, arg_max(i.on_hand, i.day) AS on_hand, "
        "arg_max(i.stock_value, i.day) AS stock_value FROM marts.inventory_daily i "
        f"JOIN marts.dim_products p ON p.product_id = i.product_id {where_stock} GROUP BY ALL), "
        "stock AS (SELECT product_id, sum(on_hand) AS on_hand, sum(stock_value) AS stock_value FROM positions "
        "GROUP BY 1 HAVING sum(on_hand) > 0), "
        f"sold AS (SELECT p.product_id, coalesce(sum(s.units) FILTER (WHERE {source.day} >= ?), 0) AS units, "
        f"max({source.day}) FILTER (WHERE s.units > 0) AS last_sold FROM {source.relation} {where_sold} "
        "GROUP BY 1) "
        "SELECT p.sku, p.product_name, p.category, m.merchant_code, k.on_hand, "
        "k.stock_value::DOUBLE AS stock_value, d.last_sold, "
        "CASE WHEN d.last_sold IS NOT NULL THEN date_diff('day', d.last_sold, ?::DATE) END AS days_since, "
        "count(*) OVER () AS total, CAST(sum(k.stock_value) OVER () AS DOUBLE) AS total_value "
        "FROM stock k JOIN marts.dim_products p ON p.product_id = k.product_id "
        "JOIN marts.dim_merchants m ON m.merchant_id = p.merchant_id "
        "LEFT JOIN sold d ON d.product_id = k.product_id WHERE coalesce(d.units, 0) = 0 "
        "ORDER BY k.stock_value DESC, p.product_id LIMIT ?",
        params_stock + [f.start] + params_sold + [f.end, limit],
        needs=["marts.inventory_daily", "marts.dim_merchants", *source.needs])


def _stock(f: data.Filters, currency: str | None) -> None:
    st.subheader(T("stock_title"), help=T("stock_help", day=i18n.day(f.end)))
    frame = _stock_without_sales(f, STOCK_LIMIT)
    if frame.empty:
        st.caption(i18n.COMMON("no_rows"))
        return
    total = int(frame["total"].iloc[0])
    st.columns(4)[0].metric(T("stock_value"), i18n.money(frame["total_value"].iloc[0], currency))
    if total > len(frame):
        st.caption(T("shown_of", shown=i18n.number(len(frame)), total=i18n.number(total)))
    ui.table(frame.drop(columns=["total", "total_value"]), "stock_without_sales", column_config={
        "sku": st.column_config.TextColumn(T("sku")),
        "product_name": st.column_config.TextColumn(T("product")),
        "category": st.column_config.TextColumn(T("category")),
        "merchant_code": st.column_config.TextColumn(T("merchant")),
        "on_hand": st.column_config.NumberColumn(T("on_hand"), format="%d"),
        "stock_value": st.column_config.NumberColumn(ui.money_label(T("stock_value"), currency), format="%.2f"),
        "last_sold": st.column_config.DateColumn(T("last_sold")),
        "days_since": st.column_config.NumberColumn(T("days_since"), format="%d")})


def render() -> None:
    st.title(T("title"))
    with ui.friendly():
        f = filters.current()
        currency = filters.currency()
        if currency is None:
            st.warning(T("mixed_currency"))
        if f.regions:
            st.caption(T("region_filter_note"))
        ui.section(lambda: _headlines(f, currency))
        ui.section(lambda: _rankings(f, currency))
        ui.section(lambda: _trends(f, currency))
        ui.section(lambda: _stock(f, currency))


render()
