"""Stock, replenishment policies, alerts, purchase orders and counts."""

from __future__ import annotations

from datetime import date

import typer

from ops_store.cli.output import JSON_OPTION, run, store
from ops_store.errors import InvalidInput
from ops_store.services import counts, replenishment, stock

stock_app = typer.Typer(help="Stock on hand, receipts, adjustments, transfers, the ledger.", no_args_is_help=True)
policy_app = typer.Typer(help="Replenishment policies and low-stock alerts.", no_args_is_help=True)
po_app = typer.Typer(help="Purchase orders to suppliers.", no_args_is_help=True)
count_app = typer.Typer(help="Stock counts (cycle counts).", no_args_is_help=True)

MERCHANT = typer.Option(None, "--merchant", help="Needed only when several merchants use the SKU.")


@stock_app.command("receive")
def stock_receive(
    sku: str = typer.Option(..., "--sku"), warehouse: str = typer.Option(..., "--warehouse"),
    qty: int = typer.Option(..., "--qty"), unit_cost: str | None = typer.Option(None, "--unit-cost"),
    merchant: str | None = MERCHANT, as_json: bool = JSON_OPTION,
) -> None:
    """Receive goods (outside a purchase order); the cost defaults to the catalog cost."""
    run(as_json, lambda: stock.receive_stock(store(), sku, warehouse, qty, unit_cost=unit_cost, merchant=merchant,
                                             actor="cli"))


@stock_app.command("adjust")
def stock_adjust(
    sku: str = typer.Option(..., "--sku"), warehouse: str = typer.Option(..., "--warehouse"),
    qty: int = typer.Option(..., "--qty", help="Signed: negative removes units."),
    reason: str = typer.Option(..., "--reason"), unit_cost: str | None = typer.Option(None, "--unit-cost"),
    merchant: str | None = MERCHANT, as_json: bool = JSON_OPTION,
) -> None:
    """Correct stock with a reason (damage, found goods)."""
    run(as_json, lambda: stock.adjust_stock(store(), sku, warehouse, qty, reason=reason, unit_cost=unit_cost,
                                            merchant=merchant, actor="cli"))


@stock_app.command("transfer")
def stock_transfer(
    sku: str = typer.Option(..., "--sku"), from_warehouse: str = typer.Option(..., "--from"),
    to_warehouse: str = typer.Option(..., "--to"), qty: int = typer.Option(..., "--qty"),
    merchant: str | None = MERCHANT, as_json: bool = JSON_OPTION,
) -> None:
    """Move available units between warehouses."""
    run(as_json, lambda: stock.transfer_stock(store(), sku, from_warehouse, to_warehouse, qty, merchant=merchant,
                                              actor="cli"))


@stock_app.command("show")
def stock_show(
    sku: str | None = typer.Option(None, "--sku"), warehouse: str | None = typer.Option(None, "--warehouse"),
    merchant: str | None = typer.Option(None, "--merchant"), as_json: bool = JSON_OPTION,
) -> None:
    """On hand, reserved and available per SKU and warehouse, with value at average cost."""
    run(as_json, lambda: stock.stock_show(store(), sku, warehouse=warehouse, merchant=merchant))


@stock_app.command("ledger")
def stock_ledger(sku: str = typer.Option(..., "--sku"), merchant: str | None = MERCHANT,
                 limit: int = typer.Option(200, "--limit"), as_json: bool = JSON_OPTION) -> None:
    """The movements of a SKU, newest first."""
    run(as_json, lambda: stock.ledger(store(), sku, merchant=merchant, limit=limit))


@policy_app.command("set")
def policy_set(
    sku: str = typer.Option(..., "--sku"), warehouse: str = typer.Option(..., "--warehouse"),
    reorder_point: int = typer.Option(..., "--reorder-point"), reorder_qty: int = typer.Option(..., "--reorder-qty"),
    safety_stock: int = typer.Option(0, "--safety-stock"), order_multiple: int = typer.Option(1, "--order-multiple"),
    lead_time_days: int = typer.Option(7, "--lead-time-days"), supplier: str | None = typer.Option(None, "--supplier"),
    merchant: str | None = MERCHANT, as_json: bool = JSON_OPTION,
) -> None:
    """Set the replenishment policy of a SKU in a warehouse."""
    run(as_json, lambda: replenishment.set_policy(
        store(), sku, warehouse, reorder_point=reorder_point, reorder_qty=reorder_qty, safety_stock=safety_stock,
        order_multiple=order_multiple, lead_time_days=lead_time_days, supplier=supplier, merchant=merchant))


