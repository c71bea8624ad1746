"""Low-stock notifications through the real path: an alert opens in the store, the pipeline's
sensor asks for a stock refresh, the run tells the merchant (a signed webhook to a local HTTP
receiver, a mail to a local SMTP server) once; the sensor's next evaluation sends nothing new;
an alert that is resolved and opens again is told again."""

from __future__ import annotations

import json
from datetime import date

import dagster as dg
import pytest
from sqlalchemy import select

from ops_store.messaging import webhooks
from ops_store.models import Product, StockAlert, StockLevel, Warehouse
from ops_store.services import notifications, replenishment
from pipelines.definitions import build_definitions
from pipelines.reports.alerts import projected_stock_out, suggested_order
from pipelines.resources import StoreResource
from tests.messaging_support import smtp_server, webhook_receiver
from tests.report_support import ReportShop

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900), pytest.mark.xdist_group("built-shop")]


def test_the_projection_and_the_suggestion_follow_metrics() -> None:
    days = [(date(2026, 1, d), 2.0) for d in range(1, 8)]
    assert projected_stock_out(5, days) == date(2026, 1, 3)  # 5 - 2 - 2 - 2 < 0 on the third day
    assert projected_stock_out(14, days) is None  # never below zero within the forecast
    assert projected_stock_out(0, [(date(2026, 1, 2), 0.5), (date(2026, 1, 1), 0.0)]) == date(2026, 1, 2)
    # reorder point 10 + review demand 6 - (on hand 4 + on order 2 - reserved 1) = 11 -> multiple of 5
    assert suggested_order(10, 6, 4, 2, 1, 5) == 15
    assert suggested_order(3, 1, 10, 0, 0, 1) == 0


def _candidate(env: ReportShop, merchant_id: int) -> dict[str, object]:
    """A product of the merchant with stock and a forecast in the published snapshot."""
    with env.snapshot() as con:
        forecast = set(con.execute("SELECT DISTINCT product_id, warehouse_id FROM marts.demand_forecast "
                                   "WHERE merchant_id = ?", [merchant_id]).fetchall())
    with env.store().read() as session:
        rows = session.execute(
            select(Product.id, Product.sku, Warehouse.id, Warehouse.code, StockLevel.on_hand, StockLevel.reserved)
            .join(StockLevel, StockLevel.product_id == Product.id)
            .join(Warehouse, Warehouse.id == StockLevel.warehouse_id)
            .where(Product.merchant_id == merchant_id, StockLevel.on_hand - StockLevel.reserved > 2)
            .order_by(Product.id, Warehouse.id)).all()
    for product_id, sku, warehouse_id, warehouse, on_hand, reserved in rows:
        if (product_id, warehouse_id) in forecast:
            return {"product_id": product_id, "sku": sku, "warehouse_id": warehouse_id, "warehouse": warehouse,
                    "available": on_hand - reserved}
    raise AssertionError("the shop has no product with stock and a forecast")


def _expected_outlook(env: ReportShop, product: dict[str, object]) -> tuple[str | None, int]:
    """Projected stock-out and suggested order as METRICS defines them, from the snapshot and the store."""
    with env.snapshot() as con:
        days = con.execute("SELECT forecast_on, p50 FROM marts.demand_forecast WHERE product_id = ? AND "
                           "warehouse_id = ? ORDER BY forecast_on", [product["product_id"], product["warehouse_id"]]
                           ).fetchall()
        point, review, multiple = con.execute(
            "SELECT reorder_point, demand_over_review_period, order_multiple FROM marts.reorder_suggestions "
            "WHERE product_id = ? AND warehouse_id = ?", [product["product_id"], product["warehouse_id"]]).fetchone()
    with env.store().read() as session:
        level = session.get(StockLevel, (product["product_id"], product["warehouse_id"]))
        from ops_store.services.alerts import on_order

        ordered = on_order(session, product["product_id"], product["warehouse_id"])
    left, stock_out = level.on_hand - level.reserved, None
    for day, p50 in days:
        left -= p50
        if left < 0:
            stock_out = day.isoformat()
            break
    need = point + review - (level.on_hand + ordered - level.reserved)
    suggested = 0 if need <= 0 else -(-need // multiple) * multiple
    return stock_out, int(suggested)


def _evaluate(instance: dg.DagsterInstance, cursor: str | None) -> tuple[object, str | None]:
    sensor = build_definitions().resolve_sensor_def("low_stock_alerts_sensor")
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"store": StoreResource()})
    return sensor(context), context.cursor


