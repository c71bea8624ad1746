"""Recommendations: what the recommender suggests for a customer, what is frequently bought together
with a product, and how the recommender scores against the popularity baseline. Customers appear by
id and pseudonymous reference only: no personal data on this page."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import data, filters, i18n, ui
from dashboards.i18n import Texts

T = Texts(
    en={"title": "Recommendations", "for_customer": "Recommended for a customer",
        "for_customer_help": "Up to 10 products per customer from item-based collaborative filtering on purchases "
                             "and product views (only active products in stock; a product the customer already "
                             "bought only when customers often buy it again). Rank is the order among the "
                             "products in view.",
        "recent_customer": "Recent customer", "customer_id": "…or a customer id",
        "customer_id_help": "Type any customer id; leave empty to use the list.",
        "recent_help": "The {limit} customers with the latest orders in the filters' period.",
        "no_customers": "No customers with recommendations ordered in this period.",
        "showing_customer": "Customer id {customer}", "no_recommendations": "No recommendations for this customer "
        "among the products in view.", "rank": "Rank", "sku": "SKU", "product": "Product", "category": "Category",
        "score": "Score", "source": "Source", "available": "Available", "repeat": "Often bought again",
        "bought_before": "Customer's orders of it", "item_neighbours": "similar to their purchases",
        "popular_fill": "popular (fill-in)",
        "bought_together": "Frequently bought together",
        "bought_together_help": "Products in the same orders (not cancelled) as the chosen one, at least 3 orders "
                                "together and lift above 1; lift = P(both) / (P(a) × P(b)), support = orders "
                                "with both, confidence = share of the product's orders that also hold the other.",
        "no_pairs": "No product in view is bought together with another often enough yet.",
        "recommended": "Recommended product", "support": "Orders together", "confidence": "Confidence",
        "lift": "Lift",
        "evaluation": "Recommender against the popularity baseline",
        "evaluation_help": "Time split: trained on everything before {cutoff}, tested on each customer's purchases "
                           "of new products in the {days} days from it ({customers} customers). Precision, recall "
                           "and NDCG at 10 with binary relevance; coverage = share of the active catalogue "
                           "recommended to someone.",
        "model": "Model", "kind": "Kind", "candidate": "model", "baseline": "baseline",
        "precision": "Precision@10", "recall": "Recall@10", "ndcg": "NDCG@10", "coverage": "Catalogue coverage",
        "ndcg_vs_popularity": "NDCG vs popularity", "customers_evaluated": "Customers evaluated",
        "metric": "Metric", "value": "Value", "popularity": "Popularity (most bought products)",
        "model_item_neighbours": "Item neighbours (collaborative filtering)", "goal_met": "NDCG@10 is {ratio}× the "
        "popularity baseline's (goal: 1.5× or more).", "goal_missed": "NDCG@10 is {ratio}× the popularity "
        "baseline's, below the goal of 1.5×.",
        "affinities": "Simulated shop: frequently bought together finds {found} of the {planted} planted product "
                      "pairs in its top 10.",
        "no_evaluation": "No evaluation yet: it needs a few weeks of purchases after a cut-off. "
                         "Run `ecom pipeline run` once the shop has more history."},
    zh={"title": "推荐", "for_customer": "为客户推荐",
        "for_customer_help": "基于购买和商品浏览的物品协同过滤，为每位客户推荐最多 10 件商品（仅限在售且有库存的商品；"
                             "客户已买过的商品仅在常被复购时推荐）。排名为当前范围内商品中的顺序。",
        "recent_customer": "近期客户", "customer_id": "…或输入客户 ID",
        "customer_id_help": "可输入任意客户 ID；留空则使用列表。",
        "recent_help": "所选期间内最近下单的 {limit} 位客户。",
        "no_customers": "此期间内没有有推荐结果的下单客户。",
        "showing_customer": "客户 ID {customer}", "no_recommendations": "当前范围内的商品中没有该客户的推荐。",
        "rank": "排名", "sku": "SKU", "product": "商品", "category": "品类", "score": "得分", "source": "来源",
        "available": "可用库存", "repeat": "常被复购", "bought_before": "该客户购买次数",
        "item_neighbours": "与其购买相似", "popular_fill": "热门（补足）",
        "bought_together": "经常一起购买",
        "bought_together_help": "与所选商品出现在同一（未取消）订单中的商品，至少同时出现在 3 个订单中且提升度大于 1；"
                                "提升度 = P(同时) / (P(a) × P(b))，支持度 = 同时包含两者的订单数，"
                                "置信度 = 该商品订单中同时包含另一商品的比例。",
        "no_pairs": "当前范围内还没有足够常一起购买的商品。",
        "recommended": "推荐商品", "support": "共同订单数", "confidence": "置信度", "lift": "提升度",
        "evaluation": "推荐模型对比热门基线",
        "evaluation_help": "时间切分：用 {cutoff} 之前的全部数据训练，用此后 {days} 天内每位客户对新商品的购买进行测试"
                           "（{customers} 位客户）。Precision、Recall 和 NDCG 均为前 10 名、二元相关性；"
                           "覆盖率 = 被推荐给至少一位客户的在售商品比例。",
        "model": "模型", "kind": "类型", "candidate": "模型", "baseline": "基线",
        "precision": "Precision@10", "recall": "Recall@10", "ndcg": "NDCG@10", "coverage": "商品覆盖率",
        "ndcg_vs_popularity": "NDCG 相对热门基线", "customers_evaluated": "评估客户数",
        "metric": "指标", "value": "数值", "popularity": "热门（购买最多的商品）",
        "model_item_neighbours": "物品近邻（协同过滤）",
        "goal_met": "NDCG@10 是热门基线的 {ratio} 倍（目标：1.5 倍或以上）。",
        "goal_missed": "NDCG@10 是热门基线的 {ratio} 倍，低于 1.5 倍的目标。",
        "affinities": "模拟店铺：“经常一起购买”在前 10 名中找回了 {planted} 对预设商品关联中的 {found} 对。",
        "no_evaluation": "尚无评估：需要截止日之后几周的购买数据。店铺历史更多后请运行 `ecom pipeline run`。"},
)

RECENT_CUSTOMERS = 100
GOAL_NDCG_RATIO = 1.5
CUSTOMERS = data.Columns(merchant="o.merchant_id", day="o.placed_on", channel="o.channel", region="c.region")
RECOMMENDED = data.Columns(merchant="r.merchant_id", category="r.category")
PRODUCTS = data.Columns(merchant="p.merchant_id", category="p.category")
PAIRED = data.Columns(merchant="q.merchant_id", category="q.category")  # the product recommended beside it
PORTAL = data.Columns(merchant=None)


def recent_customers(f: data.Filters) -> pd.DataFrame:
    """The customers with the latest orders in the period and scope who have recommendations in view."""
    where_o, params_o = data.scoped(CUSTOMERS, f, extra=["NOT o.is_cancelled"])
    where_r, params_r = data.scoped(RECOMMENDED, f, extra=["r.customer_id = o.customer_id"])
    return data.fetch(
        "SELECT o.customer_id, any_value(c.customer_ref) AS customer_ref, max(o.placed_at) AS last_order_at "
        f"FROM marts.fct_orders o LEFT JOIN marts.dim_customers c USING (customer_id) {where_o} "
        f"AND EXISTS (SELECT 1 FROM marts.customer_recommendations r {where_r}) "
        f"GROUP BY o.customer_id ORDER BY last_order_at DESC, o.customer_id LIMIT {RECENT_CUSTOMERS}",
        params_o + params_r, needs=["marts.fct_orders", "marts.dim_customers", "marts.customer_recommendations"])


def customer_recommendations(customer_id: int, f: data.Filters) -> pd.DataFrame:
    """The customer's recommendations among the products in view. A merchant user sees only its own
    products, and only for customers who bought from it."""
    where_r, params_r = data.scoped(RECOMMENDED, f, extra=["r.customer_id = ?"])
    where_o, params_o = data.scoped(data.Columns(merchant="o.merchant_id"), f)
    bought = ""
    if where_o:  # a merchant (chosen or bound): the customer must have ordered from it
        bought = f"AND EXISTS (SELECT 1 FROM marts.fct_orders o {where_o} AND o.customer_id = r.customer_id)"
    return data.fetch(
        "SELECT row_number() OVER (ORDER BY r.rank) AS rank, r.sku, r.product_name, r.category, r.score, "
        "r.source, r.available, r.is_repeat_product, r.customer_orders_of_product "
        f"FROM marts.customer_recommendations r {where_r} {bought} ORDER BY r.rank",
        [customer_id, *params_r, *params_o], needs=["marts.customer_recommendations", "marts.fct_orders"])


def _pick_customer(customers: pd.DataFrame) -> int | None:
    labels = {int(c): f"{ref} · #{int(c)}" if isinstance(ref, str) else f"#{int(c)}"
              for c, ref in zip(customers["customer_id"], customers["customer_ref"], strict=True)}
    left, right = st.columns([3, 2])
    picked = None
    if labels:
        if st.session_state.get("rec_customer") not in labels:
            st.session_state.pop("rec_customer", None)  # the filters changed: back to the latest customer
        picked = left.selectbox(T("recent_customer"), list(labels), format_func=labels.get, key="rec_customer",
                                help=T("recent_help", limit=RECENT_CUSTOMERS))
    else:
        left.caption(T("no_customers"))
    typed = right.number_input(T("customer_id"), min_value=1, value=None, step=1, format="%d",
                               key="rec_customer_id", help=T("customer_id_help"))
    chosen = typed if typed is not None else picked
    return None if chosen is None else int(chosen)


def _for_customer(f: data.Filters) -> None:
    st.subheader(T("for_customer"))
    st.caption(T("for_customer_help"))
    customer = _pick_customer(recent_customers(f))
    if customer is None:
        return
    rows = customer_recommendations(customer, f)
    st.markdown(f"**{T('showing_customer', customer=customer)}**")
    if rows.empty:
        st.caption(T("no_recommendations"))
        return
    rows["source"] = rows["source"].map(lambda s: T(s) if s in T.en else s)
    ui.table(rows, f"recommendations_customer_{customer}", column_config={
        "rank": st.column_config.NumberColumn(T("rank"), format="%d"),
        "sku": st.column_config.TextColumn(T("sku")),
        "product_name": st.column_config.TextColumn(T("product")),
        "category": st.column_config.TextColumn(T("category")),
        "score": st.column_config.NumberColumn(T("score"), format="%.3f"),
        "source": st.column_config.TextColumn(T("source")),
        "available": st.column_config.NumberColumn(T("available"), format="%d"),
        "is_repeat_product": st.column_config.CheckboxColumn(T("repeat")),
        "customer_orders_of_product": st.column_config.NumberColumn(T("bought_before"), format="%d")})


def paired_products(f: data.Filters) -> pd.DataFrame:
    """Products in view with "bought together" pairs in view, the most orders together first."""
    where_p, params_p = data.scoped(PRODUCTS, f)
    where_q, params_q = data.scoped(PAIRED, f)
    return data.fetch(
        "SELECT p.product_id, p.sku, p.product_name, sum(r.support) AS support "
        "FROM marts.product_recommendations r JOIN marts.dim_products p ON p.product_id = r.product_id "
        f"JOIN marts.dim_products q ON q.product_id = r.recommended_product_id {data.all_of(where_p, where_q)} "
        "GROUP BY ALL ORDER BY support DESC, p.sku LIMIT 1000",
        params_p + params_q, needs=["marts.product_recommendations", "marts.dim_products"])


def bought_together(product_id: int, f: data.Filters) -> pd.DataFrame:
    where_p, params_p = data.scoped(PRODUCTS, f, extra=["r.product_id = ?"])
    where_q, params_q = data.scoped(PAIRED, f)
    return data.fetch(
        "SELECT row_number() OVER (ORDER BY r.rank) AS rank, r.recommended_sku, r.recommended_product_name, "
        "r.support, r.confidence, r.score AS lift "
        "FROM marts.product_recommendations r JOIN marts.dim_products p ON p.product_id = r.product_id "
        f"JOIN marts.dim_products q ON q.product_id = r.recommended_product_id {data.all_of(where_p, where_q)} "
        "ORDER BY r.rank", [product_id, *params_p, *params_q],
        needs=["marts.product_recommendations", "marts.dim_products"])


def _bought_together(f: data.Filters) -> None:
    st.subheader(T("bought_together"))
    st.caption(T("bought_together_help"))
    products = paired_products(f)
    if products.empty:
        st.caption(T("no_pairs"))
        return
    labels = {int(p): f"{s} · {n}" for p, s, n in
              zip(products["product_id"], products["sku"], products["product_name"], strict=True)}
    if st.session_state.get("rec_product") not in labels:
        st.session_state.pop("rec_product", None)
    product = int(st.selectbox(T("product"), list(labels), format_func=labels.get, key="rec_product"))
    rows = bought_together(product, f)
    if rows.empty:
        st.caption(i18n.COMMON("no_rows"))
        return
    left, right = st.columns([3, 2])
    with left:
        ui.table(rows, f"bought_together_{product}", column_config={
            "rank": st.column_config.NumberColumn(T("rank"), format="%d"),
            "recommended_sku": st.column_config.TextColumn(T("sku")),
            "recommended_product_name": st.column_config.TextColumn(T("recommended")),
            "support": st.column_config.NumberColumn(T("support"), format="%d"),
            "confidence": st.column_config.NumberColumn(T("confidence"), format="percent"),
            "lift": st.column_config.NumberColumn(T("lift"), format="%.2f")})
    with right:
        ui.chart(alt.Chart(rows).mark_bar().encode(
            x=alt.X("lift:Q", title=T("lift")),
            y=alt.Y("recommended_product_name:N", title=None, sort="-x"),
            color=alt.Color("confidence:Q", title=T("confidence"), legend=alt.Legend(format="%")),
            tooltip=[alt.Tooltip("recommended_sku:N", title=T("sku")),
                     alt.Tooltip("recommended_product_name:N", title=T("recommended")),
                     alt.Tooltip("lift:Q", format=".2f", title=T("lift")),
                     alt.Tooltip("support:Q", title=T("support")),
                     alt.Tooltip("confidence:Q", format=".0%", title=T("confidence"))]))


def _evaluation() -> None:
    st.subheader(T("evaluation"))
    where, params = data.scoped(PORTAL, None)  # a merchant user gets the "whole shop only" note
    rows = data.fetch(
        "SELECT model, is_candidate, cutoff_on, test_days, customers_evaluated, precision_at_10, recall_at_10, "
        "ndcg_at_10, catalogue_coverage, ndcg_vs_popularity, planted_affinities, affinities_recovered "
        f"FROM marts.recommendation_accuracy {where} ORDER BY NOT is_candidate, model",
        params, needs=["marts.recommendation_accuracy"])
    if rows.empty:
        st.info(T("no_evaluation"))
        return
    first = rows.iloc[0]
    st.caption(T("evaluation_help", cutoff=i18n.day(pd.Timestamp(first["cutoff_on"]).date()),
                 days=int(first["test_days"]), customers=i18n.number(first["customers_evaluated"])))
    candidate = rows[rows["is_candidate"].astype(bool)]
    if not candidate.empty and not pd.isna(candidate["ndcg_vs_popularity"].iloc[0]):
        ratio = float(candidate["ndcg_vs_popularity"].iloc[0])
        (st.success if ratio >= GOAL_NDCG_RATIO else st.warning)(
            T("goal_met" if ratio >= GOAL_NDCG_RATIO else "goal_missed", ratio=i18n.number(ratio, 2)))
        planted, found = candidate["planted_affinities"].iloc[0], candidate["affinities_recovered"].iloc[0]
        if not pd.isna(planted) and int(planted) > 0:
            st.caption(T("affinities", found=int(found) if not pd.isna(found) else 0, planted=int(planted)))
    models = {"item_neighbours": T("model_item_neighbours"), "popularity": T("popularity")}
    rows["model_name"] = rows["model"].map(lambda m: models.get(m, m))
    rows["kind"] = rows["is_candidate"].map(lambda c: T("candidate") if c else T("baseline"))
    shown = rows[["model_name", "kind", "precision_at_10", "recall_at_10", "ndcg_at_10", "catalogue_coverage",
                  "ndcg_vs_popularity", "customers_evaluated"]]
    ui.table(shown, "recommendation_accuracy", column_config={
        "model_name": st.column_config.TextColumn(T("model")),
        "kind": st.column_config.TextColumn(T("kind")),
        "precision_at_10": st.column_config.NumberColumn(T("precision"), format="percent"),
        "recall_at_10": st.column_config.NumberColumn(T("recall"), format="percent"),
        "ndcg_at_10": st.column_config.NumberColumn(T("ndcg"), format="%.3f"),
        "catalogue_coverage": st.column_config.NumberColumn(T("coverage"), format="percent"),
        "ndcg_vs_popularity": st.column_config.NumberColumn(T("ndcg_vs_popularity"), format="%.2f×"),
        "customers_evaluated": st.column_config.NumberColumn(T("customers_evaluated"), format="%d")})
    names = {"precision_at_10": T("precision"), "recall_at_10": T("recall"), "ndcg_at_10": T("ndcg"),
             "catalogue_coverage": T("coverage")}
    long = rows.melt(id_vars=["model_name"], value_vars=list(names), var_name="metric", value_name="value")
    long["metric"] = long["metric"].map(names)
    ui.chart(alt.Chart(long).mark_bar().encode(
        x=alt.X("value:Q", title=T("value"), axis=alt.Axis(format="%")),
        y=alt.Y("metric:N", title=None, sort=list(names.values())),
        yOffset=alt.YOffset("model_name:N"),
        color=alt.Color("model_name:N", title=T("model")),
        tooltip=[alt.Tooltip("model_name:N", title=T("model")), alt.Tooltip("metric:N", title=T("metric")),
                 alt.Tooltip("value:Q", format=".3f", title=T("value"))]))


def render() -> None:
    st.title(T("title"))
    with ui.friendly():
        f = filters.current()
        ui.section(lambda: _for_customer(f))
        ui.section(lambda: _bought_together(f))
        ui.section(_evaluation)


render()
