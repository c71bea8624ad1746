"""The README demo on the embedded defaults: a store, a sample shop, orders through their life,
and the stock afterwards. Everything goes through the services, as a channel or operator would."""

from __future__ import annotations

import json
from datetime import timedelta
from importlib import resources
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ops_store.backup import backup
from ops_store.db import Store
from ops_store.errors import DomainError
from ops_store.migrate import upgrade
from ops_store.security.access import Principal, acting_as
from ops_store.services import (
    campaigns,
    catalog,
    coupons,
    customers,
    feedback,
    loyalty,
    orders,
    replenishment,
    returns,
    shipping,
    stock,
    tickets,
)
from ops_store.settings import StoreSettings
from ops_store.types import utcnow

console = Console()


def load_sample() -> dict[str, Any]:
    return json.loads(resources.files("ops_store.sample").joinpath("shop.json").read_text())


def build_shop(store: Store, sample: dict[str, Any]) -> None:
    for w in sample["warehouses"]:
        catalog.add_warehouse(store, w["code"], w["name"], priority=w["priority"])
    for m in sample["merchants"]:
        catalog.add_merchant(store, m["code"], m["name"], currency=m["currency"], tax_rate=m["tax_rate"],
                             preferred_warehouse=m.get("preferred_warehouse"))
    for p in sample["products"]:
        catalog.add_product(store, p["merchant"], p["sku"], p["name"], p["price"], p["cost"], category=p["category"])
    for s in sample["suppliers"]:
        catalog.add_supplier(store, s["merchant"], s["code"], s["name"], lead_time_days=s["lead_time_days"])
    for c in sample["carriers"]:
        catalog.add_carrier(store, c["code"], c["name"])
    for o in sample["delivery_options"]:
        catalog.add_delivery_option(store, o["code"], kind=o["kind"], name=o["name"], carrier=o["carrier"],
                                    price=o["price"], promised_days=o["promised_days"])
    for s in sample["stock"]:
        stock.receive_stock(store, s["sku"], s["warehouse"], s["qty"], actor="demo")
    for p in sample["policies"]:
        replenishment.set_policy(store, p["sku"], p["warehouse"], reorder_point=p["reorder_point"],
                                 reorder_qty=p["reorder_qty"], safety_stock=p["safety_stock"], supplier=p["supplier"])


def print_stock(store: Store) -> None:
    table = Table("SKU", "warehouse", "on hand", "reserved", "available", "avg cost", "value at cost",
                  title="Stock after the demo")
    for row in stock.stock_show(store):
        table.add_row(row["sku"], row["warehouse"], str(row["on_hand"]), str(row["reserved"]),
                      str(row["available"]), str(row["avg_unit_cost"]), str(row["stock_value"]))
    console.print(table)


def customers_and_service(store: Store, data_dir: Path) -> None:
    """Step 2 of the tour: customers with protected personal data, a campaign coupon, loyalty,
    a support ticket, a review, the audit trail and a verified backup."""
    console.print("[bold]6. Customers, marketing and service[/bold]")
    ada = customers.add_customer(store, name="Ada Lovelace", email="ada@example.org", phone="+44 20 7946 0000",
                                 customer_ref="C-500", region="London", country="GB", street="12 St James's Sq",
                                 city="London", postal_code="SW1Y 4JH", consent_email=True, consent_sms=False)
    with acting_as(Principal("user:analyst", "analyst")):
        masked = customers.show_customer(store, ada["customer_id"])
    with acting_as(Principal("user:support", "support")):
        clear = customers.show_customer(store, ada["customer_id"])
    console.print(f"  customer {ada['customer_id']}: an analyst sees {masked['name']} <{masked['email']}>, "
                  f"support sees {clear['name']} <{clear['email']}> (audited); stored encrypted")
    today = utcnow().date()
    campaigns.create_campaign(store, "WINTER", "Winter warmers", channel="email", merchant="ACME",
                              starts_on=today, ends_on=today + timedelta(days=30), budget="500.00")
    coupons.create_coupon(store, "WARM10", kind="percent", value="10", campaign="WINTER", merchant="ACME",
                          valid_from=today, valid_to=today + timedelta(days=30), max_uses_per_customer=1)
    order = orders.place_order(store, {
        "channel": "web", "channel_order_ref": "W-2001", "merchant": "ACME", "customer_ref": "C-500",
        "lines": [{"sku": "LAMP-3", "qty": 2}], "delivery_option": "standard", "coupon": "WARM10",
        "payment": {"method": "card", "token": "tok_demo_amex", "brand": "amex", "last4": "0005"}})
    orders.allocate_order(store, order["order_id"])
    parcel = shipping.ship_order(store, order["order_id"])["shipments"][0]["tracking_number"]
    shipping.record_tracking_event(store, parcel, "delivered")
    orders.complete_order(store, order["order_id"])
    points = loyalty.account_view(store, ada["customer_id"])
    console.print(f"  order {order['order_id']} with coupon WARM10 (campaign WINTER): discount {order['discount']},"
                  f" completed; Ada earned {points['balance']} points ({points['tier']} tier)")
    ticket = tickets.open_ticket(store, ada["customer_id"], "delivery", "Lamp flickers",
                                 "One of the two lamps flickers.", priority="high", order_id=order["order_id"])
    tickets.add_message(store, ticket["ticket_id"], "agent", "support", "Sorry! A replacement is on its way.")
    feedback.add_review(store, ada["customer_id"], "LAMP-3", 4, "Lovely light, one flickered.")
    console.print(f"  ticket {ticket['ticket_id']} answered within its target; Ada's review is a verified purchase")
    made = backup(store, data_dir / "backups")
    console.print(f"  backup of {len(made['tables'])} tables written to {made['path']} with a verified manifest")


