"""`ecom simulate`: write a coherent, deterministic shop history into an empty store."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ops_store.cli.output import JSON_OPTION, console, run, store
from ops_store.errors import InvalidInput
from ops_store.security import access
from ops_store.settings import StoreSettings


def _parse_end(value: str | None) -> date:
    if value is None:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"--end must be a date such as 2026-06-30, not {value!r}", field="end") from None


def _rich_progress(quiet: bool):  # type: ignore[no-untyped-def]
    from ops_store.simulate.run import Progress as Hooks

    if quiet:
        return Hooks(), None
    bar = Progress(TextColumn("{task.description:<18}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=Console(stderr=True), transient=False)
    tasks: dict[str, Any] = {}

    def start(name: str, total: int) -> None:
        tasks[name] = bar.add_task(name, total=max(total, 1))

    def advance(name: str, n: int) -> None:
        bar.advance(tasks[name], n)

    def done(name: str) -> None:
        task = bar.tasks[tasks[name]]
        bar.update(tasks[name], completed=task.total)

    return Hooks(start, advance, done), bar


def simulate_command(
    orders: int = typer.Option(5000, "--orders", help="About how many orders to create."),
    days: int = typer.Option(365, "--days", help="Days of history, ending the day before --end."),
    merchants: int | None = typer.Option(None, "--merchants", help="Merchants (default: 2 to 20 by size)."),
    seed: int = typer.Option(42, "--seed", help="Same seed, same rows."),
    end: str | None = typer.Option(None, "--end", help="History up to this date (default today, UTC)."),
    live: bool = typer.Option(False, "--live", help="Instead: send live orders, payments and tracking through the "
                              "running API (`ecom api`) into an existing shop."),
    rate: float = typer.Option(5.0, "--rate", help="--live: orders a second."),
    duration: float = typer.Option(60.0, "--duration", help="--live: seconds to run (Ctrl-C stops sooner)."),
    api_url: str | None = typer.Option(None, "--api-url", help="--live: the API (default ECOM_API_HOST:PORT)."),
    api_key: str | None = typer.Option(None, "--api-key", envvar="ECOM_API_KEY",
                                       help="--live: a channel key (default: one is created for the run)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Simulate a shop's history (catalog, customers, orders, payments, shipping, returns, stock,
    CRM, loyalty, campaigns) into an empty store, plus clickstream and competitor price files and
    the ground truth in the data dir's landing folder. See docs/simulate.md. With --live, send a
    running shop's traffic through the API instead (docs/api.md)."""
    if live:
        run(as_json, lambda: _live(rate, duration, api_url, api_key, quiet=as_json))
        return
    from ops_store.simulate.config import SimConfig
    from ops_store.simulate.run import simulate

    def action() -> dict[str, Any]:
        access.require("merchants.manage")
        try:
            cfg = SimConfig(orders=orders, days=days, merchants=merchants, seed=seed, end=_parse_end(end))
        except ValueError as exc:
            raise InvalidInput(str(exc), field="orders") from None
        hooks, bar = _rich_progress(as_json)
        if bar is not None:
            with bar:
                report = simulate(store(), cfg, StoreSettings().ensure_data_dir(), hooks)
        else:
            report = simulate(store(), cfg, StoreSettings().ensure_data_dir(), hooks)
        written = sum(v for k, v in report.rows.items() if not k.startswith("landing:"))
        return {**report.info, "rows_written": written, "rows": report.rows,
                "seconds": {k: round(v, 3) for k, v in report.phases.items()}}

    run(as_json, action, _render)


def _render(result: dict[str, Any]) -> None:
    table = Table(title=f"simulated {result['orders']} orders, {result['days']} days "
                        f"({result['start']} .. {result['end']}), seed {result['seed']}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, n in sorted(result["rows"].items()):
        table.add_row(name, f"{n:,}")
    console.print(table)
    console.print("phases: " + ", ".join(f"{k} {v:.1f}s" for k, v in result["seconds"].items()))
    console.print(f"landing files: {result['landing']}")


def _live(rate: float, duration: float, api_url: str | None, api_key: str | None, *, quiet: bool) -> dict[str, Any]:
    from ops_store.api.settings import ApiSettings
    from ops_store.services.users import create_api_key
    from ops_store.simulate.live import LiveShop

    settings = ApiSettings()
    url = api_url or f"http://{settings.host}:{settings.port}"
    if not api_key:
        api_key = create_api_key(store(), "live simulator", scopes=["orders.write", "orders.read"],
                                 channel="web", rate_limit=max(600, int(rate * 120)))["key"]
    shop = LiveShop(store(), url, api_key, rate=rate)

    def tick(stats: Any) -> None:
        if not quiet:
            p50 = stats.p(0.5)
            counts = ", ".join(f"{k}: {v}" for k, v in sorted(stats.sent.items()))
            console.print(f"[{time.strftime('%H:%M:%S')}] {counts}" + (f"; order p50 {p50:.0f} ms" if p50 else ""))

    if not quiet:
        console.print(f"sending {rate:g} orders a second to {url} for {duration:g} s (Ctrl-C stops)")
    try:
        stats = shop.run(duration, tick)
    except KeyboardInterrupt:
        shop.stop.set()
        stats = shop.stats
    finally:
        shop.close()
    return {"api": url, "rate": rate, "sent": dict(stats.sent), "order_p50_ms": stats.p(0.5),
            "order_p99_ms": stats.p(0.99)}