def _open_alert(store, product: dict[str, object]) -> int:  # type: ignore[no-untyped-def]
    with store.read() as session:
        return session.scalar(select(StockAlert.id).where(StockAlert.product_id == product["product_id"],
                                                          StockAlert.warehouse_id == product["warehouse_id"],
                                                          StockAlert.status == "open"))


def test_a_low_stock_alert_is_told_once_and_again_when_it_reopens(report_env: ReportShop, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    env, store = report_env, report_env.store()
    with env.snapshot() as con:
        merchant_id, code = con.execute("SELECT merchant_id, merchant_code FROM marts.dim_merchants "
                                        "ORDER BY merchant_code LIMIT 1").fetchone()
    product = _candidate(env, merchant_id)
    with webhook_receiver() as receiver, smtp_server() as box, dg.instance_for_test() as instance:
        job = build_definitions().resolve_job_def("stock_refresh")
        monkeypatch.setenv("ECOM_SMTP_HOST", box.host)
        monkeypatch.setenv("ECOM_SMTP_PORT", str(box.port))
        _, cursor = _evaluate(instance, None)  # whatever was open before the test is behind the cursor
        secret = notifications.set_contacts(store, code, webhook_url=receiver.url,
                                            email="stock@merchant.example")["webhook_secret"]

        replenishment.set_policy(store, product["sku"], product["warehouse"], reorder_point=product["available"] + 3,
                                 reorder_qty=10, merchant=code)
        alert_id = _open_alert(store, product)
        request, cursor = _evaluate(instance, cursor)
        assert isinstance(request, dg.RunRequest) and str(alert_id) in request.tags["ecom/alert_ids"].split(",")
        assert job.execute_in_process(instance=instance, tags=request.tags).success

        bodies = {json.loads(r["body"])["alert_id"]: r for r in receiver.requests}
        assert alert_id in bodies
        hook = bodies[alert_id]
        assert webhooks.verify(secret, hook["body"], hook["headers"][webhooks.SIGNATURE_HEADER])
        sent = json.loads(hook["body"])
        stock_out, suggested = _expected_outlook(env, product)
        assert sent["event"] == "stock.low" and sent["merchant"] == code and sent["sku"] == product["sku"]
        assert sent["available"] == product["available"] and sent["reorder_point"] == product["available"] + 3
        assert (sent["projected_stock_out_on"], sent["suggested_order_qty"]) == (stock_out, suggested)
        mails = [m for m in box.messages if product["sku"] in m["Subject"]]
        assert len(mails) == 1 and mails[0]["To"] == "stock@merchant.example"
        assert str(suggested) in mails[0].get_content()
        count = (len(receiver.requests), len(box.messages))

        quiet, cursor = _evaluate(instance, cursor)
        assert isinstance(quiet, dg.SkipReason)  # the sensor's second look sends nothing new
        assert job.execute_in_process(instance=instance).success  # nor does a run for another reason
        assert (len(receiver.requests), len(box.messages)) == count

        # resolved (stock above the reorder point again), then low again: a new alert, told again
        replenishment.set_policy(store, product["sku"], product["warehouse"], reorder_point=0, reorder_qty=10,
                                 merchant=code)
        assert _open_alert(store, product) is None
        replenishment.set_policy(store, product["sku"], product["warehouse"], reorder_point=product["available"],
                                 reorder_qty=10, merchant=code)
        reopened = _open_alert(store, product)
        assert reopened != alert_id
        request, cursor = _evaluate(instance, cursor)
        assert isinstance(request, dg.RunRequest)
        assert job.execute_in_process(instance=instance, tags=request.tags).success
        new = [json.loads(r["body"]) for r in receiver.requests[count[0]:]]
        assert [b["alert_id"] for b in new] == [reopened]
        assert len(box.messages) == count[1] + 1

    rows = notifications.outbox(store, merchant=code)
    assert {r["status"] for r in rows} == {"sent"}
