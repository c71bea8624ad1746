"""The dashboards' part of the demo tour: one sign-in per role on the simulated shop, printed,
then (unless told not to) the dashboards served on it until Ctrl-C."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ops_store.db import Store
from ops_store.errors import AlreadyExists
from ops_store.models.access import ROLES
from ops_store.services.catalog import list_merchants
from ops_store.services.users import add_user


def demo_users(store: Store, folder: Path) -> list[tuple[str, str, str]]:
    """One user per role (the merchant user bound to the first merchant), each with a new random
    password; the list is also kept in an owner-only file, since it is printed only once."""
    merchant = list_merchants(store)[0]["code"]
    made = []
    for role in ROLES:
        username = f"demo-{role}"
        password = secrets.token_urlsafe(12)
        try:
            add_user(store, username, password, role, merchant=merchant if role == "merchant" else None)
        except AlreadyExists:
            continue  # kept from an earlier `ecom demo --keep`: its password is in the file below
        made.append((username, password, role + (f" ({merchant})" if role == "merchant" else "")))
    if made:
        path = folder / "dashboard-users.txt"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a") as handle:
            handle.writelines(f"{u}\t{p}\t{r}\n" for u, p, r in made)
    return made


def demo_step(*, data_dir: Path, store_url: str, number: int, console: Console, serve: bool = False) -> None:
    from dashboards.cli import serve as serve_dashboards

    store = Store(store_url)
    try:
        users = demo_users(store, data_dir / "demo")
    finally:
        store.dispose()
    console.print(f"[bold]{number}. The dashboards[/bold]: one sign-in per role on the simulated shop "
                  f"(also in {data_dir / 'demo' / 'dashboard-users.txt'}, owner-only)")
    table = Table("user", "password", "role")
    for row in users:
        table.add_row(*row)
    console.print(table)
    command = f"OPS_STORE_URL={store_url} ecom dashboard"
    if not serve:
        console.print(f"  Serve them with: {command}")
        return
    console.print("  Stop with Ctrl-C.")
    serve_dashboards(env={"OPS_STORE_URL": store_url, "ECOM_DATA_DIR": str(data_dir)})