def run_demo(*, reset: bool = True, serve: bool = False) -> None:
    settings = StoreSettings()
    data_dir = settings.ensure_data_dir()
    url = settings.store_url if settings.ops_store_url else f"sqlite:///{data_dir / 'demo' / 'store.sqlite'}"
    if reset and url.startswith("sqlite:///"):
        for suffix in ("", "-wal", "-shm"):
            (data_dir / "demo" / f"store.sqlite{suffix}").unlink(missing_ok=True)
    store = Store(url)
    console.print(f"[bold]1. Store[/bold] {store.engine.url.render_as_string(hide_password=True)} "
                  f"at schema revision {upgrade(store)}")
    sample = load_sample()
    build_shop(store, sample)
    console.print(f"[bold]2. Sample shop[/bold]: {len(sample['merchants'])} merchants, "
                  f"{len(sample['products'])} products, {len(sample['warehouses'])} warehouses, stock received")

    console.print("[bold]3. Orders from four channels[/bold]")
    placed = []
    for doc in sample["orders"]:
        try:
            order = orders.place_order(store, doc)
            placed.append(order)
            where = "; ".join(f"{ln['sku']} x{ln['qty']} from "
                              + "+".join(f"{a['warehouse']}:{a['qty']}" for a in ln["allocations"])
                              for ln in order["lines"])
            console.print(f"  order {order['order_id']} {doc['channel']} {doc['channel_order_ref']}: "
                          f"{order['status']}, total {order['total']} {order['currency']} ({where})")
        except DomainError as exc:
            console.print(f"  [yellow]refused[/yellow] {doc['channel_order_ref']}: {exc.message}")
    replay = orders.place_order(store, sample["orders"][0])
    console.print(f"  the web shop resends W-1001: order {replay['order_id']} returned again "
                  f"(replayed={replay['replayed']}), nothing reserved twice")

    console.print("[bold]4. Fulfilment[/bold]")
    first = placed[0]["order_id"]
    orders.allocate_order(store, first, actor="demo")
    shipped = shipping.ship_order(store, first, actor="demo")
    tracking = shipped["shipments"][0]["tracking_number"]
    for status in ("picked_up", "in_transit", "out_for_delivery", "delivered"):
        shipping.record_tracking_event(store, tracking, status, location="demo")
    console.print(f"  order {first}: shipped as {tracking}, card captured, delivered: "
                  f"{orders.get_order(store, first)['status']}")
    ret = returns.request_return(store, first, sku="MUG-01", qty=1, reason="chipped on arrival")
    returns.approve_return(store, ret["return_id"])
    returns.receive_return(store, ret["return_id"], qty=1, condition="damaged", disposition="write_off")
    refunded = returns.refund_return(store, ret["return_id"])
    console.print(f"  return {ret['return_id']}: 1 mug written off, refunded {refunded['refund_amount']}")

    console.print("[bold]5. Replenishment[/bold]")
    for alert in replenishment.list_alerts(store):
        console.print(f"  low stock: {alert['sku']} in {alert['warehouse']}: available {alert['available_at_open']}"
                      f" <= reorder point {alert['reorder_point']}; suggest ordering {alert['suggested_qty']}")
    alert = next(a for a in replenishment.list_alerts(store) if a["sku"] == "PAN-28")
    po = replenishment.create_purchase_order(store, "ACME", "IRONWORKS", "WH-NORTH",
                                             [("PAN-28", alert["suggested_qty"], "22.40")], actor="demo")
    replenishment.receive_purchase_order(store, po["purchase_order_id"], actor="demo")
    console.print(f"  purchase order {po['purchase_order_id']}: {alert['suggested_qty']} PAN-28 at 22.40 received; "
                  f"open alerts now: {', '.join(a['sku'] for a in replenishment.list_alerts(store)) or 'none'}")
    customers_and_service(store, data_dir)
    print_stock(store)
    console.print(f"Store file: {url}. Try: ecom order show {first}  (with OPS_STORE_URL={url})")
    shop_url = simulated_shop(data_dir, reset=reset)
    run_demo_plugins(data_dir, shop_url, serve=serve)


def run_demo_plugins(data_dir: Path, shop_url: str, *, serve: bool = False) -> None:
    """The higher rooms (pipeline, dashboards) add their part of the tour through the
    `ecom.demo` entry-point group: each is called with the data dir, the simulated shop's URL and
    whether the tour ends by serving the dashboards (the last step blocks until Ctrl-C)."""
    for number, entry in enumerate(sorted(entry_points(group="ecom.demo"), key=lambda e: e.name), start=8):
        entry.load()(data_dir=data_dir, store_url=shop_url, number=number, console=console, serve=serve)


def simulated_shop(data_dir: Path, *, reset: bool, orders: int = 3000, days: int = 270) -> str:
    """Step 3 of the tour: a whole shop's history, simulated through the store's own rules, for
    the analytics to come (clickstream and competitor files land in the data dir)."""
    from ops_store.simulate.config import SimConfig
    from ops_store.simulate.run import simulate

    path = data_dir / "demo" / "shop.sqlite"
    if reset:
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
    shop = Store(f"sqlite:///{path}")
    upgrade(shop)
    report = simulate(shop, SimConfig(orders=orders, days=days, seed=7), data_dir)
    info = report.info
    console.print(f"[bold]7. A simulated shop[/bold]: {info['orders']} orders over {info['days']} days "
                  f"({info['start']} .. {info['end']}) from {report.rows.get('customers', 0):,} customers, "
                  f"{sum(v for k, v in report.rows.items() if not k.startswith('landing:')):,} rows in "
                  f"{path}; clickstream and competitor prices in {info['landing']}")
    return f"sqlite:///{path}"