@policy_app.command("alerts")
def policy_alerts(
    status: str = typer.Option("open", "--status", help="open, resolved or all"),
    merchant: str | None = typer.Option(None, "--merchant"), as_json: bool = JSON_OPTION,
) -> None:
    """Low-stock alerts with the suggested order quantity."""
    run(as_json, lambda: replenishment.list_alerts(store(), status=None if status == "all" else status,
                                                   merchant=merchant))


def _po_lines(lines: list[str]) -> list[tuple[str, str, str | None]]:
    parsed = []
    for i, text in enumerate(lines):
        parts = text.split(":")
        if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
            raise InvalidInput(f"--line {text!r}: write SKU:QTY or SKU:QTY:UNIT_COST", field=f"lines[{i}]")
        parsed.append((parts[0], parts[1], parts[2] if len(parts) == 3 else None))
    return parsed


@po_app.command("create")
def po_create(
    merchant: str = typer.Option(..., "--merchant"), supplier: str = typer.Option(..., "--supplier"),
    warehouse: str = typer.Option(..., "--warehouse"),
    line: list[str] = typer.Option(..., "--line", help="SKU:QTY[:UNIT_COST], repeatable."),
    expected_on: str | None = typer.Option(None, "--expected-on", help="YYYY-MM-DD; default today + lead time."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Order goods from a supplier."""

    def action():  # type: ignore[no-untyped-def]
        try:
            expected = date.fromisoformat(expected_on) if expected_on else None
        except ValueError:
            raise InvalidInput("--expected-on must be a date YYYY-MM-DD", field="expected_on") from None
        return replenishment.create_purchase_order(store(), merchant, supplier, warehouse, _po_lines(line),
                                                   expected_on=expected, actor="cli")

    run(as_json, action)


@po_app.command("receive")
def po_receive(
    po_id: int = typer.Argument(...),
    line: list[str] = typer.Option([], "--line", help="SKU:QTY for a partial delivery; default all outstanding."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Receive a purchase order (fully, or partly with --line)."""

    def action():  # type: ignore[no-untyped-def]
        received = {sku: qty for sku, qty, _ in _po_lines(line)} if line else None
        return replenishment.receive_purchase_order(store(), po_id, received, actor="cli")

    run(as_json, action)


@po_app.command("show")
def po_show(po_id: int = typer.Argument(...), as_json: bool = JSON_OPTION) -> None:
    run(as_json, lambda: replenishment.purchase_order_view(store(), po_id))


@po_app.command("cancel")
def po_cancel(po_id: int = typer.Argument(...), as_json: bool = JSON_OPTION) -> None:
    run(as_json, lambda: replenishment.cancel_purchase_order(store(), po_id, actor="cli"))


@count_app.command("open")
def count_open(warehouse: str = typer.Option(..., "--warehouse"),
               sku: list[str] = typer.Option([], "--sku", help="Repeatable; default every SKU in the warehouse."),
               as_json: bool = JSON_OPTION) -> None:
    """Open a stock count."""
    run(as_json, lambda: counts.open_count(store(), warehouse, skus=sku or None, actor="cli"))


@count_app.command("record")
def count_record(count_id: int = typer.Argument(...), sku: str = typer.Option(..., "--sku"),
                 qty: int = typer.Option(..., "--qty"), as_json: bool = JSON_OPTION) -> None:
    """Record a counted quantity."""
    run(as_json, lambda: counts.record_count(store(), count_id, sku, qty, actor="cli"))


@count_app.command("post")
def count_post(count_id: int = typer.Argument(...), as_json: bool = JSON_OPTION) -> None:
    """Post the count: differences become count corrections valued at cost."""
    run(as_json, lambda: counts.post_count(store(), count_id, actor="cli"))


@count_app.command("show")
def count_show(count_id: int = typer.Argument(...), as_json: bool = JSON_OPTION) -> None:
    run(as_json, lambda: counts.count_view(store(), count_id))
