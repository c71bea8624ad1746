"""Inventory: the stock position and its value at the end of the date range, open stock alerts,
turnover and days of inventory, the ABC/XYZ matrix, stock-out history and stock-count variances.

Definitions are METRICS': on hand, reserved, available, stock value (on hand x weighted average unit
cost), stock-out day, turnover (COGS / average stock value at cost), DIO (days / turnover), ABC/XYZ
classes, count variance. Inventory has no channel or region: those filters do not apply here (the
page says so). inventory_turnover is monthly; the page combines the calendar months that overlap
the date range (COGS and days add up; the average stock value is the day-weighted mean of the
months' averages, i.e. the mean of the daily values)."""

from __future__ import annotations

from datetime import date
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import data, filters, i18n, ui
from dashboards.i18n import Texts

T = Texts(
    en={"title": "Inventory", "position": "Stock position", "position_as_of": "Position at the end of {day}.",
        "on_hand": "On hand", "reserved": "Reserved", "available": "Available", "stock_value": "Stock value",
        "avg_unit_cost": "Average unit cost", "stock_out": "Stock-out", "sku": "SKU", "product": "Product",
        "category": "Category", "merchant": "Merchant", "warehouse": "Warehouse",
        "shown_of": "Showing {shown} of {total} rows.",
        "vs_previous_end": "Change against the position at the end of the previous period ({day}).",
        "alerts": "Open stock alerts",
        "alerts_help": "Products at or below their reorder point or safety stock now (the latest published "
                       "balance, whatever the date range).",
        "alert_count": "Open alerts", "below_safety": "Below safety stock", "suggested_value": "Suggested order value",
        "source": "Source", "source_store_alert": "store alert", "source_stock_level": "stock level",
        "opened": "Opened", "low_since": "Low since", "on_order": "On order", "reorder_point": "Reorder point",
        "safety_stock": "Safety stock", "lead_time": "Lead time (days)", "suggested_qty": "Suggested quantity",
        "turnover": "Turnover and days of inventory",
        "turnover_months": "Calendar months {first} – {last} (turnover is kept by month; the months overlapping "
                           "the date range are combined).",
        "turnover_ratio": "Turnover", "dio": "Days of inventory", "sell_through": "Sell-through rate",
        "holding_cost": "Holding cost", "cogs": "COGS", "avg_stock_value": "Average stock value",
        "units_sold": "Units sold", "stock_out_days": "Stock-out days", "abc": "ABC", "xyz": "XYZ",
        "dio_help": "Days in the months / turnover; empty when nothing sold (unbounded).",
        "matrix": "ABC / XYZ matrix",
        "matrix_help": "ABC by net revenue over the 28 days before {day}; XYZ by the variation of weekly units "
                       "over the 26 weeks before it (METRICS).",
        "measure": "Show", "products": "Products", "revenue_28d": "Net revenue, last 28 days",
        "stockouts": "Stock-out history",
        "stockouts_help": "Stock-out day: a day that ends with nothing available for an active product "
                          "(counted per product and warehouse).",
        "grain": "Per", "grain_day": "day", "grain_week": "week", "day": "Day", "week": "Week (from Monday)",
        "stockout_days_total": "Stock-out days", "out_at_end": "Out of stock at period end",
        "variances": "Stock-count variances",
        "variances_help": "Counted - expected on hand when the count was posted, in units and at cost.",
        "count_lines": "Lines counted", "net_variance_value": "Net variance value",
        "abs_variance_value": "Absolute variance value", "net_variance_units": "Net variance (units)",
        "posted_on": "Posted", "expected": "Expected", "counted": "Counted", "variance_qty": "Variance (units)",
        "unit_cost": "Unit cost", "variance_value": "Variance value", "reason": "Reason",
        "reason_shortage": "shortage", "reason_surplus": "surplus", "reason_match": "match",
        "mixed_currency": "The merchants in view use different currencies; values are shown without a currency "
                          "and summed across them: pick one merchant for meaningful totals."},
    zh={"title": "库存", "position": "库存状况", "position_as_of": "截至 {day} 日终的库存。", "on_hand": "在手库存",
        "reserved": "已预留", "available": "可用", "stock_value": "库存价值", "avg_unit_cost": "平均单位成本",
        "stock_out": "缺货", "sku": "SKU", "product": "商品", "category": "品类", "merchant": "商户",
        "warehouse": "仓库", "shown_of": "显示 {shown} / {total} 行。",
        "vs_previous_end": "变化对比上期期末（{day}）的库存。",
        "alerts": "未关闭的库存预警",
        "alerts_help": "当前处于或低于再订货点或安全库存的商品（按最新发布的余额，与日期范围无关）。",
        "alert_count": "未关闭预警", "below_safety": "低于安全库存", "suggested_value": "建议采购金额",
        "source": "来源", "source_store_alert": "店铺预警", "source_stock_level": "库存水平",
        "opened": "开启时间", "low_since": "低库存起始日", "on_order": "在途", "reorder_point": "再订货点",
        "safety_stock": "安全库存", "lead_time": "提前期（天）", "suggested_qty": "建议数量",
        "turnover": "周转率与库存天数",
        "turnover_months": "自然月 {first} – {last}（周转率按月统计；合并与日期范围重叠的月份）。",
        "turnover_ratio": "周转率", "dio": "库存天数", "sell_through": "售罄率", "holding_cost": "持有成本",
        "cogs": "销货成本", "avg_stock_value": "平均库存价值", "units_sold": "销量", "stock_out_days": "缺货天数",
        "abc": "ABC", "xyz": "XYZ", "dio_help": "月份天数 / 周转率；无销售时留空（无上限）。",
        "matrix": "ABC / XYZ 矩阵",
        "matrix_help": "ABC 按 {day} 之前 28 天的净收入；XYZ 按此前 26 周每周销量的波动（见指标定义）。",
        "measure": "显示", "products": "商品数", "revenue_28d": "近 28 天净收入",
        "stockouts": "缺货历史", "stockouts_help": "缺货日：在售商品日终可用库存为零的一天（按商品和仓库计数）。",
        "grain": "按", "grain_day": "日", "grain_week": "周", "day": "日期", "week": "周（周一开始）",
        "stockout_days_total": "缺货天数", "out_at_end": "期末缺货",
        "variances": "盘点差异", "variances_help": "盘点过账时的实盘数 - 账面在手数，按数量和成本计。",
        "count_lines": "盘点行数", "net_variance_value": "净差异金额", "abs_variance_value": "差异绝对金额",
        "net_variance_units": "净差异（件）", "posted_on": "过账日期", "expected": "账面数", "counted": "实盘数",
        "variance_qty": "差异（件）", "unit_cost": "单位成本", "variance_value": "差异金额", "reason": "原因",
        "reason_shortage": "盘亏", "reason_surplus": "盘盈", "reason_match": "相符",
        "mixed_currency": "所选商户使用不同币种；金额不带币种显示并跨币种相加：请选择一个商户以查看有意义的合计。"},
)

