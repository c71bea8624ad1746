"""Low-stock notifications: when a product's available stock falls to its reorder point the store
opens an alert; its merchant hears of it once (mail and/or signed webhook), naming the product,
the available quantity, the projected stock-out date and the suggested order. An alert that is
resolved and opens again is a new alert, so it is told again; the outbox's dedup key
(``stock_alert:<alert id>:<channel>``) makes every other evaluation send nothing new.

Stock comes from the store at the moment of sending; the forecast and the reorder point from the
published snapshot (METRICS "Replenishment": projected stock-out = first day available minus
cumulative P50 demand drops below zero; suggested order = reorder point + demand over the review
period - (on hand + on order - reserved), rounded up to the order multiple)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import duckdb
from sqlalchemy import select

from ops_store.db import Store
from ops_store.models import Merchant, Product, StockAlert, StockLevel, Warehouse
from ops_store.services import notifications
from ops_store.services.alerts import on_order
from pipelines.publish import NoSnapshot, open_snapshot
from pipelines.reports.texts import Speaker
from pipelines.settings import PipelineSettings

EVENT = "stock.low"


@dataclass(frozen=True)
class LowStock:
    alert_id: int
    merchant_id: int
    merchant: str
    sku: str
    product_name: str
    product_id: int
    warehouse: str
    warehouse_id: int
    on_hand: int
    reserved: int
    on_order: int
    reorder_point: int
    store_suggestion: int
    opened_at: datetime

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


def projected_stock_out(available: float, daily_p50: list[tuple[date, float]]) -> date | None:
    """The first forecast day on which available minus cumulative P50 demand drops below zero."""
    left = available
    for day, p50 in sorted(daily_p50):
        left -= p50
        if left < 0:
            return day
    return None


def suggested_order(reorder_point: float, review_demand: float, on_hand: int, on_order: int, reserved: int,
                    multiple: int) -> int:
    need = reorder_point + review_demand - (on_hand + on_order - reserved)
    if need <= 0:
        return 0
    multiple = max(int(multiple or 1), 1)
    return math.ceil(need / multiple) * multiple


def open_alerts(store: Store) -> list[LowStock]:
    """Every open alert of a merchant who has somewhere to hear about it, with its stock now."""
    with store.read() as session:
        rows = session.execute(
            select(StockAlert, Product, Warehouse.code, Merchant.code, StockLevel)
            .join(Product, Product.id == StockAlert.product_id)
            .join(Merchant, Merchant.id == Product.merchant_id)
            .join(Warehouse, Warehouse.id == StockAlert.warehouse_id)
            .join(StockLevel, (StockLevel.product_id == StockAlert.product_id)
                  & (StockLevel.warehouse_id == StockAlert.warehouse_id))
            .where(StockAlert.status == "open",
                   (Merchant.notify_email.is_not(None)) | (Merchant.webhook_url.is_not(None)))
            .order_by(StockAlert.id)).all()
        return [LowStock(a.id, p.merchant_id, merchant, p.sku, p.name, p.id, warehouse, a.warehouse_id,
                         level.on_hand, level.reserved, on_order(session, p.id, a.warehouse_id), a.reorder_point,
                         a.suggested_qty, a.opened_at)
                for a, p, warehouse, merchant, level in rows]


def _outlook(con: duckdb.DuckDBPyConnection | None, alert: LowStock) -> dict[str, Any]:
    """Projected stock-out and suggested order for the alert's stock now, from the snapshot's
    forecast; the store's own suggestion (policy based) when there is no forecast for it."""
    fallback = {"projected_stock_out_on": None, "suggested_qty": alert.store_suggestion, "basis": "policy"}
    if con is None:
        return fallback
    plan = con.execute(
        "SELECT reorder_point, demand_over_review_period, order_multiple FROM marts.reorder_suggestions "
        "WHERE product_id = ? AND warehouse_id = ?", [alert.product_id, alert.warehouse_id]).fetchone()
    days = con.execute("SELECT forecast_on, p50 FROM marts.demand_forecast WHERE product_id = ? AND warehouse_id = ?",
                       [alert.product_id, alert.warehouse_id]).fetchall()
    if plan is None or not days:
        return fallback
    reorder_point, review_demand, multiple = plan
    return {"projected_stock_out_on": projected_stock_out(alert.available, days),
            "suggested_qty": suggested_order(float(reorder_point), float(review_demand), alert.on_hand,
                                             alert.on_order, alert.reserved, multiple),
            "basis": "forecast"}


