"""Merchants, warehouses, products, suppliers, carriers, delivery options."""

from __future__ import annotations

import typer

from ops_store.cli.output import JSON_OPTION, run, store
from ops_store.security import access
from ops_store.services import catalog, notifications

merchant_app = typer.Typer(help="Merchants selling on the portal.", no_args_is_help=True)
warehouse_app = typer.Typer(help="Warehouses holding stock.", no_args_is_help=True)
product_app = typer.Typer(help="The catalog: products per merchant.", no_args_is_help=True)
supplier_app = typer.Typer(help="Suppliers a merchant buys from.", no_args_is_help=True)
carrier_app = typer.Typer(help="Carriers and their delivery options.", no_args_is_help=True)


@merchant_app.command("add")
def merchant_add(
    code: str = typer.Option(..., "--code"), name: str = typer.Option(..., "--name"),
    currency: str = typer.Option("USD", "--currency"), tax_rate: str = typer.Option("0", "--tax-rate"),
    preferred_warehouse: str | None = typer.Option(None, "--preferred-warehouse"), as_json: bool = JSON_OPTION,
) -> None:
    """Add a merchant."""
    run(as_json, lambda: catalog.add_merchant(store(), code, name, currency=currency, tax_rate=tax_rate,
                                              preferred_warehouse=preferred_warehouse))


@merchant_app.command("list")
def merchant_list(as_json: bool = JSON_OPTION) -> None:
    """List merchants."""
    run(as_json, lambda: catalog.list_merchants(store()))


@merchant_app.command("notify")
def merchant_notify(
    code: str = typer.Argument(..., help="The merchant's code."),
    email: str | None = typer.Option(None, "--email", help="Mailbox for reports and stock alerts."),
    webhook_url: str | None = typer.Option(None, "--webhook-url", help="URL that receives signed stock alerts."),
    locale: str | None = typer.Option(None, "--locale", help="Report language: en or zh."),
    clear_email: bool = typer.Option(False, "--clear-email", help="Stop mailing this merchant."),
    clear_webhook: bool = typer.Option(False, "--clear-webhook", help="Remove the webhook and its secret."),
    new_secret: bool = typer.Option(False, "--new-secret", help="Replace the webhook's signing secret."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Where the merchant's reports and stock alerts go. A new webhook secret is printed once."""
    run(as_json, lambda: notifications.set_contacts(
        store(), code, email=email, webhook_url=webhook_url, locale=locale, clear_email=clear_email,
        clear_webhook=clear_webhook, new_secret=new_secret))


@merchant_app.command("outbox")
def merchant_outbox(
    status: str | None = typer.Option(None, "--status", help="pending, sent, failed or dead."),
    merchant: str | None = typer.Option(None, "--merchant"), limit: int = typer.Option(50, "--limit"),
    retry: bool = typer.Option(False, "--retry", help="Send what is due now (failed ones whose pause is over)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Reports and alerts sent or waiting, newest first; --retry sends the due ones first."""
    def action() -> object:
        if retry:
            access.require("merchants.manage")
            notifications.deliver_due(store())
        return notifications.outbox(store(), status=status, merchant=merchant, limit=limit)

    run(as_json, action)


@warehouse_app.command("add")
def warehouse_add(
    code: str = typer.Option(..., "--code"), name: str = typer.Option(..., "--name"),
    priority: int = typer.Option(100, "--priority", help="Lower is tried first by allocation."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Add a warehouse."""
    run(as_json, lambda: catalog.add_warehouse(store(), code, name, priority=priority))


@warehouse_app.command("list")
def warehouse_list(as_json: bool = JSON_OPTION) -> None:
    run(as_json, lambda: catalog.list_warehouses(store()))


@product_app.command("add")
def product_add(
    merchant: str = typer.Option(..., "--merchant"), sku: str = typer.Option(..., "--sku"),
    name: str = typer.Option(..., "--name"), price: str = typer.Option(..., "--price"),
    cost: str = typer.Option(..., "--cost"), category: str = typer.Option("uncategorised", "--category"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Add a product (SKU unique per merchant)."""
    run(as_json, lambda: catalog.add_product(store(), merchant, sku, name, price, cost, category=category))


@product_app.command("set")
def product_set(
    sku: str = typer.Option(..., "--sku"), merchant: str | None = typer.Option(None, "--merchant"),
    price: str | None = typer.Option(None, "--price"), cost: str | None = typer.Option(None, "--cost"),
    active: bool | None = typer.Option(None, "--active/--inactive"), as_json: bool = JSON_OPTION,
) -> None:
    """Change a product's price, cost or whether it is sold."""
    run(as_json, lambda: catalog.set_product(store(), sku, merchant=merchant, price=price, cost=cost, active=active))


@product_app.command("list")
def product_list(merchant: str | None = typer.Option(None, "--merchant"), as_json: bool = JSON_OPTION) -> None:
    run(as_json, lambda: catalog.list_products(store(), merchant))


@supplier_app.command("add")
def supplier_add(
    merchant: str = typer.Option(..., "--merchant"), code: str = typer.Option(..., "--code"),
    name: str = typer.Option(..., "--name"), lead_time_days: int = typer.Option(7, "--lead-time-days"),
    as_json: bool = JSON_OPTION,
) -> None:
    run(as_json, lambda: catalog.add_supplier(store(), merchant, code, name, lead_time_days=lead_time_days))


@carrier_app.command("add")
def carrier_add(code: str = typer.Option(..., "--code"), name: str = typer.Option(..., "--name"),
                as_json: bool = JSON_OPTION) -> None:
    run(as_json, lambda: catalog.add_carrier(store(), code, name))


@carrier_app.command("add-option")
def carrier_add_option(
    code: str = typer.Option(..., "--code", help="What orders name in delivery_option."),
    carrier: str = typer.Option(..., "--carrier"),
    kind: str = typer.Option(..., "--kind", help="standard, express or pickup"),
    name: str = typer.Option(..., "--name"), price: str = typer.Option(..., "--price"),
    promised_days: int = typer.Option(..., "--promised-days"), as_json: bool = JSON_OPTION,
) -> None:
    """Add a delivery option with its price and promised days."""
    run(as_json, lambda: catalog.add_delivery_option(store(), code, kind=kind, name=name, carrier=carrier,
                                                     price=price, promised_days=promised_days))


@carrier_app.command("options")
def carrier_options(as_json: bool = JSON_OPTION) -> None:
    run(as_json, lambda: catalog.list_delivery_options(store()))
