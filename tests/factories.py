"""Builders for test data through the services (never by writing rows directly)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ops_store.db import Store
from ops_store.services import catalog, stock


@dataclass
class Shop:
    store: Store
    merchant: str = "M1"
    skus: tuple[str, ...] = ("SKU-1", "SKU-2", "SKU-3")


def make_shop(store: Store, *, stock_w1: int = 10, stock_w2: int = 5, tax_rate: str = "0") -> Shop:
    catalog.add_warehouse(store, "W1", "Main", priority=1)
    catalog.add_warehouse(store, "W2", "East", priority=2)
    catalog.add_merchant(store, "M1", "Shop One", currency="USD", tax_rate=tax_rate)
    catalog.add_product(store, "M1", "SKU-1", "Mug", "9.99", "5.00", category="kitchen")
    catalog.add_product(store, "M1", "SKU-2", "Plate", "15.00", "7.50", category="kitchen")
    catalog.add_product(store, "M1", "SKU-3", "Lamp", "40.00", "22.00", category="home")
    catalog.add_carrier(store, "FAST", "Fast Co")
    catalog.add_delivery_option(store, "standard", kind="standard", name="Standard", carrier="FAST",
                                price="4.90", promised_days=3)
    catalog.add_delivery_option(store, "express", kind="express", name="Express", carrier="FAST",
                                price="9.90", promised_days=1)
    for sku in ("SKU-1", "SKU-2", "SKU-3"):
        if stock_w1:
            stock.receive_stock(store, sku, "W1", stock_w1)
        if stock_w2:
            stock.receive_stock(store, sku, "W2", stock_w2)
    return Shop(store)


def order_doc(ref: str, lines: list[tuple[str, int]], *, method: str = "card", token: str = "tok_ok",
              channel: str = "web", customer: str = "C-1", **extra: Any) -> dict[str, Any]:
    payment: dict[str, Any] = {"method": method}
    if method in ("card", "e_wallet"):
        payment["token"] = token
    if method == "card":
        payment.update(brand="visa", last4="4242")
    doc = {
        "channel": channel, "channel_order_ref": ref, "merchant": "M1", "customer_ref": customer,
        "lines": [{"sku": s, "qty": q} for s, q in lines], "delivery_option": "standard", "payment": payment,
    }
    doc.update(extra)
    return doc