LIMIT = 100
PRODUCTS = data.Columns(merchant="p.merchant_id", category="p.category")  # every query joins dim_products p
CLASSES = ("A", "B", "C")
VARIABILITY = ("X", "Y", "Z")


def _where(f: data.Filters | None, *conditions: tuple[str, list[Any]]) -> tuple[str, list[Any]]:
    """scoped() on dim_products p (merchant, category) with our own conditions (and their parameters)."""
    return data.scoped(PRODUCTS, f, extra=[c for c, _ in conditions],
                       extra_params=[p for _, values in conditions for p in values])


def _money(currency: str | None) -> Any:
    return lambda v: i18n.money(v, currency)


# --- stock position ---------------------------------------------------------------------------------

POSITIONS = ("positions AS (SELECT i.product_id, i.warehouse_id, max(i.day) AS day, "
             "arg_max(i.on_hand, i.day) AS on_hand, arg_max(i.reserved, i.day) AS reserved, "
             "arg_max(i.available, i.day) AS available, "
             "arg_max(i.avg_unit_cost, i.day) AS avg_unit_cost, arg_max(i.stock_value, i.day) AS stock_value, "
             "arg_max(i.is_stock_out, i.day) AS is_stock_out "
             "FROM marts.inventory_daily i JOIN marts.dim_products p ON p.product_id = i.product_id {where} "
             "GROUP BY i.product_id, i.warehouse_id)")


