"""Forecast and replenishment: one product's daily demand with the 28-day forecast (P50 and the
P10-P90 band), the demand model judged against its baselines, and what to order now (downloadable
as a purchase list)."""

from __future__ import annotations

from datetime import date

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import data, filters, i18n, ui
from dashboards.i18n import Texts

T = Texts(
    en={"title": "Forecast & replenishment", "demand": "Demand and forecast", "product": "Product",
        "warehouse": "Warehouse", "day": "Day", "units": "Units per day", "actual": "Units ordered",
        "censored": "Out of stock (demand lost)", "p50": "Forecast (P50)", "band": "P10–P90 range",
        "p10": "P10", "p90": "P90", "series": "Series",
        "demand_help": "The last {days} days of units ordered (orders not cancelled) and the next {horizon} "
                       "days forecast. Marked days started out of stock and sold nothing: their zero is lost "
                       "demand, and the model skips them.",
        "no_products": "No products in view.",
        "needs_history": "No forecast yet: the demand model needs 84 days of order history. Once the shop has "
                         "it, `ecom pipeline run` builds the forecast.",
        "no_forecast": "No forecast for this product (not active, or no history in a warehouse yet).",
        "no_warehouse": "not drawn from a warehouse",
        "accuracy": "Forecast accuracy against the baselines",
        "accuracy_help": "Rolling-origin backtest: every model forecasts the {horizon} days after each origin; "
                         "days censored by a stock-out are not scored. WAPE = sum |actual − P50| / sum actual; "
                         "MASE below 1 beats the in-sample seasonal naive; bias above 0 over-forecasts; coverage "
                         "= share of actuals inside P10–P90 (goal about 80%).",
        "model": "Model", "kind": "Kind", "candidate": "model", "baseline": "baseline", "wape": "WAPE",
        "mase": "MASE", "bias": "Bias", "coverage": "Coverage", "beats": "Beats every baseline",
        "series_scored": "Series", "days_scored": "Series-days scored", "origin": "Origin",
        "wape_per_origin": "WAPE per backtest origin",
        "yes": "yes", "no": "no",
        "model_beats": "The model's WAPE ({wape}) is below every baseline's.",
        "model_loses": "The model's WAPE ({wape}) is not below every baseline's: the baselines forecast as "
                       "well or better.",
        "gbm_quantile": "Quantile gradient boosting", "seasonal_naive": "Seasonal naive (same weekday last week)",
        "moving_average_28": "28-day moving average",
        "reorder": "Reorder suggestions", "reorder_help": "Products at or below their reorder point, or with a "
        "quantity to order, soonest projected stock-out first. Reorder point = P50 demand over the lead time "
        "+ safety stock; suggested quantity = reorder point + demand over the review period − (on hand + on "
        "order − reserved), rounded up to the order multiple.",
        "nothing_to_order": "Nothing to reorder: every product in view is above its reorder point.",
        "lines": "Lines to order", "suggested_units": "Units to order", "suggested_total": "Value to order",
        "first_stock_out": "First projected stock-out", "none_in_horizon": "none within 28 days",
        "sku": "SKU", "on_hand": "On hand", "on_order": "On order", "reserved": "Reserved",
        "available": "Available", "reorder_point": "Reorder point", "suggested_qty": "Suggested qty",
        "order_multiple": "Order multiple", "unit_cost": "Avg unit cost", "suggested_value": "Suggested value",
        "currency": "Currency", "stock_out_on": "Projected stock-out", "lead_time": "Lead time (days)",
        "download_purchase_list": "Download purchase list",
        "shown_first": "Showing the first {shown} of {total} lines; the purchase list has them all."},
    zh={"title": "预测与补货", "demand": "需求与预测", "product": "商品", "warehouse": "仓库", "day": "日期",
        "units": "每日件数", "actual": "订购件数", "censored": "缺货（需求流失）", "p50": "预测（P50）",
        "band": "P10–P90 区间", "p10": "P10", "p90": "P90", "series": "序列",
        "demand_help": "最近 {days} 天的订购件数（未取消订单）及未来 {horizon} 天的预测。"
                       "标记的日期开始时已缺货且无销售：其零值是流失的需求，模型会跳过这些日期。",
        "no_products": "当前范围内没有商品。",
        "needs_history": "尚无预测：需求模型需要 84 天的订单历史。"
                         "店铺历史足够后，运行 `ecom pipeline run` 即可生成预测。",
        "no_forecast": "该商品没有预测（未上架，或在仓库中尚无历史）。",
        "no_warehouse": "未从仓库发货",
        "accuracy": "预测准确度（对比基线）",
        "accuracy_help": "滚动起点回测：每个模型从每个起点预测其后 {horizon} 天；因缺货而删失的日期不计分。"
                         "WAPE = Σ|实际 − P50| / Σ实际；MASE 小于 1 表示优于样本内季节性朴素预测；偏差大于 0 表示高估；"
                         "覆盖率 = 实际值落在 P10–P90 内的比例（目标约 80%）。",
        "model": "模型", "kind": "类型", "candidate": "模型", "baseline": "基线", "wape": "WAPE",
        "mase": "MASE", "bias": "偏差", "coverage": "覆盖率", "beats": "优于所有基线",
        "series_scored": "序列数", "days_scored": "计分的序列天数", "origin": "起点",
        "wape_per_origin": "各回测起点的 WAPE",
        "yes": "是", "no": "否",
        "model_beats": "模型的 WAPE（{wape}）低于所有基线。",
        "model_loses": "模型的 WAPE（{wape}）并未低于所有基线：基线的预测同样好或更好。",
        "gbm_quantile": "分位数梯度提升", "seasonal_naive": "季节性朴素（上周同日）",
        "moving_average_28": "28 天移动平均",
        "reorder": "补货建议", "reorder_help": "处于或低于再订货点、或有建议订购量的商品，按预计缺货日期由近到远排序。"
        "再订货点 = 提前期内的 P50 需求 + 安全库存；建议订购量 = 再订货点 + 审查期需求 − （在库 + 在途 − 预留），"
        "按订购倍数向上取整。",
        "nothing_to_order": "无需补货：当前范围内所有商品都高于再订货点。",
        "lines": "待订购行数", "suggested_units": "待订购件数", "suggested_total": "待订购金额",
        "first_stock_out": "最早预计缺货", "none_in_horizon": "28 天内无",
        "sku": "SKU", "on_hand": "在库", "on_order": "在途", "reserved": "预留", "available": "可用",
        "reorder_point": "再订货点", "suggested_qty": "建议数量", "order_multiple": "订购倍数",
        "unit_cost": "平均单位成本", "suggested_value": "建议金额", "currency": "币种",
        "stock_out_on": "预计缺货日期", "lead_time": "提前期（天）",
        "download_purchase_list": "下载采购清单",
        "shown_first": "显示前 {shown} 行，共 {total} 行；采购清单包含全部。"},
)

