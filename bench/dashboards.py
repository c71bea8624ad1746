"""Every dashboard page, cold and warm, timed in a real browser (headless Chromium) against
`streamlit run` on a built warehouse, beside a floor measured in the same run.

Cold: the first visit of a page after the server started (its queries not yet cached); warm:
the median of three later visits. Each time runs from the click in the sidebar until the page's
script finished and every chart drew. Floor (the baseline): the same click-to-drawn round trip
on a one-line Streamlit page served on this machine at the same time; ratio = page / floor.
Goals (issue 8): warm under 1 s and cold under 3 s on a 1M-order shop.

    .venv/bin/python bench/marts.py --orders 1000000 --keep /tmp/marts1m      # simulate and load
    ECOM_DATA_DIR=/tmp/marts1m OPS_STORE_URL=sqlite:////tmp/marts1m/store.sqlite ecom pipeline run
    .venv/bin/python bench/dashboards.py --data-dir /tmp/marts1m
    .venv/bin/python bench/dashboards.py --orders 20000                      # builds a small shop first
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

# this file is bench/dashboards.py: without its own folder on the path, `dashboards` is the app's package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FLOOR_APP = '''
import streamlit as st
def blank():
    st.title("Floor")
def other():
    st.title("Other")
st.navigation([st.Page(blank, title="Blank", url_path="blank"), st.Page(other, title="Other", url_path="other")]).run()
'''


def build(data_dir: Path, orders: int) -> str:
    """Simulate a shop and run the whole pipeline on it (marts, models, snapshot)."""
    from ops_store.db import Store
    from ops_store.migrate import upgrade
    from ops_store.simulate.config import SimConfig
    from ops_store.simulate.run import simulate
    from pipelines.runner import run_pipeline

    url = f"sqlite:///{data_dir / 'store.sqlite'}"
    store = Store(url)
    upgrade(store)
    simulate(store, SimConfig(orders=orders, days=365, seed=42), data_dir)
    store.dispose()
    os.environ["OPS_STORE_URL"] = url
    result = run_pipeline()
    if not result.success:
        raise SystemExit(f"pipeline failed: {[p.failures for p in result.phases]}")
    return url


def bench_user(url: str) -> tuple[str, str]:
    from ops_store.db import Store
    from ops_store.security.access import SYSTEM, acting_as
    from ops_store.services.users import add_user

    name, password = f"bench-{secrets.token_hex(3)}", secrets.token_urlsafe(16)
    store = Store(url)
    with acting_as(SYSTEM):
        add_user(store, name, password, "admin")
    store.dispose()
    return name, password


def floor_seconds(browser, rounds: int = 5) -> float:  # type: ignore[no-untyped-def]
    from tests.browser_support import open_page, streamlit_server, wait_for_run

    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "floor.py"
        script.write_text(FLOOR_APP)
        import dashboards.cli as cli

        original = cli.APP
        cli.APP = script
        try:
            with streamlit_server({}) as url:
                page = browser.new_page(viewport={"width": 1440, "height": 1000})
                page.goto(url)
                page.wait_for_selector("[data-testid='stSidebarNav']")
                wait_for_run(page)
                times = []
                for _ in range(rounds):
                    times.append(open_page(page, "Other", "other"))
                    times.append(open_page(page, "Blank", "blank"))
                page.close()
        finally:
            cli.APP = original
    return statistics.median(times)


def measure(data_dir: Path, url: str, warm_rounds: int = 3) -> dict[str, Any]:
    """Floor and every page cold and warm (median of ``warm_rounds``), in seconds, on the snapshot
    published under ``data_dir`` with the store at ``url`` (a bench admin user is added to it)."""
    from dashboards.pages import PAGES
    from tests.browser_support import chromium, open_page, sign_in, streamlit_server
    from tests.test_dashboard_browser import TITLES

    user, password = bench_user(url)
    import duckdb

    with duckdb.connect(str(data_dir / "snapshots" / "current.duckdb"), read_only=True) as con:
        orders = con.execute("SELECT count(*) FROM marts.fct_orders").fetchone()[0]
    env = {"ECOM_DATA_DIR": str(data_dir), "OPS_STORE_URL": url}
    with chromium() as browser:
        floor = floor_seconds(browser)
        with streamlit_server(env) as base:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            # the first page after signing in is the Overview: its cold time includes the password check
            cold = {PAGES[0].slug: sign_in(page, base, user, password)}
            cold.update({p.slug: open_page(page, TITLES[p.slug], p.slug) for p in PAGES[1:]})
            warm: dict[str, list[float]] = {p.slug: [] for p in PAGES}
            for _ in range(warm_rounds):
                for p in PAGES:
                    warm[p.slug].append(open_page(page, TITLES[p.slug], p.slug))
    return {"orders": orders, "floor": floor, "cold": cold,
            "warm": {slug: statistics.median(times) for slug, times in warm.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, help="a data dir with a published snapshot and its store")
    parser.add_argument("--store-url", help="the store (default sqlite:///<data-dir>/store.sqlite)")
    parser.add_argument("--orders", type=int, default=20_000, help="without --data-dir: build a shop this size")
    parser.add_argument("--warm-rounds", type=int, default=3)
    args = parser.parse_args()
    data_dir = (args.data_dir or Path(tempfile.mkdtemp(prefix="ecom_bench_dash_"))).resolve()
    os.environ["ECOM_DATA_DIR"] = str(data_dir)
    os.environ.pop("ECOM_WAREHOUSE_PATH", None)
    url = args.store_url or (f"sqlite:///{data_dir / 'store.sqlite'}" if args.data_dir else build(data_dir,
                                                                                                  args.orders))
    figures = measure(data_dir, url, args.warm_rounds)
    floor = figures["floor"]
    print(f"dashboards on {figures['orders']:,} orders ({data_dir}); floor (one-line page) {floor * 1000:.0f} ms; "
          "overview's cold time includes signing in (argon2 password check)")
    print(f"{'page':<18}{'cold s':>8}{'warm s':>8}{'cold/floor':>12}{'warm/floor':>12}  goal (cold<3, warm<1)")
    for slug, c in figures["cold"].items():
        w = figures["warm"][slug]
        ok = "met" if c < 3 and w < 1 else "MISSED"
        print(f"{slug:<18}{c:>8.2f}{w:>8.2f}{c / floor:>12.1f}{w / floor:>12.1f}  {ok}")


if __name__ == "__main__":
    main()