def _position_totals(f: data.Filters, end: date) -> pd.Series:
    """Each product x warehouse at its latest day on or before ``end``, summed."""
    where, params = _where(f, ("i.day <= ?", [end]))
    return data.fetch(
        f"WITH {POSITIONS.format(where=where)} SELECT max(day) AS day, sum(on_hand) AS on_hand, "
        "sum(reserved) AS reserved, sum(available) AS available, sum(stock_value)::DOUBLE AS stock_value "
        "FROM positions", params, needs=["marts.inventory_daily", "marts.dim_products"]).iloc[0]


def _position_rows(f: data.Filters) -> pd.DataFrame:
    where, params = _where(f, ("i.day <= ?", [f.end]))
    return data.fetch(
        f"WITH {POSITIONS.format(where=where)} "
        "SELECT p.sku, p.product_name, p.category, m.merchant_code, k.warehouse_id, k.on_hand, k.reserved, "
        "k.available, k.avg_unit_cost::DOUBLE AS avg_unit_cost, k.stock_value::DOUBLE AS stock_value, "
        "k.is_stock_out, count(*) OVER () AS total "
        "FROM positions k JOIN marts.dim_products p ON p.product_id = k.product_id "
        "JOIN marts.dim_merchants m ON m.merchant_id = p.merchant_id "
        "ORDER BY k.stock_value DESC, p.product_id, k.warehouse_id LIMIT ?",
        params + [LIMIT], needs=["marts.inventory_daily", "marts.dim_products", "marts.dim_merchants"])


def _position(f: data.Filters, currency: str | None) -> None:
    st.subheader(T("position"))
    now, before = _position_totals(f, f.end), _position_totals(f, f.previous().end)
    if pd.isna(now["day"]):
        st.caption(i18n.COMMON("no_rows"))
        return
    st.caption(T("position_as_of", day=i18n.day(pd.Timestamp(now["day"]).date())) + " "
               + T("vs_previous_end", day=i18n.day(f.previous().end)))
    row = st.columns(4)
    for column, key in zip(row[:3], ("on_hand", "reserved", "available"), strict=True):
        ui.kpi(column, T(key), now[key], before[key], i18n.number)
    ui.kpi(row[3], T("stock_value"), now["stock_value"], before["stock_value"], _money(currency))
    frame = _position_rows(f)
    total = int(frame["total"].iloc[0]) if len(frame) else 0
    if total > len(frame):
        st.caption(T("shown_of", shown=i18n.number(len(frame)), total=i18n.number(total)))
    ui.table(frame.drop(columns=["total"]), "stock_position", column_config={
        "sku": st.column_config.TextColumn(T("sku")),
        "product_name": st.column_config.TextColumn(T("product")),
        "category": st.column_config.TextColumn(T("category")),
        "merchant_code": st.column_config.TextColumn(T("merchant")),
        "warehouse_id": st.column_config.NumberColumn(T("warehouse"), format="%d"),
        "on_hand": st.column_config.NumberColumn(T("on_hand"), format="%d"),
        "reserved": st.column_config.NumberColumn(T("reserved"), format="%d"),
        "available": st.column_config.NumberColumn(T("available"), format="%d"),
        "avg_unit_cost": st.column_config.NumberColumn(ui.money_label(T("avg_unit_cost"), currency), format="%.4f"),
        "stock_value": st.column_config.NumberColumn(ui.money_label(T("stock_value"), currency), format="%.2f"),
        "is_stock_out": st.column_config.CheckboxColumn(T("stock_out"))})


# --- open stock alerts ------------------------------------------------------------------------------

def _alert_rows(f: data.Filters) -> pd.DataFrame:
    where, params = data.scoped(data.Columns(merchant="a.merchant_id", category="p.category"), f)
    return data.fetch(
        "SELECT a.sku, a.product_name, p.category, m.merchant_code, a.warehouse_id, a.alert_source, "
        "a.opened_at, a.low_since_on, a.on_hand, a.reserved, a.available, a.on_order, a.reorder_point, "
        "a.safety_stock, a.is_below_safety_stock, a.lead_time_days, a.suggested_qty, "
        "a.suggested_value::DOUBLE AS suggested_value, count(*) OVER () AS total, "
        "count(*) FILTER (WHERE a.is_below_safety_stock) OVER () AS below_safety, "
        "CAST(sum(a.suggested_value) OVER () AS DOUBLE) AS total_value "
        "FROM marts.stock_alerts a JOIN marts.dim_products p ON p.product_id = a.product_id "
        f"JOIN marts.dim_merchants m ON m.merchant_id = a.merchant_id {where} "
        "ORDER BY a.is_below_safety_stock DESC, a.available - a.reorder_point, a.suggested_value DESC, a.sku "
        "LIMIT ?", params + [LIMIT], needs=["marts.stock_alerts", "marts.dim_products", "marts.dim_merchants"])


