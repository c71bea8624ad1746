"""Users, roles, API keys, personal-data keys and the audit log."""

from __future__ import annotations

import os
import sys

import typer

from ops_store.cli.output import JSON_OPTION, run, store
from ops_store.errors import InvalidInput
from ops_store.security.access import MATRIX
from ops_store.security.pii import new_key
from ops_store.services import audit_log, key_rotation, users
from ops_store.settings import StoreSettings

user_app = typer.Typer(help="Users and their roles (admins only; the first admin bootstraps).", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys for channels and merchants (stored hashed).", no_args_is_help=True)
keys_app = typer.Typer(help="The key that encrypts personal data.", no_args_is_help=True)
audit_app = typer.Typer(help="The append-only audit log.", no_args_is_help=True)


def _password(stdin: bool) -> str:
    if stdin:
        return sys.stdin.readline().rstrip("\n")
    if os.environ.get("ECOM_NEW_PASSWORD"):
        return os.environ["ECOM_NEW_PASSWORD"]
    if sys.stdin.isatty():
        return typer.prompt("password", hide_input=True, confirmation_prompt=True)
    raise InvalidInput("give the password on standard input with --password-stdin", field="password")


@user_app.command("add")
def user_add(
    username: str = typer.Option(..., "--username"),
    role: str = typer.Option(..., "--role"),
    merchant: str | None = typer.Option(None, "--merchant", help="For merchant users: the merchant code."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from standard input."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Add a user with a role: admin, merchant, analyst, support or engineer."""
    run(as_json, lambda: users.add_user(store(), username, _password(password_stdin), role, merchant=merchant))


@user_app.command("grant")
def user_grant(
    username: str = typer.Option(..., "--username"),
    role: str = typer.Option(..., "--role"),
    merchant: str | None = typer.Option(None, "--merchant"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Give a user a (new) role."""
    run(as_json, lambda: users.grant(store(), username, role, merchant=merchant))


@user_app.command("deactivate")
def user_deactivate(username: str = typer.Option(..., "--username"), as_json: bool = JSON_OPTION) -> None:
    run(as_json, lambda: users.deactivate(store(), username))


@user_app.command("list")
def user_list(as_json: bool = JSON_OPTION) -> None:
    run(as_json, lambda: users.list_users(store()))


@apikey_app.command("create")
def apikey_create(
    name: str = typer.Option(..., "--name"),
    scope: list[str] = typer.Option(..., "--scope", help=f"Repeatable; one of {', '.join(sorted(MATRIX))}"),
    channel: str | None = typer.Option(None, "--channel"),
    merchant: str | None = typer.Option(None, "--merchant"),
    rate_limit: int | None = typer.Option(None, "--rate-limit", help="Requests a minute (ECOM_API_RATE_LIMIT)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create an API key; it is printed once and only its hash is kept."""
    run(as_json, lambda: users.create_api_key(store(), name, scopes=scope, channel=channel, merchant=merchant,
                                               rate_limit=rate_limit))


@apikey_app.command("revoke")
def apikey_revoke(prefix: str = typer.Argument(...), as_json: bool = JSON_OPTION) -> None:
    run(as_json, lambda: users.revoke_api_key(store(), prefix))


@apikey_app.command("list")
def apikey_list(as_json: bool = JSON_OPTION) -> None:
    run(as_json, lambda: users.list_api_keys(store()))


@keys_app.command("new")
def keys_new() -> None:
    """Print a new random key for ECOM_PII_KEY."""
    print(new_key())


@keys_app.command("rotate")
def keys_rotate(as_json: bool = JSON_OPTION) -> None:
    """Re-encrypt all personal data under the current key, batch by batch, while the store runs."""
    run(as_json, lambda: key_rotation.rotate_keys(store(), StoreSettings().ensure_data_dir()))


@audit_app.callback()
def _audit_group() -> None:
    """Keep `audit list` a sub-command (a one-command Typer app would collapse into it)."""


@audit_app.command("list")
def audit_list(
    action: str | None = typer.Option(None, "--action"),
    target: str | None = typer.Option(None, "--target"),
    limit: int = typer.Option(100, "--limit"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Recent audit entries (admins only)."""
    run(as_json, lambda: audit_log.list_audit(store(), action=action, target_id=target, limit=limit))