HISTORY_DAYS = 90
HORIZON_DAYS = 28
RECENT_DAYS = 28  # "most units recently": the product offered first
SHOWN_LINES = 200
PRODUCTS = data.Columns(merchant="p.merchant_id", category="p.category")
DEMAND = data.Columns(merchant="d.merchant_id", category="d.category")
REORDER = data.Columns(merchant="r.merchant_id", category="r.category")
PORTAL = data.Columns(merchant=None)
PURCHASE_LIST = ["sku", "product_name", "warehouse", "suggested_qty", "order_multiple", "avg_unit_cost",
                 "suggested_value", "currency", "projected_stock_out_on"]


def _warehouses() -> dict[int, str]:
    """Warehouse codes (shared by every merchant); ids when the mart is not built yet."""
    try:
        rows = data.fetch("SELECT warehouse_id, warehouse_code AS code FROM marts.dim_warehouses", [],
                          needs=["marts.dim_warehouses"])
    except data.MissingMart:
        return {}
    return {int(w): str(c) for w, c in zip(rows["warehouse_id"], rows["code"], strict=True)}


def warehouse_label(warehouse_id: int, codes: dict[int, str]) -> str:
    if int(warehouse_id) == 0:
        return T("no_warehouse")
    return codes.get(int(warehouse_id), f"#{int(warehouse_id)}")