def _alerts(f: data.Filters, currency: str | None) -> None:
    st.subheader(T("alerts"), help=T("alerts_help"))
    frame = _alert_rows(f)
    first = frame.iloc[0] if len(frame) else None
    row = st.columns(3)
    row[0].metric(T("alert_count"), i18n.number(0 if first is None else first["total"]))
    row[1].metric(T("below_safety"), i18n.number(0 if first is None else first["below_safety"]))
    row[2].metric(T("suggested_value"), i18n.money(0 if first is None else first["total_value"], currency))
    if first is not None and int(first["total"]) > len(frame):
        st.caption(T("shown_of", shown=i18n.number(len(frame)), total=i18n.number(first["total"])))
    frame["alert_source"] = [T(f"source_{s}") if f"source_{s}" in T.en else s for s in frame["alert_source"]]
    ui.table(frame.drop(columns=["total", "below_safety", "total_value"]), "stock_alerts", column_config={
        "sku": st.column_config.TextColumn(T("sku")),
        "product_name": st.column_config.TextColumn(T("product")),
        "category": st.column_config.TextColumn(T("category")),
        "merchant_code": st.column_config.TextColumn(T("merchant")),
        "warehouse_id": st.column_config.NumberColumn(T("warehouse"), format="%d"),
        "alert_source": st.column_config.TextColumn(T("source")),
        "opened_at": st.column_config.DatetimeColumn(T("opened")),
        "low_since_on": st.column_config.DateColumn(T("low_since")),
        "on_hand": st.column_config.NumberColumn(T("on_hand"), format="%d"),
        "reserved": st.column_config.NumberColumn(T("reserved"), format="%d"),
        "available": st.column_config.NumberColumn(T("available"), format="%d"),
        "on_order": st.column_config.NumberColumn(T("on_order"), format="%d"),
        "reorder_point": st.column_config.NumberColumn(T("reorder_point"), format="%d"),
        "safety_stock": st.column_config.NumberColumn(T("safety_stock"), format="%d"),
        "is_below_safety_stock": st.column_config.CheckboxColumn(T("below_safety")),
        "lead_time_days": st.column_config.NumberColumn(T("lead_time"), format="%d"),
        "suggested_qty": st.column_config.NumberColumn(T("suggested_qty"), format="%d"),
        "suggested_value": st.column_config.NumberColumn(ui.money_label(T("suggested_value"), currency),
                                                         format="%.2f")})


# --- turnover and days of inventory -----------------------------------------------------------------

def _months(f: data.Filters) -> tuple[date, date]:
    """The first days of the first and last calendar month the date range touches."""
    return f.start.replace(day=1), f.end.replace(day=1)


def _turnover_totals(f: data.Filters) -> pd.Series:
    """The merchant rows of the months (product rows of the chosen categories under a category filter:
    they add up to the merchant rows), summed per month, then over the months."""
    first, last = _months(f)
    level = "product" if f.categories else "merchant"
    join = "JOIN marts.dim_products p ON p.product_id = t.product_id" if f.categories else ""
    columns = (data.Columns(merchant="t.merchant_id", category="p.category") if f.categories
               else data.Columns(merchant="t.merchant_id"))
    where, params = data.scoped(columns, f, extra=["t.level = ?", "t.month_start BETWEEN ? AND ?"],
                                extra_params=[level, first, last])
    return data.fetch(
        "WITH months AS (SELECT t.month_start, any_value(t.days_in_period) AS days, sum(t.units_sold) AS units, "
        "sum(t.cogs) AS cogs, sum(t.average_inventory_value) AS avg_value, "
        "sum(t.on_hand_at_period_end) AS on_hand_end, sum(t.holding_cost) AS holding_cost, "
        "sum(t.stock_out_days) AS stock_out_days "
        f"FROM marts.inventory_turnover t {join} {where} GROUP BY 1) "
        "SELECT min(month_start) AS first_month, max(month_start) AS last_month, sum(days) AS days, "
        "sum(units) AS units, sum(cogs)::DOUBLE AS cogs, "
        "(sum(avg_value * days) / sum(days))::DOUBLE AS avg_value, arg_max(on_hand_end, month_start) AS on_hand_end, "
        "sum(holding_cost)::DOUBLE AS holding_cost, sum(stock_out_days) AS stock_out_days FROM months",
        params, needs=["marts.inventory_turnover", "marts.dim_products"]).iloc[0]


