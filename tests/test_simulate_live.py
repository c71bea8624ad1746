"""`ecom simulate --live` against a running `ecom api` on both backends: orders arrive through
the API, pending payments are settled by the provider's signed webhook, the warehouse ships, and
parcels are delivered by the carrier's webhooks, duplicates and overtaking steps included."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ops_store.db import Store
from ops_store.models import InboundEvent, Order, Payment, Shipment
from ops_store.services import customers, stock
from ops_store.simulate.live import LiveShop
from tests.api_support import live_api, make_key
from tests.factories import make_shop

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_live_traffic_moves_orders_payments_and_parcels_through_the_api(store: Store):
    make_shop(store, stock_w1=5000, stock_w2=0)
    for n in range(5):
        customers.add_customer(store, name=f"Live Buyer {n}", email=f"live{n}@example.org", customer_ref=f"LB-{n}")
    key = make_key(store, scopes=("orders.write", "orders.read"), rate_limit=100_000)
    with live_api({"OPS_STORE_URL": store.url}) as url:
        shop = LiveShop(store, url, key, rate=20, seed=3)
        stats = shop.run(duration_s=4)
        for _ in range(6):  # the parcels shipped at the end walk their remaining steps
            shop.chores()
        shop.close()
    sent = stats.sent
    assert sent["orders 201"] >= 60 and not [k for k in sent if k.startswith("orders") and "201" not in k
                                               and k != "orders shipped"], sent
    assert not [k for k in sent if "failed" in k or k.endswith((" 500", " 401", " 422"))], sent
    with store.read() as session:
        placed = session.scalar(select(func.count()).select_from(Order))
        by_source = dict(session.execute(select(InboundEvent.source, func.count()).group_by(InboundEvent.source)).all())
        delivered = session.scalar(select(func.count()).select_from(Shipment).where(Shipment.status == "delivered"))
        settled_by_webhook = session.scalar(select(func.count()).select_from(Payment).where(
            Payment.provider_ref.like("fake_live_%")))
    assert placed == sent["orders 201"]
    assert by_source.get("payments:fake", 0) >= 5 and settled_by_webhook >= 3
    assert by_source.get("carrier:FAST", 0) >= 20 and delivered >= 5
    assert sent["tracking duplicate"] + sent["payments duplicate"] >= 0  # duplicates, when sent, were answered
    levels = stock.stock_show(store, "SKU-1")
    assert all(level["on_hand"] >= 0 and level["reserved"] >= 0 for level in levels)


def test_live_mode_says_what_is_missing(store: Store, cli_invoke):  # type: ignore[no-untyped-def]
    from ops_store.api.background import free_port
    from ops_store.cli.main import app

    nowhere = f"http://127.0.0.1:{free_port()}"
    empty = cli_invoke(app, "simulate", "--live", "--duration", "1", "--api-url", nowhere, ok=False)
    assert empty["error"]["field"] == "store" and "ecom simulate" in empty["error"]["message"]
    make_shop(store)
    refused = cli_invoke(app, "simulate", "--live", "--duration", "1", "--api-url", nowhere, ok=False)
    assert refused["error"]["field"] == "api_url" and "ecom api" in refused["error"]["message"]