def _products(f: data.Filters) -> pd.DataFrame:
    """Products in scope, the most units over the last days of demand first."""
    where, params = data.scoped(PRODUCTS, f)
    return data.fetch(
        "WITH recent AS (SELECT product_id, sum(units) AS units FROM marts.demand_daily "
        f"WHERE day > (SELECT max(day) FROM marts.demand_daily) - INTERVAL {RECENT_DAYS} DAY GROUP BY 1) "
        "SELECT p.product_id, p.sku, p.product_name, coalesce(r.units, 0)::DOUBLE AS recent_units "
        f"FROM marts.dim_products p LEFT JOIN recent r USING (product_id) {where} "
        "ORDER BY recent_units DESC, p.sku LIMIT 1000",
        params, needs=["marts.dim_products", "marts.demand_daily"])


def _series(product_id: int, f: data.Filters) -> list[int]:
    """The product's warehouses with demand or a forecast."""
    where_d, params_d = data.scoped(DEMAND, f, extra=["d.product_id = ?"])
    return [int(w) for w in data.fetch(
        f"SELECT DISTINCT d.warehouse_id FROM marts.demand_daily d {where_d} "
        f"UNION SELECT DISTINCT d.warehouse_id FROM marts.demand_forecast d {where_d} ORDER BY 1",
        [product_id, *params_d, product_id, *params_d],
        needs=["marts.demand_daily", "marts.demand_forecast"])["warehouse_id"]]


def history(product_id: int, warehouse_id: int, f: data.Filters) -> pd.DataFrame:
    """Units ordered per day over the last HISTORY_DAYS days of demand, with the censored days."""
    where, params = data.scoped(DEMAND, f, extra=["d.product_id = ?", "d.warehouse_id = ?"])
    return data.fetch(
        "SELECT d.day, d.units::DOUBLE AS units, d.is_censored AS censored FROM marts.demand_daily d "
        f"{where} AND d.day > (SELECT max(day) FROM marts.demand_daily) - INTERVAL {HISTORY_DAYS} DAY "
        "ORDER BY d.day", [product_id, warehouse_id, *params], needs=["marts.demand_daily"])


def forecast(product_id: int, warehouse_id: int, f: data.Filters) -> pd.DataFrame:
    where, params = data.scoped(DEMAND, f, extra=["d.product_id = ?", "d.warehouse_id = ?"])
    return data.fetch(
        "SELECT d.forecast_on AS day, d.p10, d.p50, d.p90 FROM marts.demand_forecast d "
        f"{where} ORDER BY d.forecast_on LIMIT {HORIZON_DAYS}", [product_id, warehouse_id, *params],
        needs=["marts.demand_forecast"])


def _has_forecast(f: data.Filters) -> bool:
    where, params = data.scoped(DEMAND, f)
    return bool(len(data.fetch(f"SELECT 1 FROM marts.demand_forecast d {where} LIMIT 1", params,
                               needs=["marts.demand_forecast"])))


def _pick_product(products: pd.DataFrame) -> int:
    labels = {int(p): f"{s} · {n}" for p, s, n in
              zip(products["product_id"], products["sku"], products["product_name"], strict=True)}
    options = list(labels)
    if st.session_state.get("forecast_product") not in labels:
        st.session_state.pop("forecast_product", None)  # the filters changed: back to the best seller
    return int(st.selectbox(T("product"), options, index=0, format_func=labels.get, key="forecast_product"))


