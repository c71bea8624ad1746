"""Orders, payments, shipments and returns."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

import typer

from ops_store.cli.output import JSON_OPTION, run, store
from ops_store.errors import InvalidInput
from ops_store.services import orders, payments, returns, shipping

order_app = typer.Typer(help="Orders from the sales channels.", no_args_is_help=True)
payment_app = typer.Typer(help="Payments: authorise, capture, confirm transfers, refund.", no_args_is_help=True)
shipment_app = typer.Typer(help="Shipments and their tracking timelines.", no_args_is_help=True)
return_app = typer.Typer(help="Returns: request, decide, receive, refund.", no_args_is_help=True)
ORDER_ID = typer.Argument(..., help="The order id.")


def _read_document(path: Path | None) -> object:
    text = path.read_text() if path else sys.stdin.read()
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"the order document is not valid JSON: {exc.msg} at line {exc.lineno}",
                           field="document") from None


@order_app.command("place")
def order_place(
    file: Path | None = typer.Option(None, "--file", help="Order document (JSON); default: standard input."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Place an order from an order document (docs/order-document.md)."""
    run(as_json, lambda: orders.place_order(store(), _read_document(file)))


@order_app.command("show")
def order_show(order_id: int = ORDER_ID, as_json: bool = JSON_OPTION) -> None:
    """An order with its lines, allocations, payment, shipments and events."""
    run(as_json, lambda: orders.get_order(store(), order_id))


@order_app.command("list")
def order_list(
    merchant: str | None = typer.Option(None, "--merchant"), customer: str | None = typer.Option(None, "--customer"),
    status: str | None = typer.Option(None, "--status"), limit: int = typer.Option(100, "--limit"),
    as_json: bool = JSON_OPTION,
) -> None:
    run(as_json, lambda: orders.list_orders(store(), merchant=merchant, customer_ref=customer, status=status,
                                            limit=limit))


@order_app.command("cancel")
def order_cancel(order_id: int = ORDER_ID, reason: str | None = typer.Option(None, "--reason"),
                 as_json: bool = JSON_OPTION) -> None:
    """Cancel an order that has not shipped: stock is released, the payment voided or refunded."""
    run(as_json, lambda: orders.cancel_order(store(), order_id, actor="cli", reason=reason))


@order_app.command("allocate")
def order_allocate(order_id: int = ORDER_ID, as_json: bool = JSON_OPTION) -> None:
    """Release a paid (or cash-on-delivery) order to its warehouses."""
    run(as_json, lambda: orders.allocate_order(store(), order_id, actor="cli"))


@order_app.command("ship")
def order_ship(order_id: int = ORDER_ID, as_json: bool = JSON_OPTION) -> None:
    """Ship an allocated order: labels, sale movements, card capture."""
    run(as_json, lambda: shipping.ship_order(store(), order_id, actor="cli"))


@order_app.command("complete")
def order_complete(order_id: int = ORDER_ID, as_json: bool = JSON_OPTION) -> None:
    run(as_json, lambda: orders.complete_order(store(), order_id, actor="cli"))


@payment_app.command("show")
def payment_show(order_id: int = ORDER_ID, as_json: bool = JSON_OPTION) -> None:
    run(as_json, lambda: payments.payment_view(store(), order_id))


@payment_app.command("authorize")
def payment_authorize(order_id: int = ORDER_ID, as_json: bool = JSON_OPTION) -> None:
    """(Re)try authorising a card or e-wallet payment."""
    run(as_json, lambda: payments.authorize_payment(store(), order_id, actor="cli"))


@payment_app.command("capture")
def payment_capture(order_id: int = ORDER_ID, as_json: bool = JSON_OPTION) -> None:
    run(as_json, lambda: payments.capture_payment(store(), order_id, actor="cli"))


@payment_app.command("confirm-transfer")
def payment_confirm(order_id: int = ORDER_ID, amount: str | None = typer.Option(None, "--amount"),
                    as_json: bool = JSON_OPTION) -> None:
    """A bank transfer for the order arrived."""
    run(as_json, lambda: payments.confirm_transfer(store(), order_id, amount=amount, actor="cli"))


@payment_app.command("refund")
def payment_refund(order_id: int = ORDER_ID, amount: str = typer.Option(..., "--amount"),
                   reason: str | None = typer.Option(None, "--reason"), as_json: bool = JSON_OPTION) -> None:
    """Refund part or all of the captured amount."""
    run(as_json, lambda: payments.refund_payment(store(), order_id, amount, actor="cli", reason=reason))


@shipment_app.command("show")
def shipment_show(tracking_number: str = typer.Argument(...), as_json: bool = JSON_OPTION) -> None:
    """A parcel and its tracking timeline."""
    run(as_json, lambda: shipping.find_shipment(store(), tracking_number))


@shipment_app.command("track")
def shipment_track(
    tracking_number: str = typer.Argument(...),
    status: str = typer.Option(..., "--status", help="picked_up, in_transit, out_for_delivery, delivered, exception"),
    at: str | None = typer.Option(None, "--at", help="Event time, ISO 8601 with zone; default now."),
    location: str | None = typer.Option(None, "--location"), as_json: bool = JSON_OPTION,
) -> None:
    """Record a carrier's tracking event."""

    def action():  # type: ignore[no-untyped-def]
        when = None
        if at:
            try:
                when = datetime.fromisoformat(at)
            except ValueError:
                raise InvalidInput("--at must be ISO 8601, e.g. 2026-01-31T10:00:00+00:00", field="at") from None
        return shipping.record_tracking_event(store(), tracking_number, status, occurred_at=when, location=location,
                                              actor="cli")

    run(as_json, action)


@return_app.command("request")
def return_request(order_id: int = ORDER_ID, sku: str = typer.Option(..., "--sku"),
                   qty: int = typer.Option(..., "--qty"), reason: str = typer.Option(..., "--reason"),
                   as_json: bool = JSON_OPTION) -> None:
    """Request the return of units of an order line."""
    run(as_json, lambda: returns.request_return(store(), order_id, sku=sku, qty=qty, reason=reason, actor="cli"))


@return_app.command("approve")
def return_approve(return_id: int = typer.Argument(...), as_json: bool = JSON_OPTION) -> None:
    run(as_json, lambda: returns.approve_return(store(), return_id, actor="cli"))


@return_app.command("reject")
def return_reject(return_id: int = typer.Argument(...), as_json: bool = JSON_OPTION) -> None:
    run(as_json, lambda: returns.reject_return(store(), return_id, actor="cli"))


@return_app.command("receive")
def return_receive(
    return_id: int = typer.Argument(...), qty: int = typer.Option(..., "--qty"),
    condition: str = typer.Option("as_new", "--condition"),
    disposition: str = typer.Option(..., "--disposition", help="restock or write_off"),
    warehouse: str | None = typer.Option(None, "--warehouse", help="Default: where it shipped from."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Receive returned goods and restock or write them off."""
    run(as_json, lambda: returns.receive_return(store(), return_id, qty=qty, condition=condition,
                                                disposition=disposition, warehouse=warehouse, actor="cli"))


@return_app.command("refund")
def return_refund(return_id: int = typer.Argument(...), amount: str | None = typer.Option(None, "--amount"),
                  as_json: bool = JSON_OPTION) -> None:
    """Refund a received return (default: what was paid for the units)."""
    run(as_json, lambda: returns.refund_return(store(), return_id, amount=amount, actor="cli"))


@return_app.command("show")
def return_show(return_id: int = typer.Argument(...), as_json: bool = JSON_OPTION) -> None:
    run(as_json, lambda: returns.return_view(store(), return_id))
