"""What the account pages show, assembled from the store's services (called as the signed-in
customer, so each one checks that the record is theirs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ops_store.db import Store
from ops_store.services import loyalty, orders, returns, self_service, shipping, tickets

# A parcel's way to the door, in order; "exception" is a problem on the way (shown as a notice).
STEPS = ("label_created", "picked_up", "in_transit", "out_for_delivery", "delivered")
STEP_LABELS = {"label_created": "Label created", "picked_up": "Picked up", "in_transit": "In transit",
               "out_for_delivery": "Out for delivery", "delivered": "Delivered", "exception": "Delivery problem"}
ORDER_STATUS_TEXT = {
    "placed": "Received", "paid": "Paid", "allocated": "Being packed", "shipped": "On its way",
    "delivered": "Delivered", "completed": "Completed", "cancelled": "Cancelled", "returned": "Returned",
    "refunded": "Refunded",
}
PAYMENT_METHOD_TEXT = {"card": "Card", "e_wallet": "E-wallet", "bank_transfer": "Bank transfer",
                       "cash_on_delivery": "Cash on delivery"}
PAYMENT_STATUS_TEXT = {"pending": "awaiting payment", "authorized": "reserved, taken when your order ships",
                       "captured": "paid", "partially_refunded": "partly refunded", "refunded": "refunded",
                       "failed": "payment failed", "voided": "cancelled, nothing was taken"}
RETURN_STATUS_TEXT = {"requested": "Requested, awaiting review", "approved": "Approved: please send the item back",
                      "rejected": "Not accepted", "received": "Received by us", "refunded": "Refunded"}
TICKET_STATUS_TEXT = {"new": "Sent", "open": "In progress", "pending": "Waiting for your answer",
                      "resolved": "Resolved", "closed": "Closed"}
TICKET_CATEGORIES = (("delivery", "Delivery"), ("return", "Returns and refunds"), ("order", "An order"),
                     ("payment", "Payment"), ("product", "A product"), ("other", "Something else"))
PAGE_SIZE = 10


def tracking(view: dict[str, Any]) -> dict[str, Any]:
    """A parcel (``shipping.shipment_view``) with its step view: each step done, current or to
    come, with the time it was first reached."""
    reached: dict[str, datetime] = {}
    for event in view["timeline"]:
        reached.setdefault(event["status"], event["at"])
    if view["status"] in STEPS:
        current = STEPS.index(view["status"])
    else:  # a problem on the way: the furthest step reached so far
        current = max((STEPS.index(s) for s in reached if s in STEPS), default=0)
    delivered = view["status"] == "delivered"
    steps = []
    for i, key in enumerate(STEPS):
        state = "done" if i < current or (delivered and i == current) else "current" if i == current else "todo"
        steps.append({"key": key, "label": STEP_LABELS[key], "at": reached.get(key), "state": state})
    problem = next((e for e in reversed(view["timeline"]) if e["status"] == "exception"), None)
    return {**view, "steps": steps, "problem": problem if view["status"] == "exception" else None,
            "status_text": STEP_LABELS.get(view["status"], view["status"]),
            "events": [{**e, "label": STEP_LABELS.get(e["status"], e["status"])} for e in reversed(view["timeline"])]}


def returnable_lines(order: dict[str, Any], requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Lines that can still be returned and how many units (shipped minus already asked for)."""
    if order["status"] not in returns.RETURNABLE_ORDER_STATUSES:
        return []
    asked: dict[str, int] = {}
    for r in requests:
        if r["status"] != "rejected":
            asked[r["sku"]] = asked.get(r["sku"], 0) + r["qty"]
    out = []
    for line in order["lines"]:
        left = line["qty_shipped"] - asked.get(line["sku"], 0)
        if left > 0:
            out.append({"sku": line["sku"], "left": left})
    return out


def order_page(store: Store, order_id: int) -> dict[str, Any]:
    order = orders.get_order(store, order_id)
    names = self_service.order_product_names(store, order_id)
    parcels = [tracking(shipping.shipment_view(store, s["shipment_id"])) for s in order["shipments"]]
    requests = [returns.return_view(store, rid) for rid in self_service.order_return_ids(store, order_id)]
    for r in requests:
        r["name"] = names.get(r["sku"], r["sku"])
        r["status_text"] = RETURN_STATUS_TEXT.get(r["status"], r["status"])
    returnable = returnable_lines(order, requests)
    for line in [*order["lines"], *returnable]:
        line["name"] = names.get(line["sku"], line["sku"])
    payment = order["payment"]
    if payment is not None:
        payment["method_text"] = PAYMENT_METHOD_TEXT.get(payment["method"], payment["method"])
        payment["status_text"] = PAYMENT_STATUS_TEXT.get(payment["status"], payment["status"])
    return {"order": order, "status_text": ORDER_STATUS_TEXT.get(order["status"], order["status"]),
            "parcels": parcels, "requests": requests, "returnable": returnable,
            "return_window": order["status"] in returns.RETURNABLE_ORDER_STATUSES}


def orders_page(store: Store, before: int | None) -> dict[str, Any]:
    rows = orders.list_orders(store, limit=PAGE_SIZE + 1, before_id=before)
    page, more = rows[:PAGE_SIZE], len(rows) > PAGE_SIZE
    for row in page:
        row["status_text"] = ORDER_STATUS_TEXT.get(row["status"], row["status"])
    return {"orders": page, "older": page[-1]["order_id"] if more else None, "paged": before is not None}


def tickets_page(store: Store) -> dict[str, Any]:
    rows = sorted(tickets.list_tickets(store), key=lambda t: (t["created_at"], t["ticket_id"]), reverse=True)
    for row in rows:
        row["status_text"] = TICKET_STATUS_TEXT.get(row["status"], row["status"])
    return {"tickets": rows, "order_choices": orders.list_orders(store, limit=50), "categories": TICKET_CATEGORIES}


def ticket_page(store: Store, ticket_id: int) -> dict[str, Any]:
    view = tickets.ticket_view(store, ticket_id)
    return {"ticket": view, "status_text": TICKET_STATUS_TEXT.get(view["status"], view["status"]),
            "category_text": dict(TICKET_CATEGORIES).get(view["category"], view["category"])}


def loyalty_page(store: Store, customer_id: int) -> dict[str, Any]:
    account = loyalty.account_view(store, customer_id)
    expiring = sorted((e for e in account["expiring"] if e["points"] > 0),
                      key=lambda e: (e["expires_on"] is None, e["expires_on"]))
    return {"account": account, "expiring": expiring}
