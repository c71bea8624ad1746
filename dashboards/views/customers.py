"""Customers: RFM segments, where new customers end up, behavioural clusters, cohort retention,
lifetime value and churn risk.

Grain: with no merchant in view (an analyst or admin without a merchant filter) the portal-wide
marts (customer_rfm, customer_cohorts, customer_value); a merchant user, or a merchant filter, gives
the merchant-grain marts (merchant_customer_rfm, _cohorts, _value: each merchant's own orders, so a
customer of two chosen merchants counts once per merchant). The model marts (customer_segments,
customer_churn_risk) exist portal-wide only: with merchants in view they are cut to the customers
who bought from those merchants and show only what is not money (segment, churn probability, band);
recency and frequency then come from the merchant-grain RFM.

RFM, segments, values and churn are "as of" the warehouse's as-of day (the day after the latest
order), not measures of the date range; the date range picks the new customers whose segments are
shown, and the cohorts of the retention grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import data, filters, i18n, ui
from dashboards.i18n import Texts

T = Texts(
    en={"title": "Customers", "as_of": "Customer figures as of {day} (the day after the latest order).",
        "grain_merchant": "Per merchant: each merchant's own orders; a customer of several merchants in view "
                          "counts once per merchant.",
        "mixed_currency": "The merchants in view use different currencies, so money is not summed; pick one "
                          "merchant to see it.",
        "rfm": "RFM segments", "segment": "Segment", "customers": "Customers", "share": "Share of customers",
        "revenue": "Revenue (monetary)", "revenue_share": "Share of revenue", "avg_recency": "Avg recency (days)",
        "avg_frequency": "Avg orders",
        "rfm_help": "Recency, frequency and monetary value scored 1-5 by quintile; segments from the recency "
                    "and frequency scores. Revenue is the customers' net revenue to date.",
        "movement": "New customers and where they are now",
        "movement_caption": "Customers grouped by the month of their first order, coloured by their segment "
                            "today, and the customers won in the chosen period (first order in it) against "
                            "those of the previous period, by today's segment.",
        "moves": "Segment moves, week by week",
        "moves_caption": "Each week's customers by their RFM segment at the week's end, and who moved between "
                         "segments during the weeks in the period (the warehouse keeps the last 26 weeks).",
        "moves_portal": "Week-by-week segment moves are kept per merchant: choose a merchant in the filters.",
        "moved": "Customers who changed segment", "from_segment": "From", "to_segment": "To",
        "week_end": "Week ending", "no_history": "(no orders before)",
        "first_order_month": "First-order month", "new_in_period": "New customers (first order in period)",
        "this_period": "This period", "previous_period": "Previous period",
        "clusters": "Behavioural clusters",
        "clusters_caption": "Customers clustered by behaviour (k-means over recency, frequency, spend and "
                            "categories), described in words.",
        "clusters_merchant": "Clusters are fitted on the whole portal; shown here is how many of the customers "
                             "who bought from the merchants in view fall in each (the clusters' figures and "
                             "descriptions cover every merchant, so they are left out).",
        "cluster": "Cluster", "description": "Description", "median_recency": "Median recency (days)",
        "median_frequency": "Median orders", "median_monetary": "Median spend", "aov": "Average order value",
        "favourite_categories": "Favourite categories",
        "cohorts": "Cohort retention",
        "cohorts_caption": "Share of each first-order month's customers who ordered again k months later; "
                           "cohorts from {first} to {last} (the months of the date range, and at least the 12 "
                           "months up to its end).",
        "cohort": "Cohort", "months_since": "Months since first order", "retention": "Retention",
        "cohort_size": "Cohort size", "active_customers": "Active customers", "cohort_table": "Cohort figures",
        "ltv": "Lifetime value", "ltv_caption": "Historical lifetime value: net revenue to date per customer.",
        "ltv_from": "From", "ltv_to": "To", "median_ltv": "Median lifetime value", "mean_ltv": "Average lifetime value",
        "avg_orders": "Average orders", "per_year": "Median orders per year of tenure",
        "churn": "Churn risk", "churn_caption": "The 100 customers most likely to place no order in the next 90 "
                                                "days.",
        "churn_empty": "No churn scores yet: the churn model needs more than 180 days of order history with "
                       "both returning and lapsed customers. They appear after `ecom pipeline run` once the shop "
                       "has that history.",
        "customer": "Customer", "customer_id": "Customer id", "probability": "Churn probability",
        "band": "Risk band", "recency": "Recency (days)", "frequency": "Orders",
        "rfm_segment": "RFM segment", "none": "(none)"},
    zh={"title": "客户", "as_of": "客户指标截至 {day}（最近一笔订单的次日）。",
        "grain_merchant": "按商户统计：仅计各商户自己的订单；在多个所选商户购买过的客户按商户分别计数。",
        "mixed_currency": "所选商户使用不同币种，金额不作汇总；请选择一个商户以查看金额。",
        "rfm": "RFM 分群", "segment": "分群", "customers": "客户数", "share": "客户占比", "revenue": "收入（消费金额）",
        "revenue_share": "收入占比", "avg_recency": "平均最近购买间隔（天）", "avg_frequency": "平均订单数",
        "rfm_help": "最近购买、购买频次与消费金额按五分位打 1-5 分；分群依据最近购买与频次得分。"
                    "收入为客户迄今的净收入。",
        "movement": "新客户及其当前分群",
        "movement_caption": "按首单月份分组、按当前分群着色的客户，以及所选期间（首单在期间内）"
                            "与上一期间的新客户按当前分群的对比。",
        "moves": "逐周分群变化",
        "moves_caption": "每周末各 RFM 分群的客户数，以及所选期间内各周客户在分群之间的流动（仓库保留最近 26 周）。",
        "moves_portal": "逐周分群变化按商户保存：请在筛选中选择商户。",
        "moved": "分群发生变化的客户", "from_segment": "原分群", "to_segment": "新分群",
        "week_end": "周末日期", "no_history": "（此前无订单）",
        "first_order_month": "首单月份", "new_in_period": "新客户（首单在期间内）", "this_period": "本期",
        "previous_period": "上期",
        "clusters": "行为聚类",
        "clusters_caption": "按行为（最近购买、频次、消费与品类，k-means）聚类的客户及文字描述。",
        "clusters_merchant": "聚类基于全平台数据；此处仅显示在所选商户购买过的客户在各聚类中的人数"
                             "（聚类的指标与描述涵盖所有商户，故不显示）。",
        "cluster": "聚类", "description": "描述", "median_recency": "最近购买间隔中位数（天）",
        "median_frequency": "订单数中位数", "median_monetary": "消费中位数", "aov": "平均订单金额",
        "favourite_categories": "偏好品类",
        "cohorts": "同期群留存",
        "cohorts_caption": "各首单月份客户在第 k 个月再次下单的比例；同期群从 {first} 到 {last}"
                           "（日期范围内的月份，且至少包含截至其结束的 12 个月）。",
        "cohort": "同期群", "months_since": "首单后月数", "retention": "留存率", "cohort_size": "同期群人数",
        "active_customers": "活跃客户数", "cohort_table": "同期群数据",
        "ltv": "客户生命周期价值", "ltv_caption": "历史生命周期价值：每位客户迄今的净收入。", "ltv_from": "起",
        "ltv_to": "止", "median_ltv": "生命周期价值中位数", "mean_ltv": "平均生命周期价值", "avg_orders": "平均订单数",
        "per_year": "每年订单数中位数",
        "churn": "流失风险", "churn_caption": "未来 90 天内最可能不再下单的 100 位客户。",
        "churn_empty": "暂无流失评分：流失模型需要超过 180 天、同时包含回购与流失客户的订单历史。"
                       "店铺积累到足够历史后，运行 `ecom pipeline run` 即可生成。",
        "customer": "客户", "customer_id": "客户 ID", "probability": "流失概率", "band": "风险等级",
        "recency": "最近购买间隔（天）", "frequency": "订单数", "rfm_segment": "RFM 分群", "none": "（无）"},
)

# METRICS.md order (best first); the names are the marts' values, shown translated.
SEGMENTS = ("Champions", "Loyal", "Potential loyalist", "New", "Promising", "Need attention", "About to sleep",
            "At risk", "Cannot lose them", "Hibernating")
SEGMENT_NAMES = Texts(
    en={s: s for s in SEGMENTS} | {"high": "high", "medium": "medium", "low": "low"},
    zh={"Champions": "冠军客户", "Loyal": "忠诚客户", "Potential loyalist": "潜在忠诚客户", "New": "新客户",
        "Promising": "有潜力客户", "Need attention": "需要关注", "About to sleep": "即将沉睡", "At risk": "有流失风险",
        "Cannot lose them": "不能失去", "Hibernating": "休眠客户", "high": "高", "medium": "中", "low": "低"},
)
BINS = 20
COHORT_MONTHS = 12
CHURN_LIMIT = 100


def _label(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return T("none")
    try:
        return SEGMENT_NAMES(str(value))
    except KeyError:
        return str(value)


@dataclass(frozen=True)
class Grain:
    """Which marts this view reads: portal-wide, or per merchant (a merchant user or a merchant filter)."""

    per_merchant: bool

    @property
    def rfm(self) -> str:
        return "marts.merchant_customer_rfm" if self.per_merchant else "marts.customer_rfm"

    @property
    def cohorts(self) -> str:
        return "marts.merchant_customer_cohorts" if self.per_merchant else "marts.customer_cohorts"

    @property
    def value(self) -> str:
        return "marts.merchant_customer_value" if self.per_merchant else "marts.customer_value"

    def columns(self, alias: str) -> data.Columns:
        """Merchant and region columns of a customer mart aliased ``alias`` joined to dim_customers c."""
        return data.Columns(merchant=f"{alias}.merchant_id" if self.per_merchant else None, region="c.region")


def _grain(f: data.Filters) -> Grain:
    return Grain(per_merchant=data.bound_merchant() is not None or bool(f.merchants))


def _model_where(grain: Grain, f: data.Filters, alias: str) -> tuple[str, list[Any]]:
    """WHERE for a portal-only model mart aliased ``alias`` (joined to dim_customers c): with
    merchants in view, only customers with an order (not cancelled) from them."""
    if not grain.per_merchant:
        return data.scoped(data.Columns(merchant=None, region="c.region"), f)
    inner, params = data.scoped(data.Columns(merchant="o.merchant_id"), f,
                                extra=[f"o.customer_id = {alias}.customer_id", "NOT o.is_cancelled"])
    where = f"WHERE EXISTS (SELECT 1 FROM marts.fct_orders o {inner})"
    if f.regions:
        where += f" AND c.region IN ({', '.join('?' * len(f.regions))})"
        params = params + list(f.regions)
    return where, params


# --------------------------------------------------------------------------- RFM segments


def _rfm_segments(grain: Grain, f: data.Filters) -> pd.DataFrame:
    where, params = data.scoped(grain.columns("r"), f)
    return data.fetch(
        "SELECT r.rfm_segment AS segment, count(*) AS customers, sum(r.monetary)::DOUBLE AS revenue, "
        "avg(r.recency_days)::DOUBLE AS avg_recency, avg(r.frequency)::DOUBLE AS avg_frequency, "
        f"max(r.as_of_on) AS as_of_on FROM {grain.rfm} r LEFT JOIN marts.dim_customers c "
        f"ON c.customer_id = r.customer_id {where} GROUP BY 1",
        params, needs=[grain.rfm, "marts.dim_customers"])


def _segment_order(frame: pd.DataFrame, column: str = "segment") -> pd.DataFrame:
    rank = {s: i for i, s in enumerate(SEGMENTS)}
    return frame.assign(_rank=frame[column].map(lambda s: rank.get(s, len(rank)))).sort_values("_rank").drop(
        columns="_rank")


def _rfm(grain: Grain, f: data.Filters, currency: str | None, money_ok: bool) -> None:
    st.subheader(T("rfm"), help=T("rfm_help"))
    frame = _rfm_segments(grain, f)
    if frame.empty:
        st.caption(i18n.COMMON("no_rows"))
        return
    as_of = frame["as_of_on"].dropna().max()
    if not pd.isna(as_of):
        st.caption(T("as_of", day=i18n.day(pd.Timestamp(as_of).date())))
    frame = _segment_order(frame)
    frame["share"] = frame["customers"] / frame["customers"].sum()
    total = frame["revenue"].sum()
    frame["revenue_share"] = frame["revenue"] / total if total else None
    frame["label"] = frame["segment"].map(_label)
    order = list(frame["label"])
    ui.chart(alt.Chart(frame).mark_bar().encode(
        x=alt.X("customers:Q", title=T("customers")),
        y=alt.Y("label:N", sort=order, title=T("segment")),
        color=alt.Color("label:N", sort=order, legend=None),
        tooltip=[alt.Tooltip("label:N", title=T("segment")), alt.Tooltip("customers:Q", title=T("customers")),
                 alt.Tooltip("share:Q", format=".1%", title=T("share"))]))
    columns = ["label", "customers", "share"] + (["revenue", "revenue_share"] if money_ok else []) + [
        "avg_recency", "avg_frequency"]
    ui.table(frame[columns], "rfm_segments", column_config={
        "label": st.column_config.TextColumn(T("segment")),
        "customers": st.column_config.NumberColumn(T("customers"), format="localized"),
        "share": st.column_config.NumberColumn(T("share"), format="percent"),
        "revenue": st.column_config.NumberColumn(T("revenue"), format=ui.money_format(currency)),
        "revenue_share": st.column_config.NumberColumn(T("revenue_share"), format="percent"),
        "avg_recency": st.column_config.NumberColumn(T("avg_recency"), format="%.1f"),
        "avg_frequency": st.column_config.NumberColumn(T("avg_frequency"), format="%.2f")})


# --------------------------------------------------------------------------- new customers by segment


def _cohort_mix(grain: Grain, f: data.Filters) -> pd.DataFrame:
    where, params = data.scoped(grain.columns("r"), f, extra=["r.first_order_on > ?::DATE - INTERVAL 12 MONTH",
                                                              "r.first_order_on <= ?::DATE"],
                                extra_params=[f.end, f.end])
    return data.fetch(
        "SELECT date_trunc('month', r.first_order_on)::DATE AS month, r.rfm_segment AS segment, count(*) AS customers "
        f"FROM {grain.rfm} r LEFT JOIN marts.dim_customers c ON c.customer_id = r.customer_id {where} "
        "GROUP BY 1, 2 ORDER BY 1", params, needs=[grain.rfm, "marts.dim_customers"])


def _new_by_segment(grain: Grain, f: data.Filters) -> pd.DataFrame:
    where, params = data.scoped(grain.columns("r"), f, extra=["r.first_order_on BETWEEN ? AND ?"],
                                extra_params=[f.start, f.end])
    return data.fetch(
        f"SELECT r.rfm_segment AS segment, count(*) AS customers FROM {grain.rfm} r LEFT JOIN marts.dim_customers c "
        f"ON c.customer_id = r.customer_id {where} GROUP BY 1", params,
        needs=[grain.rfm, "marts.dim_customers"])


def _movement(grain: Grain, f: data.Filters) -> None:
    st.subheader(T("movement"))
    st.caption(T("movement_caption"))
    mix = _cohort_mix(grain, f)
    if not mix.empty:
        mix["label"] = mix["segment"].map(_label)
        mix["month_label"] = mix["month"].map(i18n.month)
        months = list(dict.fromkeys(mix["month_label"]))  # in date order (the query's)
        order = [_label(s) for s in SEGMENTS]
        ui.chart(alt.Chart(mix).mark_bar().encode(
            x=alt.X("month_label:O", sort=months, title=T("first_order_month")),
            y=alt.Y("customers:Q", stack="normalize", title=T("share"), axis=alt.Axis(format="%")),
            color=alt.Color("label:N", sort=order, title=T("segment")),
            order=alt.Order("customers:Q"),
            tooltip=[alt.Tooltip("month_label:O", title=T("first_order_month")),
                     alt.Tooltip("label:N", title=T("segment")), alt.Tooltip("customers:Q", title=T("customers"))]))
    now, before = _new_by_segment(grain, f), _new_by_segment(grain, f.previous())
    row = st.columns(4)
    ui.kpi(row[0], T("new_in_period"), int(now["customers"].sum()), int(before["customers"].sum()), i18n.number)
    both = pd.merge(now.rename(columns={"customers": "now"}), before.rename(columns={"customers": "before"}),
                    on="segment", how="outer").fillna({"now": 0, "before": 0})
    both = _segment_order(both)
    both["label"] = both["segment"].map(_label)
    ui.table(both[["label", "now", "before"]].astype({"now": int, "before": int}), "new_customers_by_segment",
             column_config={"label": st.column_config.TextColumn(T("segment")),
                            "now": st.column_config.NumberColumn(T("this_period"), format="localized"),
                            "before": st.column_config.NumberColumn(T("previous_period"), format="localized")})


# --------------------------------------------------------------------------- week-by-week moves

MOVES = data.Columns(merchant="m.merchant_id", day="m.week_start")


def _moves(f: data.Filters) -> pd.DataFrame:
    """Customers per (week, from segment, to segment) for the weeks ending in the period (a row's
    week_start W is the Monday after the week: segments as of W - 7 -> as of W)."""
    where, params = data.scoped(MOVES, f)
    return data.fetch(
        "SELECT m.week_start, m.from_segment, m.to_segment, sum(m.customers)::BIGINT AS customers "
        f"FROM marts.merchant_segment_movement m {where} GROUP BY ALL ORDER BY 1",
        params, needs=["marts.merchant_segment_movement"])


def _weekly_moves(grain: Grain, f: data.Filters) -> None:
    st.subheader(T("moves"))
    if not grain.per_merchant:
        st.caption(T("moves_portal"))
        return
    st.caption(T("moves_caption"))
    now, before = _moves(f), _moves(f.previous())
    changed = lambda frame: int(frame.loc[frame["from_segment"].notna()  # noqa: E731
                                          & (frame["from_segment"] != frame["to_segment"]), "customers"].sum())
    row = st.columns(4)
    ui.kpi(row[0], T("moved"), changed(now), changed(before), i18n.number)
    if now.empty:
        st.caption(i18n.COMMON("no_rows"))
        return
    weekly = now.groupby(["week_start", "to_segment"], as_index=False)["customers"].sum()
    weekly["label"] = weekly["to_segment"].map(_label)
    weekly["week"] = (pd.to_datetime(weekly["week_start"]) - pd.Timedelta(days=1)).dt.date.map(i18n.day)
    weeks = list(dict.fromkeys(weekly.sort_values("week_start")["week"]))
    ui.chart(alt.Chart(weekly).mark_line(point=True).encode(
        x=alt.X("week:O", sort=weeks, title=T("week_end")),
        y=alt.Y("customers:Q", title=T("customers")),
        color=alt.Color("label:N", sort=[_label(x) for x in SEGMENTS], title=T("segment")),
        tooltip=[alt.Tooltip("week:O", title=T("week_end")), alt.Tooltip("label:N", title=T("segment")),
                 alt.Tooltip("customers:Q", title=T("customers"))]))
    flows = now[now["from_segment"].fillna("") != now["to_segment"]]
    flows = (flows.assign(from_segment=flows["from_segment"].fillna(""))
             .groupby(["from_segment", "to_segment"], as_index=False)["customers"].sum()
             .sort_values(["customers", "from_segment", "to_segment"], ascending=[False, True, True]).head(20))
    flows["from_label"] = flows["from_segment"].map(lambda v: _label(v) if v else T("no_history"))
    flows["to_label"] = flows["to_segment"].map(_label)
    ui.table(flows[["from_label", "to_label", "customers"]], "segment_moves", column_config={
        "from_label": st.column_config.TextColumn(T("from_segment")),
        "to_label": st.column_config.TextColumn(T("to_segment")),
        "customers": st.column_config.NumberColumn(T("customers"), format="localized")})


# --------------------------------------------------------------------------- behavioural clusters


def _clusters(grain: Grain, f: data.Filters, currency: str | None, money_ok: bool) -> None:
    st.subheader(T("clusters"))
    st.caption(T("clusters_merchant") if grain.per_merchant else T("clusters_caption"))
    where, params = _model_where(grain, f, "s")
    figures = ("" if grain.per_merchant else
               ", median(s.recency_days)::DOUBLE AS median_recency, median(s.frequency)::DOUBLE AS median_frequency, "
               "median(s.monetary)::DOUBLE AS median_monetary")
    frame = data.fetch(
        f"SELECT s.segment_id, count(*) AS customers{figures} FROM marts.customer_segments s "
        f"LEFT JOIN marts.dim_customers c ON c.customer_id = s.customer_id {where} GROUP BY 1",
        params, needs=["marts.customer_segments", "marts.dim_customers"])
    if frame.empty:
        st.caption(i18n.COMMON("no_rows"))
        return
    profiles = data.fetch(
        "SELECT segment_id, segment_name, description, avg_order_value, favourite_categories "
        "FROM marts.customer_segment_profiles", needs=["marts.customer_segment_profiles"])
    frame = frame.merge(profiles, on="segment_id", how="left").sort_values("customers", ascending=False)
    frame["share"] = frame["customers"] / frame["customers"].sum()
    columns = ["segment_name", "customers", "share"]
    if not grain.per_merchant:  # the profiles' figures and words (spend, categories) are the whole portal's
        columns += ["median_recency", "median_frequency"] + (["median_monetary", "avg_order_value"]
                                                             if money_ok else []) + ["favourite_categories"]
        columns += ["description"] if money_ok else []
    money = ui.money_format(currency)
    ui.table(frame[columns], "behavioural_clusters", column_config={
        "segment_name": st.column_config.TextColumn(T("cluster")),
        "customers": st.column_config.NumberColumn(T("customers"), format="localized"),
        "share": st.column_config.NumberColumn(T("share"), format="percent"),
        "median_recency": st.column_config.NumberColumn(T("median_recency"), format="%.0f"),
        "median_frequency": st.column_config.NumberColumn(T("median_frequency"), format="%.1f"),
        "median_monetary": st.column_config.NumberColumn(T("median_monetary"), format=money),
        "avg_order_value": st.column_config.NumberColumn(T("aov"), format=money),
        "favourite_categories": st.column_config.TextColumn(T("favourite_categories")),
        "description": st.column_config.TextColumn(T("description"), width="large")})


# --------------------------------------------------------------------------- cohort retention


def _month(d: date) -> date:
    return d.replace(day=1)


def _cohort_window(f: data.Filters) -> tuple[date, date]:
    last = _month(f.end)
    back = (pd.Timestamp(last) - pd.DateOffset(months=COHORT_MONTHS - 1)).date()
    return min(_month(f.start), back), last


def _cohorts(grain: Grain, f: data.Filters) -> None:
    st.subheader(T("cohorts"))
    first, last = _cohort_window(f)
    columns = data.Columns(merchant="merchant_id" if grain.per_merchant else None)
    where, params = data.scoped(columns, f, extra=["cohort_month BETWEEN ? AND ?"], extra_params=[first, last])
    frame = data.fetch(
        "SELECT cohort_month, months_since, sum(cohort_size)::BIGINT AS cohort_size, "
        "sum(active_customers)::BIGINT AS active_customers, "
        "sum(active_customers)::DOUBLE / nullif(sum(cohort_size), 0) AS retention_rate "
        f"FROM {grain.cohorts} {where} GROUP BY 1, 2 ORDER BY 1, 2", params, needs=[grain.cohorts])
    if f.regions:  # the cohort marts count customers, not regions
        st.caption(i18n.COMMON("filters_ignored", names=i18n.COMMON("region")))
    if frame.empty:
        st.caption(i18n.COMMON("no_rows"))
        return
    frame["cohort"] = frame["cohort_month"].map(i18n.month)
    cohorts = list(dict.fromkeys(frame["cohort"]))  # in date order (the query's)
    st.caption(T("cohorts_caption", first=cohorts[0], last=cohorts[-1]))
    frame["label"] = frame["retention_rate"].map(lambda v: i18n.percent(v, 0))
    base = alt.Chart(frame).encode(
        x=alt.X("months_since:O", title=T("months_since")),
        y=alt.Y("cohort:O", title=T("cohort"), sort=cohorts))
    heat = base.mark_rect().encode(
        color=alt.Color("retention_rate:Q", title=T("retention"), scale=alt.Scale(scheme="blues", domain=[0, 1]),
                        legend=alt.Legend(format="%")),
        tooltip=[alt.Tooltip("cohort:O", title=T("cohort")), alt.Tooltip("months_since:O", title=T("months_since")),
                 alt.Tooltip("cohort_size:Q", title=T("cohort_size")),
                 alt.Tooltip("active_customers:Q", title=T("active_customers")),
                 alt.Tooltip("retention_rate:Q", format=".1%", title=T("retention"))])
    text = base.mark_text(fontSize=10).encode(
        text="label:N", color=alt.condition("datum.retention_rate > 0.5", alt.value("white"), alt.value("black")))
    ui.chart(heat + text)
    with st.expander(T("cohort_table")):
        ui.table(frame[["cohort", "months_since", "cohort_size", "active_customers", "retention_rate"]],
                 "cohort_retention", column_config={
                     "cohort": st.column_config.TextColumn(T("cohort")),
                     "months_since": st.column_config.NumberColumn(T("months_since")),
                     "cohort_size": st.column_config.NumberColumn(T("cohort_size"), format="localized"),
                     "active_customers": st.column_config.NumberColumn(T("active_customers"), format="localized"),
                     "retention_rate": st.column_config.NumberColumn(T("retention"), format="percent")})


# --------------------------------------------------------------------------- lifetime value


def _ltv(grain: Grain, f: data.Filters, currency: str | None, money_ok: bool) -> None:
    st.subheader(T("ltv"))
    st.caption(T("ltv_caption"))
    where, params = data.scoped(grain.columns("v"), f)
    source = (f"SELECT v.lifetime_value::DOUBLE AS ltv, v.orders, v.purchase_frequency_per_year AS per_year "
              f"FROM {grain.value} v LEFT JOIN marts.dim_customers c ON c.customer_id = v.customer_id {where}")
    needs = [grain.value, "marts.dim_customers"]
    stats = data.fetch(
        f"SELECT count(*) AS customers, median(ltv) AS median_ltv, avg(ltv) AS mean_ltv, avg(orders)::DOUBLE "
        f"AS avg_orders, median(per_year) AS per_year FROM ({source})", params, needs=needs).iloc[0]
    money = lambda v: i18n.money(v, currency)  # noqa: E731
    row = st.columns(5)
    ui.kpi(row[0], T("customers"), int(stats["customers"]), None, i18n.number)
    if money_ok:
        ui.kpi(row[1], T("median_ltv"), stats["median_ltv"], None, money)
        ui.kpi(row[2], T("mean_ltv"), stats["mean_ltv"], None, money)
    ui.kpi(row[3], T("avg_orders"), stats["avg_orders"], None, lambda v: i18n.number(v, 2))
    ui.kpi(row[4], T("per_year"), stats["per_year"], None, lambda v: i18n.number(v, 1))
    if not money_ok or not stats["customers"]:
        return
    histogram = data.fetch(
        f"WITH v AS ({source}), r AS (SELECT min(ltv) AS lo, (max(ltv) - min(ltv)) / {BINS} AS width FROM v), "
        f"b AS (SELECT CASE WHEN r.width > 0 THEN least(floor((v.ltv - r.lo) / r.width), {BINS - 1}) ELSE 0 END "
        "AS bucket, r.lo, r.width FROM v CROSS JOIN r) "
        "SELECT bucket, min(lo) + bucket * min(width) AS bin_from, min(lo) + (bucket + 1) * min(width) AS bin_to, "
        "count(*) AS customers FROM b GROUP BY bucket ORDER BY bucket", params, needs=needs)
    ui.chart(alt.Chart(histogram).mark_bar().encode(
        x=alt.X("bin_from:Q", bin="binned", title=f"{T('ltv')} ({currency})" if currency else T("ltv")),
        x2="bin_to:Q",
        y=alt.Y("customers:Q", title=T("customers")),
        tooltip=[alt.Tooltip("bin_from:Q", format=",.2f", title=T("ltv_from")),
                 alt.Tooltip("bin_to:Q", format=",.2f", title=T("ltv_to")),
                 alt.Tooltip("customers:Q", title=T("customers"))]))


# --------------------------------------------------------------------------- churn risk


def _churn(grain: Grain, f: data.Filters) -> None:
    st.subheader(T("churn"))
    where, params = _model_where(grain, f, "k")
    needs = ["marts.customer_churn_risk", "marts.dim_customers"]
    if grain.per_merchant:  # recency and frequency with the merchants in view, from their own orders
        own_where, own_params = data.scoped(data.Columns(merchant="m.merchant_id"), f)
        sql = ("SELECT c.customer_ref, k.customer_id, k.churn_probability, k.risk_band, own.recency_days, "
               "own.frequency FROM marts.customer_churn_risk k "
               "LEFT JOIN marts.dim_customers c ON c.customer_id = k.customer_id "
               "LEFT JOIN (SELECT m.customer_id, min(m.recency_days) AS recency_days, sum(m.frequency) AS frequency "
               f"FROM marts.merchant_customer_rfm m {own_where} GROUP BY 1) own ON own.customer_id = k.customer_id "
               f"{where} ORDER BY k.churn_probability DESC, k.customer_id LIMIT {CHURN_LIMIT}")
        params = own_params + params
        needs.append("marts.merchant_customer_rfm")
    else:
        sql = ("SELECT c.customer_ref, k.customer_id, k.churn_probability, k.risk_band, k.recency_days, k.frequency, "
               "k.rfm_segment FROM marts.customer_churn_risk k "
               f"LEFT JOIN marts.dim_customers c ON c.customer_id = k.customer_id {where} "
               f"ORDER BY k.churn_probability DESC, k.customer_id LIMIT {CHURN_LIMIT}")
    frame = data.fetch(sql, params, needs=needs)
    if frame.empty:
        st.info(T("churn_empty"))
        return
    st.caption(T("churn_caption"))
    frame["risk_band"] = frame["risk_band"].map(_label)
    if "rfm_segment" in frame:
        frame["rfm_segment"] = frame["rfm_segment"].map(_label)
    ui.table(frame, "churn_risk", column_config={
        "customer_ref": st.column_config.TextColumn(T("customer")),
        "customer_id": st.column_config.NumberColumn(T("customer_id"), format="%d"),
        "churn_probability": st.column_config.ProgressColumn(T("probability"), format="percent", min_value=0,
                                                             max_value=1),
        "risk_band": st.column_config.TextColumn(T("band")),
        "recency_days": st.column_config.NumberColumn(T("recency")),
        "frequency": st.column_config.NumberColumn(T("frequency")),
        "rfm_segment": st.column_config.TextColumn(T("rfm_segment"))})


def render() -> None:
    st.title(T("title"))
    with ui.friendly():
        f = filters.current()
        grain = _grain(f)
        ui.ignored_filters(data.Columns(merchant="merchant_id", region="c.region"), f)
        currency = filters.currency()
        money_ok = currency is not None
        if grain.per_merchant:
            st.caption(T("grain_merchant"))
        if not money_ok:
            st.warning(T("mixed_currency"))
        ui.section(lambda: _rfm(grain, f, currency, money_ok))
        ui.section(lambda: _movement(grain, f))
        ui.section(lambda: _weekly_moves(grain, f))
        ui.section(lambda: _clusters(grain, f, currency, money_ok))
        ui.section(lambda: _cohorts(grain, f))
        ui.section(lambda: _ltv(grain, f, currency, money_ok))
        ui.section(lambda: _churn(grain, f))


render()