def _turnover_rows(f: data.Filters) -> pd.DataFrame:
    """Product rows of the months: a product without a row in a month had neither stock nor sales, so
    its average stock value is over all the months' days."""
    first, last = _months(f)
    where, params = data.scoped(data.Columns(merchant="t.merchant_id", category="p.category"), f,
                                extra=["t.level = 'product'", "t.month_start BETWEEN ? AND ?"],
                                extra_params=[first, last])
    return data.fetch(
        "WITH span AS (SELECT sum(days_in_period) AS days FROM (SELECT DISTINCT month_start, days_in_period "
        "FROM marts.inventory_turnover WHERE month_start BETWEEN ? AND ?)), "
        "products AS (SELECT t.product_id, sum(t.units_sold) AS units_sold, sum(t.cogs) AS cogs, "
        "sum(t.average_inventory_value * t.days_in_period) AS value_days, "
        "arg_max(t.on_hand_at_period_end, t.month_start) AS on_hand_end, sum(t.stock_out_days) AS stock_out_days, "
        "sum(t.holding_cost) AS holding_cost, any_value(t.abc_class) AS abc_class, "
        "any_value(t.xyz_class) AS xyz_class "
        f"FROM marts.inventory_turnover t JOIN marts.dim_products p ON p.product_id = t.product_id {where} "
        "GROUP BY 1), "
        "measured AS (SELECT k.*, k.value_days / s.days AS avg_value, s.days FROM products k CROSS JOIN span s) "
        "SELECT p.sku, p.product_name, p.category, m.merchant_code, k.abc_class, k.xyz_class, k.units_sold, "
        "k.cogs::DOUBLE AS cogs, k.avg_value::DOUBLE AS avg_stock_value, "
        "CASE WHEN k.avg_value > 0 THEN (k.cogs / k.avg_value)::DOUBLE END AS turnover_ratio, "
        "CASE WHEN k.avg_value > 0 AND k.cogs <> 0 THEN (k.days / (k.cogs / k.avg_value))::DOUBLE END "
        "AS days_of_inventory, "
        "CASE WHEN k.units_sold + k.on_hand_end > 0 THEN k.units_sold / (k.units_sold + k.on_hand_end) END "
        "AS sell_through_rate, k.stock_out_days, k.holding_cost::DOUBLE AS holding_cost, count(*) OVER () AS total "
        "FROM measured k JOIN marts.dim_products p ON p.product_id = k.product_id "
        "JOIN marts.dim_merchants m ON m.merchant_id = p.merchant_id "
        "ORDER BY k.avg_value DESC NULLS LAST, p.product_id LIMIT ?",
        [first, last] + params + [LIMIT],
        needs=["marts.inventory_turnover", "marts.dim_products", "marts.dim_merchants"])


