"""The API's part of the demo tour, on the simulated shop: `ecom api` is started, a channel places
orders over HTTP (a retry replayed by its Idempotency-Key, a refusal as problem+json), then a
few seconds of live traffic (orders, provider and carrier webhooks) arrive before the pipeline
runs, so the warehouse holds them too."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from rich.console import Console

from ops_store.api.background import background_api
from ops_store.db import Store
from ops_store.security.access import SYSTEM, acting_as
from ops_store.services import users
from ops_store.simulate.live import LiveShop, load_catalog

LIVE_SECONDS = 5
LIVE_RATE = 4


def demo_step(*, data_dir: Path, store_url: str, number: int, console: Console, serve: bool = False) -> None:
    console.print(f"[bold]{number}. The channel API[/bold]: orders, payments and tracking over HTTP")
    store = Store(store_url)
    try:
        with acting_as(SYSTEM):
            key = users.create_api_key(store, "demo web shop", channel="web", rate_limit=100_000,
                                       scopes=["orders.write", "orders.read", "stock.read"])["key"]
            catalog = load_catalog(store)
        with background_api({"OPS_STORE_URL": store_url, "ECOM_DATA_DIR": str(data_dir)}) as url:
            headers = {"Authorization": f"Bearer {key}"}
            merchant = sorted(catalog.merchants)[0]
            sku = catalog.merchants[merchant][0]
            document = {"channel": "web", "channel_order_ref": f"DEMO-API-{int(time.time())}", "merchant": merchant,
                        "customer_ref": catalog.customers[0], "lines": [{"sku": sku, "qty": 1}],
                        "delivery_option": catalog.delivery_options[0],
                        "payment": {"method": "card", "token": "tok_demo", "brand": "visa", "last4": "4242"}}
            with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
                first = http.post("/v1/orders", json=document, headers={"Idempotency-Key": "demo-1"})
                retry = http.post("/v1/orders", json=document, headers={"Idempotency-Key": "demo-1"})
                bad = http.post("/v1/orders", json={**document, "lines": [{"sku": sku, "qty": 0}]},
                                headers={"Idempotency-Key": "demo-2"})
            order = first.json()
            console.print(f"  POST /v1/orders: {first.status_code}, order {order['order_id']} {order['status']} "
                          f"(card {order['payment']['status']}); the retry with the same Idempotency-Key: "
                          f"{retry.status_code}, replayed={retry.headers.get('idempotent-replayed') == 'true'}, "
                          f"same body={retry.content == first.content}")
            console.print(f"  a refused order: {bad.status_code} {bad.headers['content-type']}: "
                          f"{bad.json()['detail']}")
            shop = LiveShop(store, url, key, rate=LIVE_RATE)
            stats = shop.run(LIVE_SECONDS)
            shop.chores()
            shop.close()
            sent = ", ".join(f"{k}: {v}" for k, v in sorted(stats.sent.items()))
            console.print(f"  {LIVE_SECONDS} s of live traffic: {sent}", soft_wrap=True)
        console.print(f"  Serve it with: OPS_STORE_URL={store_url} ecom api  (OpenAPI page /docs, customers' "
                      "site /account; docs/api.md)", soft_wrap=True)
    finally:
        store.dispose()