def demand_chart(hist: pd.DataFrame, fc: pd.DataFrame) -> alt.LayerChart:
    """Units ordered (censored days marked), the P50 forecast and its P10-P90 band in one chart."""
    actual, censored, p50, band = T("actual"), T("censored"), T("p50"), T("band")
    lines = pd.concat([hist.assign(series=actual)[["day", "units", "series"]],
                       fc.assign(series=p50, units=fc["p50"])[["day", "units", "series"]]], ignore_index=True)
    lines["day"] = pd.to_datetime(lines["day"])
    color = alt.Color("series:N", title=None, scale=alt.Scale(domain=[actual, p50, band, censored],
                                                              range=["#4c78a8", "#f58518", "#fdd0a2", "#e45756"]))
    day = alt.X("day:T", title=T("day"))
    tip_day = alt.Tooltip("day:T", title=T("day"))
    layers = []
    if not fc.empty:
        shaded = fc.assign(series=band, day=pd.to_datetime(fc["day"]))
        layers.append(alt.Chart(shaded).mark_area(opacity=0.5).encode(
            x=day, y=alt.Y("p10:Q", title=T("units")), y2="p90:Q", color=color,
            tooltip=[tip_day, alt.Tooltip("p10:Q", format=",.1f", title=T("p10")),
                     alt.Tooltip("p50:Q", format=",.1f", title=T("p50")),
                     alt.Tooltip("p90:Q", format=",.1f", title=T("p90"))]))
    layers.append(alt.Chart(lines).mark_line(point=alt.OverlayMarkDef(size=12)).encode(
        x=day, y=alt.Y("units:Q", title=T("units")), color=color,
        strokeDash=alt.StrokeDash("series:N", legend=None, scale=alt.Scale(domain=[actual, p50],
                                                                           range=[[1, 0], [5, 3]])),
        tooltip=[tip_day, alt.Tooltip("series:N", title=T("series")),
                 alt.Tooltip("units:Q", format=",.1f", title=T("units"))]))
    lost = hist[hist["censored"].astype(bool)]
    if not lost.empty:
        marked = lost.assign(series=censored, day=pd.to_datetime(lost["day"]))
        layers.append(alt.Chart(marked).mark_point(shape="triangle-down", filled=True, size=70).encode(
            x=day, y="units:Q", color=color, tooltip=[tip_day, alt.Tooltip("series:N", title=T("series"))]))
    return alt.layer(*layers)


def _demand(f: data.Filters) -> None:
    st.subheader(T("demand"))
    products = _products(f)
    if products.empty:
        st.caption(T("no_products"))
        return
    product = _pick_product(products)
    if not _has_forecast(f):
        st.info(T("needs_history"))
    warehouses = _series(product, f)
    if not warehouses:
        st.caption(i18n.COMMON("no_rows"))
        return
    warehouse = warehouses[0]
    if len(warehouses) > 1:  # quantiles do not add up across warehouses: one series at a time
        codes = _warehouses()
        if st.session_state.get("forecast_warehouse") not in warehouses:
            st.session_state.pop("forecast_warehouse", None)
        warehouse = int(st.selectbox(T("warehouse"), warehouses, format_func=lambda w: warehouse_label(w, codes),
                                     key="forecast_warehouse"))
    hist, fc = history(product, warehouse, f), forecast(product, warehouse, f)
    st.caption(T("demand_help", days=HISTORY_DAYS, horizon=HORIZON_DAYS))
    if fc.empty:
        st.caption(T("no_forecast"))
    if hist.empty and fc.empty:
        st.caption(i18n.COMMON("no_rows"))
        return
    ui.chart(demand_chart(hist, fc))


def _model_name(model: str) -> str:
    return T(model) if model in T.en else model


def _yes_no(value: object) -> str:
    return "–" if pd.isna(value) else T("yes") if bool(value) else T("no")


