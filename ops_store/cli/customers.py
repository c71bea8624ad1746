"""Customers: profiles, look-ups, consents, access requests and erasure."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import typer

from ops_store.cli.output import JSON_OPTION, run, store
from ops_store.services import customer_export, customers
from ops_store.services.common import jsonable
from ops_store.settings import StoreSettings

customer_app = typer.Typer(help="Customers and their personal data.", no_args_is_help=True)
CUSTOMER_ID = typer.Argument(..., help="The customer id.")


@customer_app.command("add")
def customer_add(
    name: str = typer.Option(..., "--name"),
    email: str = typer.Option(..., "--email"),
    phone: str | None = typer.Option(None, "--phone"),
    ref: str | None = typer.Option(None, "--ref"),
    region: str | None = typer.Option(None, "--region"),
    country: str | None = typer.Option(None, "--country"),
    category: list[str] = typer.Option([], "--category", help="Preferred category, repeatable."),
    street: str | None = typer.Option(None, "--street"),
    city: str | None = typer.Option(None, "--city"),
    postal_code: str | None = typer.Option(None, "--postal-code"),
    consent_email: bool | None = typer.Option(None, "--consent-email/--no-consent-email"),
    consent_sms: bool | None = typer.Option(None, "--consent-sms/--no-consent-sms"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Add a customer (personal data is encrypted at rest)."""
    run(
        as_json,
        lambda: customers.add_customer(
            store(),
            name=name,
            email=email,
            phone=phone,
            customer_ref=ref,
            region=region,
            country=country,
            preferred_categories=category or None,
            street=street,
            city=city,
            postal_code=postal_code,
            consent_email=consent_email,
            consent_sms=consent_sms,
            source="cli",
        ),
    )


@customer_app.command("find")
def customer_find(
    email: str | None = typer.Option(None, "--email"),
    phone: str | None = typer.Option(None, "--phone"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Find customers by email or phone (blind-index look-up)."""
    run(as_json, lambda: customers.find_customers(store(), email=email, phone=phone))


@customer_app.command("show")
def customer_show(customer_id: int = CUSTOMER_ID, as_json: bool = JSON_OPTION) -> None:
    """A customer's profile: masked unless your role may see personal data (clear views are audited)."""
    run(as_json, lambda: customers.show_customer(store(), customer_id))


@customer_app.command("update")
def customer_update(
    customer_id: int = CUSTOMER_ID,
    name: str | None = typer.Option(None, "--name"),
    email: str | None = typer.Option(None, "--email"),
    phone: str | None = typer.Option(None, "--phone"),
    region: str | None = typer.Option(None, "--region"),
    country: str | None = typer.Option(None, "--country"),
    as_json: bool = JSON_OPTION,
) -> None:
    run(
        as_json,
        lambda: customers.update_customer(
            store(), customer_id, name=name, email=email, phone=phone, region=region, country=country
        ),
    )


@customer_app.command("consent")
def customer_consent(
    customer_id: int = CUSTOMER_ID,
    channel: str = typer.Option(..., "--channel", help="email or sms"),
    grant: bool = typer.Option(..., "--grant/--withdraw"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Record a grant or withdrawal of marketing consent."""
    run(as_json, lambda: customers.set_consent(store(), customer_id, channel, grant, source="cli"))


@customer_app.command("export")
def customer_export_cmd(
    customer_id: int = CUSTOMER_ID,
    out: Path | None = typer.Option(None, "--out", help="Default: $ECOM_DATA_DIR/exports/customer-ID-TIME.json"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Write everything held about a person as one JSON document (owner-only file; audited)."""

    def action() -> dict[str, object]:
        document = customer_export.export_customer(store(), customer_id)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = out or StoreSettings().ensure_data_dir() / "exports" / f"customer-{customer_id}-{stamp}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(jsonable(document), fh, indent=2, sort_keys=True)
        return {
            "customer_id": customer_id,
            "path": str(path),
            "sections": {
                k: len(v) if isinstance(v, list) else 1 for k, v in document.items() if k in customer_export.SECTIONS
            },
        }

    run(as_json, action)


@customer_app.command("erase")
def customer_erase(
    customer_id: int = CUSTOMER_ID,
    yes: bool = typer.Option(False, "--yes", help="Do not ask."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Erase a person's personal data for good (orders stay, pseudonymous; audited)."""
    if not yes and not typer.confirm(f"Erase customer {customer_id}'s personal data for good?"):
        raise typer.Exit(1)
    run(as_json, lambda: customers.erase_customer(store(), customer_id))
