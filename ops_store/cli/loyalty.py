"""Loyalty points and tiers: a customer's account, expiry, tier recomputation, manual adjustments."""

from __future__ import annotations

from datetime import date

import typer

from ops_store.cli.output import JSON_OPTION, run, store
from ops_store.errors import InvalidInput
from ops_store.services import loyalty

loyalty_app = typer.Typer(help="Loyalty points (earn, redeem, expire) and member tiers.", no_args_is_help=True)
tiers_app = typer.Typer(help="Member tiers by trailing 12-month spend.", no_args_is_help=True)

CUSTOMER_ID = typer.Argument(..., help="The customer id.")
AS_OF = typer.Option(None, "--as-of", help="YYYY-MM-DD; default today.")


def _date(value: str | None, field: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"--{field.replace('_', '-')} must be a date YYYY-MM-DD", field=field) from None


@loyalty_app.command("show")
def loyalty_show(customer_id: int = CUSTOMER_ID, as_json: bool = JSON_OPTION) -> None:
    """Balance, tier and privileges, points by expiry date, the latest entries and tier moves."""
    run(as_json, lambda: loyalty.account_view(store(), customer_id))


@loyalty_app.command("expire")
def loyalty_expire(as_of: str | None = AS_OF, as_json: bool = JSON_OPTION) -> None:
    """Expire the points whose expiry date has come (run daily)."""
    run(as_json, lambda: loyalty.expire_points(store(), _date(as_of, "as_of")))


@loyalty_app.command("adjust")
def loyalty_adjust(
    customer_id: int = CUSTOMER_ID,
    points: int = typer.Option(..., "--points", help="Signed: negative takes points away (never below zero)."),
    reason: str = typer.Option(..., "--reason"),
    expires_on: str | None = typer.Option(None, "--expires-on", help="For added points; default the programme's."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Correct a balance or grant goodwill points, with a reason (audited)."""
    run(as_json, lambda: loyalty.adjust_points(store(), customer_id, points, reason=reason,
                                               expires_on=_date(expires_on, "expires_on")))


@tiers_app.command("recompute")
def tiers_recompute(
    customer_id: int | None = typer.Option(None, "--customer-id", help="One customer; default everyone."),
    as_of: str | None = AS_OF, as_json: bool = JSON_OPTION,
) -> None:
    """Move customers to the tier their spend of the last 365 days reaches (run daily)."""
    if customer_id is not None:
        run(as_json, lambda: loyalty.recompute_tier(store(), customer_id, _date(as_of, "as_of")))
    else:
        run(as_json, lambda: loyalty.recompute_tiers(store(), _date(as_of, "as_of")))


loyalty_app.add_typer(tiers_app, name="tiers")