def _turnover(f: data.Filters, currency: str | None) -> None:
    st.subheader(T("turnover"))
    totals = _turnover_totals(f)
    if pd.isna(totals["first_month"]):
        st.caption(i18n.COMMON("no_rows"))
        return
    first, last = (pd.Timestamp(totals[k]).date() for k in ("first_month", "last_month"))
    st.caption(T("turnover_months", first=i18n.month(first), last=i18n.month(last)))
    avg, cogs, days = totals["avg_value"], totals["cogs"], totals["days"]
    turnover = cogs / avg if avg and avg > 0 else None
    dio = days / turnover if turnover else None
    sold = (totals["units"] or 0) + (totals["on_hand_end"] or 0)
    sell_through = totals["units"] / sold if sold else None
    row = st.columns(5)
    ui.kpi(row[0], T("turnover_ratio"), turnover, None, lambda v: i18n.number(v, 2))
    ui.kpi(row[1], T("dio"), dio, None, lambda v: i18n.number(v, 1), help=T("dio_help"))
    ui.kpi(row[2], T("sell_through"), sell_through, None, i18n.percent)
    ui.kpi(row[3], T("avg_stock_value"), avg, None, _money(currency))
    ui.kpi(row[4], T("holding_cost"), totals["holding_cost"], None, _money(currency))
    frame = _turnover_rows(f)
    total = int(frame["total"].iloc[0]) if len(frame) else 0
    if total > len(frame):
        st.caption(T("shown_of", shown=i18n.number(len(frame)), total=i18n.number(total)))
    ui.table(frame.drop(columns=["total"]), "inventory_turnover", column_config={
        "sku": st.column_config.TextColumn(T("sku")),
        "product_name": st.column_config.TextColumn(T("product")),
        "category": st.column_config.TextColumn(T("category")),
        "merchant_code": st.column_config.TextColumn(T("merchant")),
        "abc_class": st.column_config.TextColumn(T("abc")),
        "xyz_class": st.column_config.TextColumn(T("xyz")),
        "units_sold": st.column_config.NumberColumn(T("units_sold"), format="%d"),
        "cogs": st.column_config.NumberColumn(ui.money_label(T("cogs"), currency), format="%.2f"),
        "avg_stock_value": st.column_config.NumberColumn(ui.money_label(T("avg_stock_value"), currency), format="%.2f"),
        "turnover_ratio": st.column_config.NumberColumn(T("turnover_ratio"), format="%.2f"),
        "days_of_inventory": st.column_config.NumberColumn(T("dio"), format="%.1f", help=T("dio_help")),
        "sell_through_rate": st.column_config.NumberColumn(T("sell_through"), format="percent"),
        "stock_out_days": st.column_config.NumberColumn(T("stock_out_days"), format="%d"),
        "holding_cost": st.column_config.NumberColumn(ui.money_label(T("holding_cost"), currency), format="%.2f")})


# --- ABC / XYZ matrix -------------------------------------------------------------------------------

def _classes(f: data.Filters) -> pd.DataFrame:
    """Products per ABC x XYZ cell (the classes are the product's now, repeated on every month's row)."""
    where, params = data.scoped(data.Columns(merchant="t.merchant_id", category="p.category"), f,
                                extra=["t.level = 'product'"])
    return data.fetch(
        "WITH classed AS (SELECT t.product_id, arg_max(t.abc_class, t.month_start) AS abc_class, "
        "arg_max(t.xyz_class, t.month_start) AS xyz_class, "
        "arg_max(t.abc_net_revenue_28d, t.month_start) AS revenue, max(t.classified_as_of) AS as_of "
        f"FROM marts.inventory_turnover t JOIN marts.dim_products p ON p.product_id = t.product_id {where} "
        "GROUP BY 1) "
        "SELECT abc_class, xyz_class, count(*) AS products, sum(revenue)::DOUBLE AS revenue, max(as_of) AS as_of "
        "FROM classed WHERE abc_class IS NOT NULL AND xyz_class IS NOT NULL GROUP BY ALL",
        params, needs=["marts.inventory_turnover", "marts.dim_products"])