def payload(alert: LowStock, outlook: dict[str, Any]) -> dict[str, Any]:
    """The webhook's JSON body (and the facts the mail is written from)."""
    stock_out = outlook["projected_stock_out_on"]
    return {"event": EVENT, "alert_id": alert.alert_id, "merchant": alert.merchant, "sku": alert.sku,
            "product_name": alert.product_name, "warehouse": alert.warehouse, "available": alert.available,
            "on_hand": alert.on_hand, "reserved": alert.reserved, "on_order": alert.on_order,
            "reorder_point": alert.reorder_point,
            "projected_stock_out_on": stock_out.isoformat() if stock_out else None,
            "suggested_order_qty": outlook["suggested_qty"], "suggestion_basis": outlook["basis"],
            "opened_at": alert.opened_at.isoformat()}


MAIL = {
    "en": ("Low stock: {sku} {product_name} ({warehouse})",
           "{product_name} ({sku}) in warehouse {warehouse} is at its reorder point.\n\n"
           "Available now: {available} (reorder point {reorder_point}, on order {on_order})\n"
           "Projected stock-out: {stock_out}\nSuggested order: {suggested} units\n\n"
           "You will hear about this product again only after its stock recovers and falls again."),
    "zh": ("库存预警：{sku} {product_name}（{warehouse}）",
           "仓库 {warehouse} 中的 {product_name}（{sku}）已降至再订货点。\n\n"
           "当前可用：{available}（再订货点 {reorder_point}，在途 {on_order}）\n"
           "预计断货日：{stock_out}\n建议订货：{suggested} 件\n\n"
           "库存恢复后再次降低时才会再次通知。"),
}


def messages(alert: LowStock, outlook: dict[str, Any], contacts: notifications.Contacts) -> list[notifications.Message]:
    body = payload(alert, outlook)
    out = []
    if contacts.webhook_url:
        out.append(notifications.Message(contacts.merchant_id, "stock_alert", "webhook",
                                         f"stock_alert:{alert.alert_id}:webhook", contacts.webhook_url,
                                         f"{EVENT} {alert.sku}", json.dumps(body, sort_keys=True)))
    if contacts.email:
        say = Speaker(contacts.locale, contacts.currency)
        subject, text = MAIL.get(contacts.locale, MAIL["en"])
        stock_out = outlook["projected_stock_out_on"]
        if stock_out:
            stock_out_text = say.day(stock_out)
        elif outlook["basis"] == "forecast":
            stock_out_text = "预测期内不会断货" if contacts.locale == "zh" else "not within the forecast's 28 days"
        else:
            stock_out_text = "暂无预测" if contacts.locale == "zh" else "no forecast for this product yet"
        values = {**body, "stock_out": stock_out_text,
                  "suggested": say.number(outlook["suggested_qty"]), "available": say.number(alert.available)}
        out.append(notifications.Message(contacts.merchant_id, "stock_alert", "email",
                                         f"stock_alert:{alert.alert_id}:email", contacts.email,
                                         subject.format(**values), text.format(**values)))
    return out


def _channels(contacts: notifications.Contacts) -> list[str]:
    return [c for c, target in (("webhook", contacts.webhook_url), ("email", contacts.email)) if target]


def notify(store: Store, settings: PipelineSettings | None = None,
           channels: dict[str, notifications.Sender] | None = None) -> dict[str, int]:
    """Queue a message for every open alert not yet told, then send what is due."""
    alerts = open_alerts(store)
    contacts = {code: notifications.contacts(store, code) for code in {a.merchant for a in alerts}}
    told = notifications.known_keys(store, [f"stock_alert:{a.alert_id}:{c}" for a in alerts
                                            for c in _channels(contacts[a.merchant])])
    untold = [a for a in alerts
              if any(f"stock_alert:{a.alert_id}:{c}" not in told for c in _channels(contacts[a.merchant]))]
    queued: list[int] = []
    if untold:
        try:
            con: duckdb.DuckDBPyConnection | None = open_snapshot(settings)
        except NoSnapshot:
            con = None  # no forecast yet: the store's own suggestion, no stock-out date
        try:
            for alert in untold:
                queued += notifications.enqueue(store, messages(alert, _outlook(con, alert), contacts[alert.merchant]))
        finally:
            if con is not None:
                con.close()
    outcome = notifications.deliver_due(store, channels=channels)
    return {"open_alerts": len(alerts), "queued": len(queued), **outcome}
