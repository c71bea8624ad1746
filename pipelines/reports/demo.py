"""The reports' part of the demo tour: each merchant's weekly report for the last full week,
and where a merchant's mail and stock alerts would go."""

from __future__ import annotations

import os
from pathlib import Path

from rich.console import Console

from ops_store.db import Store
from ops_store.services import catalog
from pipelines.reports import content
from pipelines.reports.periods import last_complete
from pipelines.reports.produce import produce


def demo_step(*, data_dir: Path, store_url: str, number: int, console: Console, serve: bool = False) -> None:
    console.print(f"[bold]{number}. Merchant reports[/bold]: each merchant's weekly report (HTML and PDF) from the "
                  "published warehouse")
    through = content.latest_day()
    if through is None:
        console.print("  no orders in the warehouse yet: no report")
        return
    week = last_complete("week", through)
    previous = os.environ.get("OPS_STORE_URL")
    os.environ["OPS_STORE_URL"] = store_url
    store = Store(store_url)
    try:
        for code in [m["code"] for m in catalog.list_merchants(store)]:
            report = produce(store, code, week)
            now = report.figures.sales["now"] or {}
            console.print(f"  {code}: {report.pdf} (net revenue {report.say.money(now.get('net_revenue'))}, "
                          f"{now.get('orders')} orders)", soft_wrap=True)
    finally:
        store.dispose()
        if previous is None:
            os.environ.pop("OPS_STORE_URL", None)
        else:
            os.environ["OPS_STORE_URL"] = previous
    console.print("  Try: ecom report --merchant CODE --period day   |   ecom merchant notify CODE --email ... "
                  "(with ECOM_SMTP_HOST set, reports and stock alerts are mailed)")
