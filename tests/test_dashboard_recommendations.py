"""Recommendations page: a customer's recommendations, frequently bought together, and the
recommender against the popularity baseline, scoped to the user's merchant, without personal data."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from dashboards.i18n import COMMON
from tests.dashboard_support import DashboardShop, mentions, open_page, page_text, principal, query_frame

# the first dashboard test of a run waits for the shared shop's build (simulation, pipeline, models)
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900), pytest.mark.xdist_group("built-shop")]


def _table(at: Any, column: str) -> pd.DataFrame:
    """The one table on the page with ``column`` (stricter than table_with: there must be exactly one)."""
    tables = [d.value for d in at.dataframe if column in d.value.columns]
    assert len(tables) == 1, [list(d.value.columns) for d in at.dataframe]
    return tables[0]


def _recommended(shop: DashboardShop, customer: int, merchant: int | None = None) -> list[str]:
    """The customer's recommended SKUs in rank order; for a merchant only its products, and only
    when the customer bought from it."""
    if merchant is None:
        sql, params = "SELECT sku FROM marts.customer_recommendations WHERE customer_id = ? ORDER BY rank", [customer]
    else:
        sql = ("SELECT sku FROM marts.customer_recommendations r WHERE customer_id = ? AND merchant_id = ? "
               "AND EXISTS (SELECT 1 FROM marts.fct_orders o WHERE o.customer_id = r.customer_id "
               "AND o.merchant_id = ?) ORDER BY rank")
        params = [customer, merchant, merchant]
    return query_frame(shop, sql, params)["sku"].tolist()


@pytest.mark.parametrize("role", ["admin", "merchant", "analyst", "support"])
def test_recommendations_page_renders_for_every_role_with_customers_read(dashboard_env: DashboardShop,
                                                                         role: str) -> None:
    at = open_page("recommendations", principal(role, 1))
    assert not at.exception, at.exception
    assert at.title[0].value == "Recommendations"
    assert at.selectbox(key="rec_customer").value is not None
    assert len(_table(at, "product_name")) > 0
    assert len(_table(at, "recommended_sku")) > 0
    info = " ".join(i.value for i in at.info)
    if role == "merchant":  # the evaluation pools every merchant's customers
        assert COMMON.en["portal_only"] in info
        assert not [d for d in at.dataframe if "ndcg_at_10" in d.value.columns]
    else:
        assert COMMON.en["portal_only"] not in info
        expected = query_frame(dashboard_env, "SELECT precision_at_10, recall_at_10, ndcg_at_10, catalogue_coverage "
                                              "FROM marts.recommendation_accuracy ORDER BY NOT is_candidate, model")
        shown = _table(at, "ndcg_at_10")
        for column in expected.columns:
            assert shown[column].round(6).tolist() == expected[column].round(6).tolist()


def test_choosing_another_customer_changes_the_list(dashboard_env: DashboardShop) -> None:
    at = open_page("recommendations", principal("analyst"))
    f = at.session_state["filters"]
    latest = query_frame(dashboard_env, (
        "SELECT o.customer_id FROM marts.fct_orders o WHERE NOT o.is_cancelled AND o.placed_on BETWEEN ? AND ? "
        "AND o.customer_id IN (SELECT customer_id FROM marts.customer_recommendations) "
        "GROUP BY 1 ORDER BY max(o.placed_at) DESC, 1 LIMIT 100"), [f.start, f.end])["customer_id"].tolist()
    picker = at.selectbox(key="rec_customer")
    assert len(picker.options) == len(latest)
    assert picker.value == latest[0]
    first = _table(at, "product_name")["sku"].tolist()
    assert first == _recommended(dashboard_env, latest[0])
    assert _table(at, "product_name")["rank"].tolist() == list(range(1, len(first) + 1))

    other = next(c for c in latest[1:] if _recommended(dashboard_env, c) != first)
    picker.set_value(other).run()
    assert not at.exception
    assert _table(at, "product_name")["sku"].tolist() == _recommended(dashboard_env, other)

    # any customer by id, even one without an order in the period
    quiet = int(query_frame(dashboard_env, "SELECT min(customer_id) FROM marts.customer_recommendations "
                                           "WHERE customer_id NOT IN (SELECT customer_id FROM marts.fct_orders "
                                           "WHERE placed_on BETWEEN ? AND ?)", [f.start, f.end]).iloc[0, 0])
    at.number_input(key="rec_customer_id").set_value(quiet).run()
    assert not at.exception
    assert _table(at, "product_name")["sku"].tolist() == _recommended(dashboard_env, quiet)
    assert f"Customer id {quiet}" in [m.value.strip("*") for m in at.markdown]


def test_frequently_bought_together_follows_the_product(dashboard_env: DashboardShop) -> None:
    at = open_page("recommendations", principal("admin"))
    picker = at.selectbox(key="rec_product")
    pairs = query_frame(dashboard_env, "SELECT product_id, recommended_sku, support, confidence, score "
                                       "FROM marts.product_recommendations ORDER BY product_id, rank")
    most = pairs.groupby("product_id")["support"].sum().sort_values(ascending=False)
    assert picker.value == int(most.index[0])
    for product in (int(most.index[0]), int(most.index[-1])):
        picker.set_value(product).run()
        assert not at.exception
        shown = _table(at, "recommended_sku")
        expected = pairs[pairs["product_id"] == product]
        assert shown["recommended_sku"].tolist() == expected["recommended_sku"].tolist()
        assert shown["support"].tolist() == expected["support"].tolist()
        assert shown["lift"].round(6).tolist() == expected["score"].round(6).tolist()
        picker = at.selectbox(key="rec_product")


def test_merchant_sees_none_of_another_merchants_products(dashboard_env: DashboardShop) -> None:
    at = open_page("recommendations", principal("merchant", 1))
    assert not at.exception
    others = query_frame(dashboard_env, "SELECT sku, product_name FROM marts.dim_products WHERE merchant_id <> 1")
    names = [*others["sku"], *others["product_name"]]

    def no_leak() -> None:
        text = page_text(at)
        assert not mentions(text, names)

    no_leak()
    customers = set(query_frame(dashboard_env, "SELECT DISTINCT customer_id FROM marts.fct_orders "
                                               "WHERE merchant_id = 1")["customer_id"])
    picker = at.selectbox(key="rec_customer")
    assert picker.value in customers
    assert _table(at, "product_name")["sku"].tolist() == _recommended(dashboard_env, picker.value, merchant=1)

    # a customer of both merchants: only merchant 1's products, re-ranked among them
    both = int(query_frame(dashboard_env, (
        "SELECT r.customer_id FROM marts.customer_recommendations r "
        "WHERE r.customer_id IN (SELECT customer_id FROM marts.fct_orders WHERE merchant_id = 1) "
        "GROUP BY 1 HAVING count(*) FILTER (WHERE r.merchant_id = 1) > 0 "
        "AND count(*) FILTER (WHERE r.merchant_id <> 1) > 0 ORDER BY 1 LIMIT 1")).iloc[0, 0])
    at.number_input(key="rec_customer_id").set_value(both).run()
    assert not at.exception
    shown = _table(at, "product_name")
    assert shown["sku"].tolist() == _recommended(dashboard_env, both, merchant=1)
    assert shown["rank"].tolist() == list(range(1, len(shown) + 1))
    no_leak()

    # a customer who never bought from merchant 1: nothing, whatever their recommendations hold
    stranger = int(query_frame(dashboard_env, (
        "SELECT min(customer_id) FROM marts.customer_recommendations WHERE merchant_id = 1 "
        "AND customer_id NOT IN (SELECT customer_id FROM marts.fct_orders WHERE merchant_id = 1)")).iloc[0, 0])
    at.number_input(key="rec_customer_id").set_value(stranger).run()
    assert not at.exception
    assert not [d for d in at.dataframe if "product_name" in d.value.columns]
    assert any("No recommendations for this customer" in c.value for c in at.caption)

    own = query_frame(dashboard_env, "SELECT product_id FROM marts.dim_products WHERE merchant_id = 1")["product_id"]
    assert set(at.selectbox(key="rec_product").options) and at.selectbox(key="rec_product").value in set(own)
    no_leak()


def test_category_filter_narrows_the_recommendations(dashboard_env: DashboardShop) -> None:
    at = open_page("recommendations", principal("admin"))
    customer = at.selectbox(key="rec_customer").value
    at.number_input(key="rec_customer_id").set_value(customer).run()  # keep this customer whatever the list
    categories = query_frame(dashboard_env, "SELECT category, count(*) AS n FROM marts.customer_recommendations "
                                            "WHERE customer_id = ? GROUP BY 1 ORDER BY n DESC, 1", [customer])
    category = categories["category"].iloc[0]
    at.sidebar.multiselect(key="filter_categories").set_value([category]).run()
    assert not at.exception
    expected = query_frame(dashboard_env, "SELECT sku FROM marts.customer_recommendations WHERE customer_id = ? "
                                          "AND category = ? ORDER BY rank", [customer, category])["sku"].tolist()
    assert _table(at, "product_name")["sku"].tolist() == expected
    if len(categories) > 1:
        assert len(expected) < len(_recommended(dashboard_env, customer))


def test_no_personal_data_on_the_page(dashboard_env: DashboardShop) -> None:
    from ops_store.models import Customer

    at = open_page("recommendations", principal("support"))  # support may read personal data elsewhere
    listed = [int(c) for c in query_frame(dashboard_env, (
        "SELECT customer_id FROM marts.dim_customers WHERE customer_ref IN ?"),
        [[o.split(" · ")[0] for o in at.selectbox(key="rec_customer").options]])["customer_id"]]
    assert at.selectbox(key="rec_customer").value in listed
    text = page_text(at)
    store = dashboard_env.store()
    try:
        with store.read() as session:
            people = [session.get(Customer, c) for c in listed[:20]]
            personal = [store.cipher.decrypt(v) for p in people for v in (p.name_enc, p.email_enc, p.phone_enc)]
    finally:
        store.dispose()
    personal = [v for v in personal if v]
    assert personal, "the fixture's customers have personal data to leak"
    assert not [v for v in personal if v in text]
    refs = query_frame(dashboard_env, "SELECT customer_ref FROM marts.dim_customers WHERE customer_id IN ?",
                       [listed[:20]])["customer_ref"]
    assert all(ref in text for ref in refs)


def test_recommendations_speak_chinese(dashboard_env: DashboardShop) -> None:
    at = open_page("recommendations", principal("analyst"), lang="zh")
    assert not at.exception
    assert at.title[0].value == "推荐"
    assert {s.value for s in at.subheader} >= {"为客户推荐", "经常一起购买", "推荐模型对比热门基线"}
    assert at.selectbox(key="rec_customer").label == "近期客户"
    assert set(_table(at, "product_name")["source"]) <= {"与其购买相似", "热门（补足）"}
