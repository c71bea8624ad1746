"""`ecom`: one command for users and operators."""

from __future__ import annotations

from importlib.metadata import entry_points

import typer

from ops_store.api.cli import api_command
from ops_store.cli import catalog, crm, customers, loyalty, marketing, orders, security, stock
from ops_store.cli.backup import backup_command, restore_command
from ops_store.cli.importing import import_command
from ops_store.cli.output import JSON_OPTION, run, store
from ops_store.cli.simulate import simulate_command

app = typer.Typer(help="ecom: e-commerce operations and analytics.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
db_app = typer.Typer(help="The store's schema.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Option("head", "--revision"), as_json: bool = JSON_OPTION) -> None:
    """Create or migrate the store's schema (Alembic)."""
    from ops_store.migrate import upgrade

    run(as_json, lambda: {"url": store().engine.url.render_as_string(hide_password=True),
                          "revision": upgrade(store(), revision)})


@db_app.command("current")
def db_current(as_json: bool = JSON_OPTION) -> None:
    from ops_store.migrate import current_revision, head_revision

    run(as_json, lambda: {"current": current_revision(store()), "head": head_revision()})


@app.command("demo")
def demo(reset: bool = typer.Option(True, "--reset/--keep", help="Start from an empty demo store."),
         serve: bool = typer.Option(True, "--serve/--no-serve",
                                    help="End by serving the dashboards on the demo shop (Ctrl-C stops).")) -> None:
    """Run the demo on the embedded defaults: store, simulated shop, pipeline, then the dashboards."""
    from ops_store.demo import run_demo

    run_demo(reset=reset, serve=serve)


app.command("simulate")(simulate_command)
app.command("api")(api_command)
app.command("import")(import_command)
app.command("backup")(backup_command)
app.command("restore")(restore_command)
app.add_typer(db_app, name="db")
app.add_typer(catalog.merchant_app, name="merchant")
app.add_typer(catalog.warehouse_app, name="warehouse")
app.add_typer(catalog.product_app, name="product")
app.add_typer(catalog.supplier_app, name="supplier")
app.add_typer(catalog.carrier_app, name="carrier")
app.add_typer(stock.stock_app, name="stock")
app.add_typer(stock.policy_app, name="policy")
app.add_typer(stock.po_app, name="po")
app.add_typer(stock.count_app, name="count")
app.add_typer(orders.order_app, name="order")
app.add_typer(orders.payment_app, name="payment")
app.add_typer(orders.shipment_app, name="shipment")
app.add_typer(orders.return_app, name="return")
app.add_typer(customers.customer_app, name="customer")
app.add_typer(security.user_app, name="user")
app.add_typer(security.apikey_app, name="apikey")
app.add_typer(security.keys_app, name="keys")
app.add_typer(security.audit_app, name="audit")
app.add_typer(crm.ticket_app, name="ticket")
app.add_typer(crm.comm_app, name="comm")
app.add_typer(crm.review_app, name="review")
app.add_typer(crm.survey_app, name="survey")
app.add_typer(loyalty.loyalty_app, name="loyalty")
app.add_typer(marketing.campaign_app, name="campaign")
app.add_typer(marketing.coupon_app, name="coupon")


def _add_plugin_commands() -> None:
    """Commands of the higher rooms (pipeline, dashboards) register under the `ecom.commands`
    entry-point group, so the store's CLI offers them without importing them by name."""
    for entry in entry_points(group="ecom.commands"):
        app.add_typer(entry.load(), name=entry.name)


_add_plugin_commands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
