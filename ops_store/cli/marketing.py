"""Campaigns (with a held-out control group) and coupons."""

from __future__ import annotations

from pathlib import Path

import typer

from ops_store.cli.output import JSON_OPTION, run, store
from ops_store.errors import InvalidInput
from ops_store.services import campaigns, coupons

campaign_app = typer.Typer(help="Campaigns: audience split into target and control, contacts, spend.",
                           no_args_is_help=True)
coupon_app = typer.Typer(help="Coupon codes applied to orders (the order document's \"coupon\").",
                         no_args_is_help=True)

CAMPAIGN = typer.Argument(..., help="The campaign code.")
CUSTOMERS = typer.Option([], "--customer", help="A customer id; repeatable.")
CUSTOMERS_FILE = typer.Option(None, "--customers-file", help="A file with one customer id per line.")


def _customer_ids(ids: list[int], path: Path | None) -> list[int]:
    found = list(ids)
    if path is not None:
        try:
            lines = path.read_text().splitlines()
        except OSError as exc:
            raise InvalidInput(f"--customers-file cannot be read: {exc.strerror}", field="customers_file") from None
        for n, text in enumerate(lines, start=1):
            if text.strip():
                if not text.strip().isdigit():
                    raise InvalidInput(f"--customers-file line {n}: not a customer id", field="customers_file")
                found.append(int(text.strip()))
    if not found:
        raise InvalidInput("name customers with --customer or --customers-file", field="customer_ids")
    return found


@campaign_app.command("create")
def campaign_create(
    code: str = typer.Argument(...), name: str = typer.Option(..., "--name"),
    channel: str = typer.Option(..., "--channel", help="email, sms, push, ads or social"),
    starts_on: str = typer.Option(..., "--starts-on", help="YYYY-MM-DD"),
    ends_on: str = typer.Option(..., "--ends-on", help="YYYY-MM-DD"),
    budget: str = typer.Option(..., "--budget"),
    merchant: str | None = typer.Option(None, "--merchant", help="Default: programme-wide."),
    target_segment: str | None = typer.Option(None, "--segment", help="The customer segment aimed at."),
    control_share: str = typer.Option("0.1", "--control-share", help="Share held out as control, 0 to <1."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create a campaign."""
    run(as_json, lambda: campaigns.create_campaign(
        store(), code, name, channel=channel, starts_on=starts_on, ends_on=ends_on, budget=budget,
        merchant=merchant, target_segment=target_segment, control_share=control_share))


@campaign_app.command("show")
def campaign_show(code: str = CAMPAIGN, as_json: bool = JSON_OPTION) -> None:
    """The campaign with its audience, redemptions, attributed orders and spend."""
    run(as_json, lambda: campaigns.campaign_view(store(), code))


@campaign_app.command("list")
def campaign_list(merchant: str | None = typer.Option(None, "--merchant"), as_json: bool = JSON_OPTION) -> None:
    run(as_json, lambda: campaigns.list_campaigns(store(), merchant=merchant))


@campaign_app.command("assign")
def campaign_assign(
    code: str = CAMPAIGN, customer: list[int] = CUSTOMERS, customers_file: Path | None = CUSTOMERS_FILE,
    seed: int = typer.Option(0, "--seed", help="The same customers and seed give the same split."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Add customers to the audience, split at random (seeded) into target and control."""
    run(as_json, lambda: campaigns.assign_audience(store(), code, _customer_ids(customer, customers_file), seed))


@campaign_app.command("contacted")
def campaign_contacted(
    code: str = CAMPAIGN, customer: list[int] = CUSTOMERS, customers_file: Path | None = CUSTOMERS_FILE,
    as_json: bool = JSON_OPTION,
) -> None:
    """Record that target customers were contacted (control customers are refused)."""
    run(as_json, lambda: campaigns.mark_contacted(store(), code, _customer_ids(customer, customers_file)))


@campaign_app.command("spend")
def campaign_spend(code: str = CAMPAIGN, amount: str = typer.Option(..., "--amount"),
                   as_json: bool = JSON_OPTION) -> None:
    """Record spend on the campaign."""
    run(as_json, lambda: campaigns.record_spend(store(), code, amount))


@coupon_app.command("create")
def coupon_create(
    code: str = typer.Argument(...),
    kind: str = typer.Option(..., "--kind", help="percent, fixed or free_shipping"),
    value: str = typer.Option("0", "--value", help="percent: 10 = 10% off; fixed: an amount."),
    valid_from: str = typer.Option(..., "--valid-from", help="YYYY-MM-DD"),
    valid_to: str = typer.Option(..., "--valid-to", help="YYYY-MM-DD"),
    campaign: str | None = typer.Option(None, "--campaign"),
    merchant: str | None = typer.Option(None, "--merchant"),
    min_spend: str = typer.Option("0", "--min-spend"),
    max_uses: int | None = typer.Option(None, "--max-uses"),
    max_uses_per_customer: int | None = typer.Option(None, "--max-uses-per-customer"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create a coupon code."""
    run(as_json, lambda: coupons.create_coupon(
        store(), code, kind=kind, value=value, valid_from=valid_from, valid_to=valid_to, campaign=campaign,
        merchant=merchant, min_spend=min_spend, max_uses=max_uses, max_uses_per_customer=max_uses_per_customer))


@coupon_app.command("show")
def coupon_show(code: str = typer.Argument(...), as_json: bool = JSON_OPTION) -> None:
    """The coupon, its uses and the discount it gave."""
    run(as_json, lambda: coupons.coupon_view(store(), code))
