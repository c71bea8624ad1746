"""list_reviews(customer_id=...): one customer's reviews (Customer 360), still cut to a merchant's
own products for a merchant user; on both store backends."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from ops_store.db import Store
from ops_store.models import Customer, Merchant
from ops_store.security.access import Principal, acting_as
from ops_store.services import catalog, feedback, orders, stock
from tests.factories import order_doc


def _customer(store: Store, ref: str, sku: str, merchant: str = "M1") -> int:
    view = orders.place_order(store, order_doc(f"O-{ref}-{sku}", [(sku, 1)], customer=ref, merchant=merchant))
    with store.read() as session:
        return session.scalar(select(Customer.id).where(Customer.customer_ref == view["customer_ref"]))  # type: ignore[return-value]


def test_reviews_of_one_customer_keep_the_merchant_scope(shop) -> None:
    store = shop.store
    catalog.add_merchant(store, "M2", "Shop Two", currency="USD")
    catalog.add_product(store, "M2", "TEE-1", "Tee", "20.00", "8.00")
    stock.receive_stock(store, "TEE-1", "W1", 10)
    ann = _customer(store, "C-ANN", "SKU-1")
    _customer(store, "C-ANN", "TEE-1", merchant="M2")
    bob = _customer(store, "C-BOB", "SKU-1")
    feedback.add_review(store, ann, "SKU-1", 5, "Lovely mug")
    feedback.add_review(store, ann, "TEE-1", 2, "Shrank")
    feedback.add_review(store, bob, "SKU-1", 3, None)

    mine = feedback.list_reviews(store, customer_id=ann)
    assert sorted(r["sku"] for r in mine["reviews"]) == ["SKU-1", "TEE-1"]
    assert {r["customer_id"] for r in mine["reviews"]} == {ann}
    assert (mine["count"], mine["average_rating"]) == (2, Decimal("3.50"))
    assert mine["ratings"] == {"1": 0, "2": 1, "3": 0, "4": 0, "5": 1}
    assert feedback.list_reviews(store, "SKU-1", customer_id=bob)["count"] == 1
    assert feedback.list_reviews(store, "TEE-1", customer_id=bob)["count"] == 0
    assert feedback.list_reviews(store)["count"] == 3  # without the argument: every review, as before

    with store.read() as session:
        m1 = session.scalar(select(Merchant.id).where(Merchant.code == "M1"))
    with acting_as(Principal("user:m1", "merchant", merchant_id=m1)):
        scoped = feedback.list_reviews(store, customer_id=ann)
    assert [r["sku"] for r in scoped["reviews"]] == ["SKU-1"]
    assert (scoped["count"], scoped["average_rating"]) == (1, Decimal("5.00"))
