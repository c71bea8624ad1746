"""Customer 360: find a customer through the store's blind index, masked personal data unless the
role may reveal it (each reveal audited once), the customer's activity live from the store, and a
merchant that can open only its own buyers."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from ops_store.db import Store
from ops_store.models import AuditEntry
from ops_store.security.access import Principal, acting_as
from ops_store.security.masking import mask_email, mask_name
from ops_store.services.customers import show_customer
from tests.dashboard_support import DashboardShop, metrics, open_page, page_text, principal, query_frame, table_with

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900), pytest.mark.xdist_group("built-shop")]

ADMIN = Principal("user:test-admin", "admin")


def _rows(store: Store, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(sql, params).fetchall()]


def _both_merchants_customer(store: Store) -> int:
    """A customer with orders at both merchants, tickets and reviews at merchant 1, and a ticket or
    review at merchant 2 (so a merchant-1 user has something to be kept from)."""
    review_at = "SELECT 1 FROM reviews r JOIN products p ON p.id = r.product_id WHERE r.customer_id = c.id AND " \
                "p.merchant_id = {m}"
    ticket_at = "SELECT 1 FROM tickets t WHERE t.customer_id = c.id AND t.merchant_id = {m}"
    return _rows(store, "SELECT c.id FROM customers c WHERE "
                        "EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.merchant_id = 1) AND "
                        "EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.merchant_id = 2) AND "
                        f"EXISTS ({review_at.format(m=1)}) AND EXISTS ({ticket_at.format(m=1)}) AND "
                        f"(EXISTS ({review_at.format(m=2)}) OR EXISTS ({ticket_at.format(m=2)})) "
                        "ORDER BY c.id LIMIT 1")[0][0]


def _merchant_two_only_customer(store: Store) -> int:
    return _rows(store, "SELECT c.id FROM customers c WHERE "
                        "EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.merchant_id = 2) AND NOT "
                        "EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.merchant_id = 1) "
                        "ORDER BY c.id LIMIT 1")[0][0]


def _clear(store: Store, customer_id: int) -> dict[str, Any]:
    with acting_as(ADMIN):
        return show_customer(store, customer_id, clear=True)


def _find(at: AppTest, by: str, query: str) -> AppTest:
    at.radio(key="c360_by").set_value(by)
    at.text_input(key="c360_query").input(query)
    at.button(key="c360_find").click().run()
    assert not at.exception, at.exception
    return at


def _profile_text(at: AppTest) -> str:
    return "\n".join([h.value for h in at.subheader] + [m.value for m in at.markdown])


def _reveals(store: Store, actor: str, customer_id: int) -> int:
    with store.read() as session:
        return session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "pii.read", AuditEntry.actor == actor, AuditEntry.target_type == "customer",
            AuditEntry.target_id == str(customer_id)))  # type: ignore[return-value]


def test_analyst_finds_by_email_and_phone_and_sees_masked_data_only(dashboard_env: DashboardShop) -> None:
    store = dashboard_env.store()
    customer_id = _both_merchants_customer(store)
    person = _clear(store, customer_id)

    at = open_page("customer_360", principal("analyst"))
    assert not at.exception and at.info  # nothing chosen yet: how to start
    _find(at, "email", person["email"].upper())  # the blind index matches the normalised address
    profile = _profile_text(at)
    assert person["customer_ref"] in profile and mask_name(person["name"]) in profile
    assert mask_email(person["email"]) in profile
    assert person["name"] not in profile and person["email"] not in profile and person["phone"] not in profile
    assert person["phone"] not in page_text(at)
    assert "c360_reveal" not in [b.key for b in at.button]
    assert any("masked" in c.value for c in at.caption)

    orders = [r[0] for r in _rows(store, "SELECT id FROM orders WHERE customer_id = ? ORDER BY id DESC LIMIT 50",
                                  customer_id)]
    assert table_with(at, "placed_at")["order_id"].tolist() == orders
    shipments = _rows(store, "SELECT tracking_number FROM shipments WHERE order_id IN "
                             f"({', '.join('?' * min(5, len(orders)))})", *orders[:5])
    assert sorted(table_with(at, "tracking_number")["tracking_number"]) == sorted(s[0] for s in shipments)
    tickets = _rows(store, "SELECT id FROM tickets WHERE customer_id = ?", customer_id)
    assert sorted(table_with(at, "ticket_id")["ticket_id"]) == sorted(t[0] for t in tickets)
    (reviews,), = _rows(store, "SELECT count(*) FROM reviews WHERE customer_id = ?", customer_id)
    figures = metrics(at)
    assert figures["Reviews"] == str(reviews)
    (balance,), = _rows(store, "SELECT coalesce(max(balance), 0) FROM loyalty_accounts WHERE customer_id = ?",
                        customer_id)
    assert figures["Points balance"] == f"{balance:,}"
    recommended = query_frame(dashboard_env, "SELECT sku FROM marts.customer_recommendations WHERE customer_id = ? "
                                             "ORDER BY rank LIMIT 10", [customer_id])["sku"].tolist()
    assert table_with(at, "is_repeat_product")["sku"].tolist() == recommended

    again = _find(open_page("customer_360", principal("analyst")), "phone", person["phone"])
    assert person["customer_ref"] in _profile_text(again)


def test_support_reveals_once_per_customer_and_each_reveal_is_audited(dashboard_env: DashboardShop) -> None:
    store = dashboard_env.store()
    customer_id = _both_merchants_customer(store)
    other_id = _merchant_two_only_customer(store)
    person = _clear(store, customer_id)
    actor = "user:support-user"
    before = _reveals(store, actor, customer_id)

    at = _find(open_page("customer_360", principal("support")), "id", str(customer_id))
    assert person["name"] not in _profile_text(at)
    assert _reveals(store, actor, customer_id) == before  # finding and the masked view are not audited
    at.button(key="c360_reveal").click().run()
    assert not at.exception, at.exception
    profile = _profile_text(at)
    assert person["name"] in profile and person["email"] in profile and person["phone"] in profile
    assert _reveals(store, actor, customer_id) == before + 1
    assert set(at.session_state["revealed"]) == {customer_id}

    at.run()  # a rerun shows the revealed profile from the session, without another audited read
    assert person["email"] in _profile_text(at)
    assert "c360_reveal" not in [b.key for b in at.button]
    assert _reveals(store, actor, customer_id) == before + 1

    other = _clear(store, other_id)
    other_before = _reveals(store, actor, other_id)
    _find(at, "ref", other["customer_ref"])  # a new customer needs a new reveal
    assert other["name"] not in _profile_text(at) and "c360_reveal" in [b.key for b in at.button]
    assert _reveals(store, actor, other_id) == other_before


def test_merchant_opens_only_its_own_buyers(dashboard_env: DashboardShop) -> None:
    store = dashboard_env.store()
    foreign = _merchant_two_only_customer(store)
    stranger = _clear(store, foreign)
    shared = _both_merchants_customer(store)

    at = open_page("customer_360", principal("merchant", 1))
    for by, query, message in (("id", str(foreign), f"customer {foreign} does not exist"),
                               ("ref", stranger["customer_ref"], "No customer with reference"),
                               ("email", stranger["email"], "No customer with this email")):
        _find(at, by, query)
        assert any(message in w.value for w in at.warning), (by, [w.value for w in at.warning])
        assert stranger["customer_ref"] not in _profile_text(at)
        assert not at.dataframe

    _find(at, "id", str(shared))
    assert not at.warning
    assert "c360_reveal" not in [b.key for b in at.button]  # merchants may not see personal data
    orders = table_with(at, "placed_at")
    own = [r[0] for r in _rows(store, "SELECT id FROM orders WHERE customer_id = ? AND merchant_id = 1 "
                                      "ORDER BY id DESC LIMIT 50", shared)]
    assert orders["order_id"].tolist() == own and set(orders["merchant"]) == {"sim-shop-01"}
    assert set(table_with(at, "ticket_id")["merchant"]) == {"sim-shop-01"}
    assert set(table_with(at, "verified_purchase")["merchant"]) == {"sim-shop-01"}
    (reviews, all_reviews, tickets, all_tickets), = _rows(
        store, "SELECT (SELECT count(*) FROM reviews r JOIN products p ON p.id = r.product_id "
               "WHERE r.customer_id = ? AND p.merchant_id = 1), (SELECT count(*) FROM reviews WHERE customer_id = ?), "
               "(SELECT count(*) FROM tickets WHERE customer_id = ? AND merchant_id = 1), "
               "(SELECT count(*) FROM tickets WHERE customer_id = ?)", shared, shared, shared, shared)
    assert metrics(at)["Reviews"] == str(reviews)
    assert len(table_with(at, "ticket_id")) == tickets
    assert (reviews, tickets) != (all_reviews, all_tickets)
    text = page_text(at)
    others = _rows(store, "SELECT p.sku, p.name FROM products p WHERE p.merchant_id <> 1")
    assert not [p for sku, name in others for p in (sku, name) if p in text]
    assert "sim-shop-02" not in text


def test_customer_360_speaks_chinese(dashboard_env: DashboardShop) -> None:
    store = dashboard_env.store()
    at = open_page("customer_360", principal("support"), lang="zh")
    assert [t.value for t in at.title] == ["客户 360"]
    _find(at, "id", "not-a-number")
    assert [w.value for w in at.warning] == ["客户 ID 必须是整数。"]
    _find(at, "id", str(_both_merchants_customer(store)))
    assert {"订单", "工单与沟通", "评价", "会员积分", "推荐"} <= {t.label for t in at.tabs}
    assert "积分余额" in {m.label for m in at.metric}
    assert at.button(key="c360_reveal").label == "显示个人数据"