def _accuracy() -> None:
    st.subheader(T("accuracy"))
    where, params = data.scoped(PORTAL, None)  # a merchant user gets the "whole shop only" note
    rows = data.fetch(
        "SELECT model, scope, origin_on, horizon_days, series, days_scored, wape, mase, bias, coverage, "
        f"is_candidate, beats_every_baseline FROM marts.forecast_accuracy {where} "
        "ORDER BY scope, origin_on, NOT is_candidate, model", params, needs=["marts.forecast_accuracy"])
    if rows.empty:
        st.info(T("needs_history"))
        return
    horizon = int(rows["horizon_days"].dropna().max()) if rows["horizon_days"].notna().any() else HORIZON_DAYS
    st.caption(T("accuracy_help", horizon=horizon))
    rows["model_name"] = rows["model"].map(_model_name)
    overall = rows[rows["scope"] == "overall"].copy()
    candidate = overall[overall["is_candidate"].astype(bool)]
    if not candidate.empty and not pd.isna(candidate["beats_every_baseline"].iloc[0]):
        wape = i18n.percent(candidate["wape"].iloc[0])
        if bool(candidate["beats_every_baseline"].iloc[0]):
            st.success(T("model_beats", wape=wape))
        else:
            st.warning(T("model_loses", wape=wape))
    overall["kind"] = overall["is_candidate"].map(lambda c: T("candidate") if c else T("baseline"))
    overall["beats"] = overall["beats_every_baseline"].map(_yes_no)
    shown = overall[["model_name", "kind", "wape", "mase", "bias", "coverage", "beats", "series", "days_scored"]]
    left, right = st.columns([3, 2])
    with left:
        ui.table(shown, "forecast_accuracy", column_config={
            "model_name": st.column_config.TextColumn(T("model")),
            "kind": st.column_config.TextColumn(T("kind")),
            "wape": st.column_config.NumberColumn(T("wape"), format="percent"),
            "mase": st.column_config.NumberColumn(T("mase"), format="%.2f"),
            "bias": st.column_config.NumberColumn(T("bias"), format="percent"),
            "coverage": st.column_config.NumberColumn(T("coverage"), format="percent"),
            "beats": st.column_config.TextColumn(T("beats")),
            "series": st.column_config.NumberColumn(T("series_scored"), format="%d"),
            "days_scored": st.column_config.NumberColumn(T("days_scored"), format="%d")})
    with right:
        if not overall.empty:
            ui.chart(alt.Chart(overall).mark_bar().encode(
                x=alt.X("wape:Q", title=T("wape"), axis=alt.Axis(format="%")),
                y=alt.Y("model_name:N", title=None, sort="x"),
                color=alt.Color("kind:N", title=T("kind")),
                tooltip=[alt.Tooltip("model_name:N", title=T("model")),
                         alt.Tooltip("wape:Q", format=".1%", title=T("wape")),
                         alt.Tooltip("mase:Q", format=".2f", title=T("mase")),
                         alt.Tooltip("bias:Q", format=".1%", title=T("bias"))]))
    origins = rows[rows["scope"] == "origin"].copy()
    if len(origins["origin_on"].dropna().unique()) > 1:
        st.markdown(f"**{T('wape_per_origin')}**")
        origins["origin_on"] = pd.to_datetime(origins["origin_on"])
        ui.chart(alt.Chart(origins).mark_line(point=True).encode(
            x=alt.X("origin_on:T", title=T("origin")),
            y=alt.Y("wape:Q", title=T("wape"), axis=alt.Axis(format="%")),
            color=alt.Color("model_name:N", title=T("model")),
            tooltip=[alt.Tooltip("origin_on:T", title=T("origin")), alt.Tooltip("model_name:N", title=T("model")),
                     alt.Tooltip("wape:Q", format=".1%", title=T("wape")),
                     alt.Tooltip("coverage:Q", format=".1%", title=T("coverage"))]).properties(height=220))


def suggestions(f: data.Filters) -> pd.DataFrame:
    """Lines to reorder in scope: at or below the reorder point, or with a quantity to order."""
    where, params = data.scoped(REORDER, f, extra=["(r.needs_reorder OR r.suggested_qty > 0)"])
    frame = data.fetch(
        "SELECT r.product_id, r.sku, r.product_name, r.warehouse_id, r.on_hand, r.on_order, r.reserved, "
        "r.available, r.lead_time_days, r.reorder_point, r.suggested_qty, r.order_multiple, "
        "r.avg_unit_cost::DOUBLE AS avg_unit_cost, r.suggested_value::DOUBLE AS suggested_value, r.currency, "
        f"r.projected_stock_out_on, r.needs_reorder FROM marts.reorder_suggestions r {where} "
        "ORDER BY r.projected_stock_out_on NULLS LAST, r.suggested_value DESC, r.sku, r.warehouse_id",
        params, needs=["marts.reorder_suggestions"])
    codes = _warehouses()
    frame["warehouse"] = [warehouse_label(w, codes) for w in frame["warehouse_id"]]
    return frame