def _matrix(f: data.Filters, currency: str | None) -> None:
    counts = _classes(f)
    as_of = counts["as_of"].max() if len(counts) else None
    st.subheader(T("matrix"), help=T("matrix_help", day=i18n.day(None if pd.isna(as_of) else
                                                                  pd.Timestamp(as_of).date())))
    if counts.empty:
        st.caption(i18n.COMMON("no_rows"))
        return
    grid = pd.MultiIndex.from_product([CLASSES, VARIABILITY], names=["abc_class", "xyz_class"]).to_frame(index=False)
    grid = grid.merge(counts.drop(columns=["as_of"]), how="left", on=["abc_class", "xyz_class"])
    grid = grid.fillna({"products": 0, "revenue": 0.0})
    grid["products"] = grid["products"].astype(int)
    measure = st.radio(T("measure"), ["products", "revenue"], key="inventory_matrix_measure", horizontal=True,
                       format_func=lambda k: T("products") if k == "products" else T("revenue_28d"))
    title = T("products") if measure == "products" else ui.money_label(T("revenue_28d"), currency)
    grid["label"] = [i18n.number(v) if measure == "products" else i18n.money(v, currency) for v in grid[measure]]
    base = alt.Chart(grid).encode(
        x=alt.X("xyz_class:O", title=T("xyz"), sort=list(VARIABILITY)),
        y=alt.Y("abc_class:O", title=T("abc"), sort=list(CLASSES)))
    rect = base.mark_rect().encode(
        color=alt.Color(f"{measure}:Q", title=title, scale=alt.Scale(scheme="blues")),
        tooltip=[alt.Tooltip("abc_class:O", title=T("abc")), alt.Tooltip("xyz_class:O", title=T("xyz")),
                 alt.Tooltip("products:Q", title=T("products")),
                 alt.Tooltip("revenue:Q", title=T("revenue_28d"), format=",.2f")])
    text = base.mark_text(fontSize=16).encode(text="label:N")
    ui.chart((rect + text).properties(height=260))
    ui.table(grid.drop(columns=["label"]), "abc_xyz_matrix", column_config={
        "abc_class": st.column_config.TextColumn(T("abc")), "xyz_class": st.column_config.TextColumn(T("xyz")),
        "products": st.column_config.NumberColumn(T("products"), format="%d"),
        "revenue": st.column_config.NumberColumn(ui.money_label(T("revenue_28d"), currency), format="%.2f")})


# --- stock-out history ------------------------------------------------------------------------------

def _stockout_totals(f: data.Filters) -> pd.Series:
    where, params = _where(f, ("i.day BETWEEN ? AND ?", [f.start, f.end]))
    return data.fetch(
        "SELECT count(*) FILTER (WHERE i.is_stock_out) AS stock_out_days, "
        "count(*) FILTER (WHERE i.is_stock_out AND i.day = ?) AS out_at_end "
        f"FROM marts.inventory_daily i JOIN marts.dim_products p ON p.product_id = i.product_id {where}",
        [f.end] + params, needs=["marts.inventory_daily", "marts.dim_products"]).iloc[0]


def _stockout_series(f: data.Filters, grain: str) -> pd.DataFrame:
    bucket = "i.day" if grain == "day" else "date_trunc('week', i.day)::DATE"  # a whitelisted expression
    where, params = _where(f, ("i.day BETWEEN ? AND ?", [f.start, f.end]))
    return data.fetch(
        f"SELECT {bucket} AS period, count(*) FILTER (WHERE i.is_stock_out) AS stock_out_days, "
        "count(DISTINCT i.product_id) FILTER (WHERE i.is_stock_out) AS products "
        f"FROM marts.inventory_daily i JOIN marts.dim_products p ON p.product_id = i.product_id {where} "
        "GROUP BY 1 ORDER BY 1", params, needs=["marts.inventory_daily", "marts.dim_products"])


def _stockouts(f: data.Filters) -> None:
    st.subheader(T("stockouts"), help=T("stockouts_help"))
    now, before = _stockout_totals(f), _stockout_totals(f.previous())
    row = st.columns(3)
    ui.kpi(row[0], T("stockout_days_total"), now["stock_out_days"], before["stock_out_days"], i18n.number,
           lower_is_better=True)
    ui.kpi(row[1], T("out_at_end"), now["out_at_end"], before["out_at_end"], i18n.number, lower_is_better=True)
    grain = row[2].radio(T("grain"), ["day", "week"], key="inventory_stockout_grain", horizontal=True,
                         index=0 if f.days <= 62 else 1, format_func=lambda g: T(f"grain_{g}"))
    series = _stockout_series(f, grain)
    if series.empty:
        st.caption(i18n.COMMON("no_rows"))
        return
    axis = T("day") if grain == "day" else T("week")
    ui.chart(alt.Chart(series).mark_bar().encode(
        x=alt.X("period:T", title=axis),
        y=alt.Y("stock_out_days:Q", title=T("stockout_days_total")),
        tooltip=[alt.Tooltip("period:T", title=axis),
                 alt.Tooltip("stock_out_days:Q", title=T("stockout_days_total")),
                 alt.Tooltip("products:Q", title=T("products"))]))
    ui.table(series, f"stock_outs_per_{grain}", column_config={
        "period": st.column_config.DateColumn(axis),
        "stock_out_days": st.column_config.NumberColumn(T("stockout_days_total"), format="%d"),
        "products": st.column_config.NumberColumn(T("products"), format="%d")})


