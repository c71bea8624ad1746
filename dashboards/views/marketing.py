"""Marketing: what campaigns brought against their held-out control groups, where competitors
undercut our prices, and how sessions move through the purchase funnel.

Campaigns belong to a merchant through the store's campaign record (``stg_store__campaigns``), so
a merchant user sees its own campaigns; the price index carries the product's merchant. The
funnel is counted for the whole shop (sessions have no merchant), so merchant users get a
message there instead of numbers.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import data, filters, i18n, ui
from dashboards.i18n import Texts

T = Texts(
    en={"title": "Marketing", "campaigns": "Campaign results",
        "campaigns_help": "Campaigns whose window overlaps the date range. Uplift = conversion of contacted "
        "customers - conversion of the held-out control group over the campaign window, with its 95% confidence "
        "interval; the interval is flagged unreliable when a group has fewer than 5 converters or non-converters.",
        "campaign_count": "Campaigns", "spend": "Spend", "incremental_revenue": "Incremental revenue",
        "incremental_gross_margin": "Incremental gross margin", "return_on_spend": "Return on spend",
        "roas": "ROAS", "new_customers": "New customers", "uplift_chart": "Uplift with 95% confidence interval",
        "campaign": "Campaign", "campaign_code": "Code", "campaign_name": "Name", "merchant": "Merchant",
        "contact_channel": "Contact channel", "starts_on": "Starts", "ends_on": "Ends",
        "contacted_customers": "Contacted", "control_customers": "Control",
        "contacted_conversion_rate": "Contacted conversion", "control_conversion_rate": "Control conversion",
        "uplift": "Uplift", "uplift_ci_low": "Uplift CI low", "uplift_ci_high": "Uplift CI high",
        "is_uplift_ci_reliable": "CI reliable", "reliable": "reliable", "unreliable": "unreliable (small groups)",
        "attributed_orders": "Attributed orders", "attributed_revenue": "Attributed revenue",
        "currency": "Currency", "no_campaigns": "No campaign ran in this period.",
        "programme_wide": "(programme-wide)", "own_campaigns_only": "Your merchant's own campaigns; "
        "programme-wide campaigns cover every merchant and are shown to portal users only.",
        "mixed_currency": "The campaigns in view use different currencies; totals are shown per merchant in the "
        "table only.",
        "campaign_window_note": "Figures of a campaign cover its whole window, even where it reaches outside the "
        "date range.",
        "price_index": "Competitor price index", "price_index_help": "Our price / competitors' median price for "
        "the same product and day x 100 (above 100: we are dearer). Undercut: a competitor's price is below ours.",
        "avg_index": "Average price index", "undercut_share": "Products undercut (latest day)",
        "products_observed": "Products observed (latest day)", "day": "Day", "index": "Price index",
        "parity": "Parity (100)", "undercut_on": "Products undercut on {day}", "sku": "SKU",
        "product_name": "Product", "category": "Category", "our_price": "Our price",
        "competitor_min_price": "Competitor min", "competitor_median_price": "Competitor median",
        "competitor_count": "Competitors", "competitors_on_promo": "Competitors on promotion",
        "price_gap": "Gap to cheapest", "no_undercut": "No product is undercut on {day}.",
        "funnel": "Purchase funnel", "funnel_help": "Each step counts sessions that reached it; conversion = "
        "step / previous step. Sessions are counted for the whole shop.",
        "step": "Step", "sessions": "Sessions", "product_view_sessions": "Product views",
        "add_to_cart_sessions": "Add to cart", "checkout_sessions": "Checkout", "purchase_sessions": "Purchase",
        "product_view_conversion": "Session → view", "add_to_cart_conversion": "View → cart",
        "checkout_conversion": "Cart → checkout", "purchase_conversion": "Checkout → purchase",
        "overall_conversion": "Session → purchase", "conversion": "Conversion from previous step",
        "by_channel": "Conversion per step by channel", "by_device": "Conversion per step by device",
        "channel": "Channel", "device": "Device"},
    zh={"title": "营销", "campaigns": "营销活动效果",
        "campaigns_help": "活动期与日期范围重叠的营销活动。提升 = 活动期内被触达客户的转化率 - 保留对照组的转化率，"
        "并给出 95% 置信区间；任一组转化或未转化人数少于 5 时，该区间标记为不可靠。",
        "campaign_count": "活动数", "spend": "投入", "incremental_revenue": "增量收入",
        "incremental_gross_margin": "增量毛利", "return_on_spend": "投入回报率", "roas": "广告支出回报率 (ROAS)",
        "new_customers": "新客户", "uplift_chart": "转化提升及 95% 置信区间", "campaign": "活动",
        "campaign_code": "代码", "campaign_name": "名称", "merchant": "商户", "contact_channel": "触达渠道",
        "starts_on": "开始", "ends_on": "结束", "contacted_customers": "触达人数", "control_customers": "对照人数",
        "contacted_conversion_rate": "触达组转化率", "control_conversion_rate": "对照组转化率", "uplift": "提升",
        "uplift_ci_low": "提升置信下限", "uplift_ci_high": "提升置信上限", "is_uplift_ci_reliable": "区间可靠",
        "reliable": "可靠", "unreliable": "不可靠（样本过小）", "attributed_orders": "归因订单",
        "attributed_revenue": "归因收入", "currency": "币种", "no_campaigns": "此期间没有营销活动。",
        "programme_wide": "（全平台）",
        "own_campaigns_only": "仅显示本商户自己的活动；全平台活动涵盖所有商户，仅向平台用户显示。",
        "mixed_currency": "所示活动使用不同币种；合计仅在表格中按商户显示。",
        "campaign_window_note": "活动的数据覆盖其整个活动期，即使超出所选日期范围。",
        "price_index": "竞品价格指数", "price_index_help": "我方价格 / 同日同商品竞品价格中位数 x 100"
        "（高于 100 表示我方更贵）。被低价竞争：有竞品价格低于我方。",
        "avg_index": "平均价格指数", "undercut_share": "被低价竞争的商品（最新一天）",
        "products_observed": "监测商品数（最新一天）", "day": "日期", "index": "价格指数", "parity": "持平 (100)",
        "undercut_on": "{day} 被低价竞争的商品", "sku": "SKU", "product_name": "商品", "category": "品类",
        "our_price": "我方价格", "competitor_min_price": "竞品最低价", "competitor_median_price": "竞品中位价",
        "competitor_count": "竞品数", "competitors_on_promo": "促销中的竞品", "price_gap": "与最低价差距",
        "no_undercut": "{day} 没有被低价竞争的商品。", "funnel": "购买漏斗",
        "funnel_help": "每一步统计到达该步的会话数；转化率 = 本步 / 上一步。会话按全店统计。", "step": "步骤",
        "sessions": "会话", "product_view_sessions": "浏览商品", "add_to_cart_sessions": "加入购物车",
        "checkout_sessions": "结账", "purchase_sessions": "购买", "product_view_conversion": "会话 → 浏览",
        "add_to_cart_conversion": "浏览 → 加购", "checkout_conversion": "加购 → 结账",
        "purchase_conversion": "结账 → 购买", "overall_conversion": "会话 → 购买", "conversion": "较上一步转化率",
        "by_channel": "各渠道分步转化率", "by_device": "各设备分步转化率", "channel": "渠道", "device": "设备"},
)

# a merchant's campaign counts that merchant's orders only; a programme-wide one (no merchant) every
# merchant's, so merchant users see their own campaigns and not the programme's
CAMPAIGNS = data.Columns(merchant="cp.merchant_id")
PRICES = data.Columns(merchant="pi.merchant_id", day="pi.observed_on", category="p.category")
FUNNEL = data.Columns(merchant=None, day="day", channel="channel")
STEPS = ("sessions", "product_view_sessions", "add_to_cart_sessions", "checkout_sessions", "purchase_sessions")
RATES = ("product_view_conversion", "add_to_cart_conversion", "checkout_conversion", "purchase_conversion")


# --- campaigns -------------------------------------------------------------------------------------------------

def campaigns(f: data.Filters) -> pd.DataFrame:
    """Campaigns in scope whose window overlaps the period."""
    where, params = data.scoped(CAMPAIGNS, f, extra=["cp.starts_on <= ? AND cp.ends_on >= ?"],
                                extra_params=[f.end, f.start])
    return data.fetch(
        "SELECT cp.campaign_id, cp.campaign_code, cp.campaign_name, m.merchant_code AS merchant, "
        "cp.channel AS contact_channel, cp.starts_on, cp.ends_on, cp.contacted_customers, cp.control_customers, "
        "cp.contacted_conversion_rate, cp.control_conversion_rate, cp.uplift, cp.uplift_ci_low, cp.uplift_ci_high, "
        "cp.is_uplift_ci_reliable, cp.incremental_revenue::DOUBLE AS incremental_revenue, "
        "cp.incremental_gross_margin::DOUBLE AS incremental_gross_margin, cp.spend::DOUBLE AS spend, "
        "cp.return_on_spend, cp.roas, cp.attributed_orders, cp.attributed_revenue::DOUBLE AS attributed_revenue, "
        # a programme-wide campaign (no merchant) is in the shop's one currency, when there is one
        "cp.new_customers, coalesce(m.currency, (SELECT CASE WHEN count(DISTINCT currency) = 1 THEN min(currency) END "
        "FROM marts.dim_merchants)) AS currency "
        "FROM marts.campaign_performance cp "
        "LEFT JOIN marts.dim_merchants m ON m.merchant_id = cp.merchant_id "
        f"{where} ORDER BY cp.starts_on DESC, cp.campaign_code LIMIT 100", params,
        needs=["marts.campaign_performance", "marts.dim_merchants"])


def _campaign_totals(frame: pd.DataFrame) -> dict[str, float | None]:
    spend = float(frame["spend"].sum())
    margin = float(frame["incremental_gross_margin"].sum())
    return {"campaigns": len(frame), "spend": spend, "incremental_revenue": float(frame["incremental_revenue"].sum()),
            "incremental_gross_margin": margin,
            "return_on_spend": (margin - spend) / spend if spend else None,
            "roas": float(frame["attributed_revenue"].sum()) / spend if spend else None,
            "new_customers": int(frame["new_customers"].sum())}


def _campaigns(f: data.Filters) -> None:
    st.subheader(T("campaigns"), help=T("campaigns_help"))
    frame = campaigns(f)
    ui.ignored_filters(CAMPAIGNS, f)
    if data.bound_merchant() is not None:
        st.caption(T("own_campaigns_only"))
    if frame.empty:
        st.caption(T("no_campaigns"))
        return
    frame["merchant"] = frame["merchant"].fillna(T("programme_wide"))
    currencies = frame["currency"].dropna().unique().tolist()
    currency = currencies[0] if len(currencies) == 1 else None
    # campaigns overlapping the period, not a flow of the period: no comparison with the previous one
    totals = _campaign_totals(frame)
    money = lambda v: i18n.money(v, currency)  # noqa: E731
    row = st.columns(4)
    row[0].metric(T("campaign_count"), i18n.number(totals["campaigns"]))
    row[3].metric(T("new_customers"), i18n.number(totals["new_customers"]))
    if currency is None:
        st.warning(T("mixed_currency"))
    else:
        row[1].metric(T("spend"), money(totals["spend"]))
        row[2].metric(T("incremental_revenue"), money(totals["incremental_revenue"]))
        row = st.columns(4)
        row[0].metric(T("incremental_gross_margin"), money(totals["incremental_gross_margin"]))
        row[1].metric(T("return_on_spend"), i18n.percent(totals["return_on_spend"]))
        row[2].metric(T("roas"), i18n.number(totals["roas"], 2))
    st.caption(T("campaign_window_note"))
    _uplift_chart(frame)
    money_format = ui.money_format(currency)
    config = {
        "campaign_id": None, "campaign_code": st.column_config.TextColumn(T("campaign_code")),
        "campaign_name": st.column_config.TextColumn(T("campaign_name")),
        "merchant": st.column_config.TextColumn(T("merchant")),
        "contact_channel": st.column_config.TextColumn(T("contact_channel")),
        "starts_on": st.column_config.DateColumn(T("starts_on")), "ends_on": st.column_config.DateColumn(T("ends_on")),
        "contacted_customers": ui.number(T("contacted_customers"), "%d"),
        "control_customers": ui.number(T("control_customers"), "%d"),
        "is_uplift_ci_reliable": st.column_config.CheckboxColumn(T("is_uplift_ci_reliable")),
        "return_on_spend": ui.number(T("return_on_spend"), "percent"), "roas": ui.number(T("roas"), "%.2f"),
        "attributed_orders": ui.number(T("attributed_orders"), "%d"),
        "new_customers": ui.number(T("new_customers"), "%d"),
        "currency": st.column_config.TextColumn(T("currency")),
    }
    for key in ("contacted_conversion_rate", "control_conversion_rate", "uplift", "uplift_ci_low", "uplift_ci_high"):
        config[key] = ui.number(T(key), "percent")
    for key in ("incremental_revenue", "incremental_gross_margin", "spend", "attributed_revenue"):
        config[key] = ui.number(T(key), money_format)
    ui.table(frame, "campaign_results", column_config=config)


def _uplift_chart(frame: pd.DataFrame) -> None:
    st.markdown(f"**{T('uplift_chart')}**")
    shown = frame.assign(
        campaign=frame["campaign_code"] + " · " + frame["campaign_name"],
        ci=frame["is_uplift_ci_reliable"].map({True: T("reliable"), False: T("unreliable")}).fillna(T("unreliable")))
    base = alt.Chart(shown).encode(y=alt.Y("campaign:N", title=T("campaign"), sort=None))
    bars = base.mark_errorbar(ticks=True).encode(
        x=alt.X("uplift_ci_low:Q", title=T("uplift"), axis=alt.Axis(format="%")), x2="uplift_ci_high:Q",
        color=alt.Color("ci:N", title=T("is_uplift_ci_reliable")))
    points = base.mark_point(filled=True, size=80).encode(
        x="uplift:Q", color=alt.Color("ci:N", title=T("is_uplift_ci_reliable")),
        tooltip=[alt.Tooltip("campaign:N", title=T("campaign")),
                 alt.Tooltip("uplift:Q", format=".1%", title=T("uplift")),
                 alt.Tooltip("uplift_ci_low:Q", format=".1%", title=T("uplift_ci_low")),
                 alt.Tooltip("uplift_ci_high:Q", format=".1%", title=T("uplift_ci_high")),
                 alt.Tooltip("contacted_customers:Q", title=T("contacted_customers")),
                 alt.Tooltip("control_customers:Q", title=T("control_customers"))])
    zero = alt.Chart(pd.DataFrame({"x": [0.0]})).mark_rule(strokeDash=[4, 4], color="gray").encode(x="x:Q")
    ui.chart(alt.layer(bars, points, zero))


# --- price index -----------------------------------------------------------------------------------------------

def price_index_daily(f: data.Filters) -> pd.DataFrame:
    where, params = data.scoped(PRICES, f)
    return data.fetch(
        "SELECT pi.observed_on AS day, avg(pi.price_index) AS price_index, count(*) AS products "
        f"FROM marts.competitor_price_index pi JOIN marts.dim_products p ON p.product_id = pi.product_id {where} "
        "GROUP BY 1 ORDER BY 1", params, needs=["marts.competitor_price_index", "marts.dim_products"])


def undercut_latest(f: data.Filters) -> pd.DataFrame:
    """Every product observed on the latest day in range (the page keeps the undercut ones)."""
    where, params = data.scoped(PRICES, f)
    return data.fetch(
        "WITH scope AS (SELECT pi.*, p.product_name, p.category, p.currency "
        "FROM marts.competitor_price_index pi JOIN marts.dim_products p ON p.product_id = pi.product_id "
        f"{where}) "
        "SELECT observed_on, sku, product_name, category, our_price::DOUBLE AS our_price, "
        "competitor_min_price::DOUBLE AS competitor_min_price, "
        "competitor_median_price::DOUBLE AS competitor_median_price, price_index, "
        "(our_price - competitor_min_price)::DOUBLE / nullif(our_price, 0) AS price_gap, competitor_count, "
        "competitors_on_promo, is_undercut, currency FROM scope "
        "WHERE observed_on = (SELECT max(observed_on) FROM scope) "
        "ORDER BY is_undercut DESC, price_gap DESC, sku LIMIT 100",
        params, needs=["marts.competitor_price_index", "marts.dim_products"])


def _price_index(f: data.Filters) -> None:
    st.subheader(T("price_index"), help=T("price_index_help"))
    daily, latest = price_index_daily(f), undercut_latest(f)
    ui.ignored_filters(PRICES, f)
    if daily.empty:
        st.caption(i18n.COMMON("no_rows"))
        return
    before = price_index_daily(f.previous())
    average = lambda d: float((d["price_index"] * d["products"]).sum() / d["products"].sum()) if len(d) else None  # noqa: E731
    undercut = latest[latest["is_undercut"]]
    row = st.columns(3)
    ui.kpi(row[0], T("avg_index"), average(daily), average(before), lambda v: i18n.number(v, 1))
    row[1].metric(T("undercut_share"), i18n.number(len(undercut)))
    row[2].metric(T("products_observed"), i18n.number(len(latest)))
    line = alt.Chart(daily).mark_line(point=True).encode(
        x=alt.X("day:T", title=T("day")), y=alt.Y("price_index:Q", title=T("index"), scale=alt.Scale(zero=False)),
        tooltip=[alt.Tooltip("day:T", title=T("day")), alt.Tooltip("price_index:Q", format=".1f", title=T("index")),
                 alt.Tooltip("products:Q", title=T("products_observed"))])
    parity = alt.Chart(pd.DataFrame({"y": [100.0], "label": [T("parity")]})).mark_rule(
        strokeDash=[4, 4], color="gray").encode(y="y:Q", tooltip=alt.Tooltip("label:N", title=T("index")))
    ui.chart(alt.layer(line, parity))
    day = i18n.day(latest["observed_on"].iloc[0]) if len(latest) else "–"
    st.markdown(f"**{T('undercut_on', day=day)}**")
    if undercut.empty:
        st.caption(T("no_undercut", day=day))
        return
    currencies = undercut["currency"].dropna().unique().tolist()
    money_format = ui.money_format(currencies[0] if len(currencies) == 1 else None)
    shown = undercut.drop(columns=["observed_on", "is_undercut"])
    config = {"sku": st.column_config.TextColumn(T("sku")),
              "product_name": st.column_config.TextColumn(T("product_name")),
              "category": st.column_config.TextColumn(T("category")),
              "price_index": ui.number(T("index"), "%.1f"), "price_gap": ui.number(T("price_gap"), "percent"),
              "competitor_count": ui.number(T("competitor_count"), "%d"),
              "competitors_on_promo": ui.number(T("competitors_on_promo"), "%d"),
              "currency": st.column_config.TextColumn(T("currency"))}
    for key in ("our_price", "competitor_min_price", "competitor_median_price"):
        config[key] = ui.number(T(key), money_format)
    ui.table(shown, "undercut_products", column_config=config)


# --- funnel ----------------------------------------------------------------------------------------------------

def funnel(f: data.Filters, by: str | None = None) -> pd.DataFrame:
    """Step counts of the period (per channel or device when ``by`` names one), with step conversions."""
    where, params = data.scoped(FUNNEL, f)
    group = {"channel": "channel", "device": "device"}.get(by or "", "")
    sums = ", ".join(f"sum({s})::BIGINT AS {s}" for s in STEPS)
    pairs = zip(STEPS[:-1], STEPS[1:], RATES, strict=True)
    rates = ", ".join(f"{b}::DOUBLE / nullif({a}, 0) AS {r}" for a, b, r in pairs)
    select = f"{group}, " if group else ""
    grouping = f"GROUP BY {group} ORDER BY sessions DESC, {group}" if group else ""
    return data.fetch(
        f"SELECT *, {rates}, purchase_sessions::DOUBLE / nullif(sessions, 0) AS overall_conversion "
        f"FROM (SELECT {select}{sums} FROM marts.funnel_daily {where} {grouping})",
        params, needs=["marts.funnel_daily"])


def _funnel(f: data.Filters) -> None:
    st.subheader(T("funnel"), help=T("funnel_help"))
    total = funnel(f)
    ui.ignored_filters(FUNNEL, f)
    first = total.iloc[0]
    if pd.isna(first["sessions"]) or not first["sessions"]:
        st.caption(i18n.COMMON("no_rows"))
        return
    previous = funnel(f.previous()).iloc[0]
    row = st.columns(3)
    ui.kpi(row[0], T("sessions"), first["sessions"], previous["sessions"], i18n.number)
    ui.kpi(row[1], T("purchase_sessions"), first["purchase_sessions"], previous["purchase_sessions"], i18n.number)
    ui.kpi(row[2], T("overall_conversion"), first["overall_conversion"], previous["overall_conversion"],
           i18n.percent)
    steps = pd.DataFrame({
        "order": range(len(STEPS)), "step": [T(s) for s in STEPS], "sessions": [int(first[s]) for s in STEPS],
        "conversion": [None] + [None if pd.isna(first[r]) else float(first[r]) for r in RATES]})
    bars = alt.Chart(steps).mark_bar().encode(
        y=alt.Y("step:N", title=T("step"), sort=alt.EncodingSortField("order")),
        x=alt.X("sessions:Q", title=T("sessions")),
        tooltip=[alt.Tooltip("step:N", title=T("step")), alt.Tooltip("sessions:Q", format=",", title=T("sessions")),
                 alt.Tooltip("conversion:Q", format=".1%", title=T("conversion"))])
    labels = bars.mark_text(align="left", dx=4).encode(text=alt.Text("conversion:Q", format=".1%"))
    ui.chart(alt.layer(bars, labels))
    for by in ("channel", "device"):
        frame = funnel(f, by)
        st.markdown(f"**{T('by_' + by)}**")
        long = frame.melt(id_vars=[by], value_vars=list(RATES), var_name="rate", value_name="conversion")
        long["step"] = long["rate"].map(T)
        long["order"] = long["rate"].map(RATES.index)
        ui.chart(alt.Chart(long).mark_bar().encode(
            x=alt.X("step:N", title=T("step"), sort=alt.EncodingSortField("order")),
            xOffset=alt.XOffset(f"{by}:N"), y=alt.Y("conversion:Q", title=T("conversion"), axis=alt.Axis(format="%")),
            color=alt.Color(f"{by}:N", title=T(by)),
            tooltip=[alt.Tooltip(f"{by}:N", title=T(by)), alt.Tooltip("step:N", title=T("step")),
                     alt.Tooltip("conversion:Q", format=".1%", title=T("conversion"))]))
        config: dict[str, Any] = {by: st.column_config.TextColumn(T(by))}
        config.update({s: ui.number(T(s), "%d") for s in STEPS})
        config.update({r: ui.number(T(r), "percent") for r in (*RATES, "overall_conversion")})
        ui.table(frame, f"funnel_by_{by}", column_config=config)


def render() -> None:
    st.title(T("title"))
    with ui.friendly():
        f = filters.current()
        ui.section(lambda: _campaigns(f))
        ui.section(lambda: _price_index(f))
        ui.section(lambda: _funnel(f))


render()