def purchase_list(frame: pd.DataFrame) -> pd.DataFrame:
    """The purchase list's columns (machine names, whatever the language: it is read by systems)."""
    out = frame[PURCHASE_LIST].copy()
    out["projected_stock_out_on"] = pd.to_datetime(out["projected_stock_out_on"]).dt.date
    return out.reset_index(drop=True)


def purchase_list_csv(frame: pd.DataFrame) -> bytes:
    return purchase_list(frame).to_csv(index=False).encode("utf-8")


def _money_by_currency(frame: pd.DataFrame) -> str:
    totals = frame.groupby("currency", dropna=False)["suggested_value"].sum()
    return " + ".join(i18n.money(v, None if pd.isna(c) else str(c)) for c, v in totals.items()) or "–"


def _reorder(f: data.Filters) -> None:
    st.subheader(T("reorder"))
    st.caption(T("reorder_help"))
    frame = suggestions(f)
    if frame.empty:  # suggestions are made from the forecast: none without one
        if _has_forecast(f):
            st.success(T("nothing_to_order"))
        else:
            st.info(T("needs_history"))
        return
    to_order = frame[frame["suggested_qty"] > 0]
    first = frame["projected_stock_out_on"].dropna()
    row = st.columns(4)
    row[0].metric(T("lines"), i18n.number(len(to_order)))
    row[1].metric(T("suggested_units"), i18n.number(int(to_order["suggested_qty"].sum())))
    row[2].metric(T("suggested_total"), _money_by_currency(to_order))
    row[3].metric(T("first_stock_out"), i18n.day(pd.Timestamp(first.min()).date()) if len(first)
                  else T("none_in_horizon"))
    shown = frame.head(SHOWN_LINES)[["sku", "product_name", "warehouse", "on_hand", "on_order", "reserved",
                                     "available", "reorder_point", "suggested_qty", "suggested_value", "currency",
                                     "projected_stock_out_on", "lead_time_days"]]
    currencies = frame["currency"].dropna().unique()
    currency = str(currencies[0]) if len(currencies) == 1 else None
    if len(frame) > SHOWN_LINES:
        st.caption(T("shown_first", shown=SHOWN_LINES, total=len(frame)))
    st.dataframe(shown, hide_index=True, width="stretch", column_config={
        "sku": st.column_config.TextColumn(T("sku")),
        "product_name": st.column_config.TextColumn(T("product")),
        "warehouse": st.column_config.TextColumn(T("warehouse")),
        "on_hand": st.column_config.NumberColumn(T("on_hand"), format="%d"),
        "on_order": st.column_config.NumberColumn(T("on_order"), format="%d"),
        "reserved": st.column_config.NumberColumn(T("reserved"), format="%d"),
        "available": st.column_config.NumberColumn(T("available"), format="%d"),
        "reorder_point": st.column_config.NumberColumn(T("reorder_point"), format="%.1f"),
        "suggested_qty": st.column_config.NumberColumn(T("suggested_qty"), format="%d"),
        "suggested_value": st.column_config.NumberColumn(T("suggested_value"), format=ui.money_format(currency)),
        "currency": st.column_config.TextColumn(T("currency")),
        "projected_stock_out_on": st.column_config.DateColumn(T("stock_out_on")),
        "lead_time_days": st.column_config.NumberColumn(T("lead_time"), format="%d")})
    st.download_button(T("download_purchase_list"), purchase_list_csv(frame),
                       file_name=f"purchase_list_{date.today().isoformat()}.csv", mime="text/csv",
                       key="download_purchase_list", icon=":material/download:")


def render() -> None:
    st.title(T("title"))
    with ui.friendly():
        f = filters.current()
        ui.ignored_filters(PRODUCTS, f)
        ui.section(lambda: _demand(f))
        ui.section(_accuracy)
        ui.section(lambda: _reorder(f))


render()