# --- count variances --------------------------------------------------------------------------------

def _variance_rows(f: data.Filters) -> pd.DataFrame:
    where, params = data.scoped(data.Columns(merchant="v.merchant_id", category="p.category"), f,
                                extra=["v.posted_on BETWEEN ? AND ?"], extra_params=[f.start, f.end])
    return data.fetch(
        "SELECT v.posted_on, v.warehouse_code, v.sku, p.product_name, p.category, m.merchant_code, v.expected_qty, "
        "v.counted_qty, v.variance_qty, v.unit_cost::DOUBLE AS unit_cost, v.variance_value::DOUBLE AS variance_value, "
        "v.variance_reason, count(*) OVER () AS total, sum(v.variance_qty) OVER () AS net_units, "
        "CAST(sum(v.variance_value) OVER () AS DOUBLE) AS net_value, "
        "CAST(sum(v.abs_variance_value) OVER () AS DOUBLE) AS abs_value "
        "FROM marts.count_variances v JOIN marts.dim_products p ON p.product_id = v.product_id "
        f"JOIN marts.dim_merchants m ON m.merchant_id = p.merchant_id {where} "
        "ORDER BY v.abs_variance_value DESC, v.posted_on DESC, v.stock_count_line_id LIMIT ?",
        params + [LIMIT],
        needs=["marts.count_variances", "marts.dim_products", "marts.dim_merchants"])


def _variances(f: data.Filters, currency: str | None) -> None:
    st.subheader(T("variances"), help=T("variances_help"))
    frame = _variance_rows(f)
    first = frame.iloc[0] if len(frame) else None
    row = st.columns(4)
    row[0].metric(T("count_lines"), i18n.number(0 if first is None else first["total"]))
    row[1].metric(T("net_variance_units"), i18n.number(0 if first is None else first["net_units"]))
    row[2].metric(T("net_variance_value"), i18n.money(0 if first is None else first["net_value"], currency))
    row[3].metric(T("abs_variance_value"), i18n.money(0 if first is None else first["abs_value"], currency))
    if first is not None and int(first["total"]) > len(frame):
        st.caption(T("shown_of", shown=i18n.number(len(frame)), total=i18n.number(first["total"])))
    frame["variance_reason"] = [T(f"reason_{r}") if f"reason_{r}" in T.en else r for r in frame["variance_reason"]]
    ui.table(frame.drop(columns=["total", "net_units", "net_value", "abs_value"]), "count_variances", column_config={
        "posted_on": st.column_config.DateColumn(T("posted_on")),
        "warehouse_code": st.column_config.TextColumn(T("warehouse")),
        "sku": st.column_config.TextColumn(T("sku")),
        "product_name": st.column_config.TextColumn(T("product")),
        "category": st.column_config.TextColumn(T("category")),
        "merchant_code": st.column_config.TextColumn(T("merchant")),
        "expected_qty": st.column_config.NumberColumn(T("expected"), format="%d"),
        "counted_qty": st.column_config.NumberColumn(T("counted"), format="%d"),
        "variance_qty": st.column_config.NumberColumn(T("variance_qty"), format="%d"),
        "unit_cost": st.column_config.NumberColumn(ui.money_label(T("unit_cost"), currency), format="%.4f"),
        "variance_value": st.column_config.NumberColumn(ui.money_label(T("variance_value"), currency), format="%.2f"),
        "variance_reason": st.column_config.TextColumn(T("reason"))})


def render() -> None:
    st.title(T("title"))
    with ui.friendly():
        f = filters.current()
        ui.ignored_filters(PRODUCTS, f)
        currency = filters.currency()
        if currency is None:
            st.warning(T("mixed_currency"))
        ui.section(lambda: _position(f, currency))
        ui.section(lambda: _alerts(f, currency))
        ui.section(lambda: _turnover(f, currency))
        ui.section(lambda: _matrix(f, currency))
        ui.section(lambda: _stockouts(f))
        ui.section(lambda: _variances(f, currency))


render()
