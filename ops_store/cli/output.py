"""Printing results and errors the same way in every command."""

from __future__ import annotations

import getpass
import json
import logging
import os
import sys
from collections.abc import Callable
from functools import cache
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import DBAPIError

from ops_store.db import Store
from ops_store.errors import DomainError, InvalidInput
from ops_store.security.access import Principal, acting_as
from ops_store.services.common import jsonable
from ops_store.settings import StoreSettings

JSON_OPTION = typer.Option(False, "--json", help="Print machine-readable JSON.")
console = Console()


@cache
def store() -> Store:
    """The store named by the environment (OPS_STORE_URL, else SQLite in ECOM_DATA_DIR)."""
    settings = StoreSettings()
    settings.ensure_data_dir()
    _log_to_file(settings)
    return Store.from_settings(settings)


def _log_to_file(settings: StoreSettings) -> None:
    logs = settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(logs / "ecom.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger("ops_store")
    root.setLevel(logging.INFO)
    root.addHandler(handler)


def fail(error: DomainError, as_json: bool) -> NoReturn:
    if as_json:
        print(json.dumps({"error": jsonable(error.to_dict())}))
    else:
        print(f"error ({error.code}): {error.message}", file=sys.stderr)
    raise typer.Exit(1)


LOCAL_ROLES = ("admin", "analyst", "support", "engineer")


@cache
def principal() -> Principal:
    """Who the CLI acts as. With ECOM_USER (and ECOM_PASSWORD, or a prompt on a terminal) the
    CLI logs in as that user. Without it, it is the local operator, who already holds the store's
    database credentials: role ECOM_CLI_ROLE (default admin)."""
    username = os.environ.get("ECOM_USER")
    if username:
        from ops_store.services.users import authenticate

        password = os.environ.get("ECOM_PASSWORD")
        if password is None:
            password = getpass.getpass(f"password for {username}: ") if sys.stdin.isatty() else ""
        return authenticate(store(), username, password)
    role = os.environ.get("ECOM_CLI_ROLE", "admin")
    if role not in LOCAL_ROLES:
        raise InvalidInput(f"ECOM_CLI_ROLE must be one of {', '.join(LOCAL_ROLES)}; merchants log in with ECOM_USER",
                           field="ECOM_CLI_ROLE")
    return Principal(f"cli:{getpass.getuser()}", role)


def run(as_json: bool, action: Callable[[], Any], render: Callable[[Any], None] | None = None) -> Any:
    """Run one service call as the CLI's principal; print the result as JSON or for people;
    errors exit 1."""
    try:
        with acting_as(principal()):
            result = action()
    except DomainError as exc:
        fail(exc, as_json)
    except DBAPIError as exc:
        fail(database_problem(exc), as_json)
    if as_json:
        print(json.dumps(jsonable(result), indent=2))
    elif render is not None:
        render(result)
    else:
        show(result)
    return result


class StoreProblem(DomainError):
    code = "store_unavailable"


class SchemaOutOfDate(DomainError):
    code = "schema_out_of_date"


def database_problem(exc: DBAPIError) -> DomainError:
    """Say what is wrong with the store and what to do, instead of a stack trace."""
    from ops_store.migrate import current_revision, head_revision

    url = store().engine.url.render_as_string(hide_password=True)
    try:
        current, head = current_revision(store()), head_revision()
    except DBAPIError:
        current = head = None
    if current != head and head is not None:
        return SchemaOutOfDate(f"the store at {url} is at schema revision {current or 'none'}, this version needs "
                               f"{head}: run `ecom db upgrade`", field="OPS_STORE_URL")
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
    return StoreProblem(f"the store at {url} could not be used ({reason}); check OPS_STORE_URL and that the "
                        "database is running", field="OPS_STORE_URL")


def show(result: Any) -> None:
    """A list of flat dicts as a table, a dict as key/value lines."""
    if isinstance(result, list):
        if not result:
            console.print("(none)")
            return
        columns = [k for k, v in result[0].items() if not isinstance(v, list | dict)]
        table = Table(*columns)
        for row in result:
            table.add_row(*(_cell(row.get(c)) for c in columns))
        console.print(table)
    elif isinstance(result, dict):
        for key, value in result.items():
            if isinstance(value, list) and value and isinstance(value[0], dict):
                console.print(f"[bold]{key}[/bold]:")
                show(value)
            else:
                console.print(f"[bold]{key}[/bold]: {_cell(value)}")
    elif result is not None:
        console.print(str(result))


def _cell(value: Any) -> str:
    value = jsonable(value)
    return "" if value is None else str(value)
