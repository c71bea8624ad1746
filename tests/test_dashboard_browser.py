"""End to end in headless Chromium against `streamlit run` on the built shop: sign in, visit every
page, no error element, charts drawn, a full-page screenshot of each page in the artifacts folder
(data/test-artifacts/screenshots/, git-ignored; ECOM_TEST_ARTIFACTS moves it)."""

from __future__ import annotations

import pytest

from tests.browser_support import (
    artifacts_dir,
    chromium,
    open_page,
    screenshot,
    sign_in,
    streamlit_server,
    wait_for_run,
)
from tests.dashboard_support import PASSWORD, DashboardShop

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900), pytest.mark.xdist_group("built-shop")]

# pages without a chart until the user asks for something (a customer to look up)
NO_CHART = {"customer_360"}
TITLES = {"overview": "Overview", "sales": "Sales", "inventory": "Inventory", "forecast": "Forecast & replenishment",
          "customers": "Customers", "customer_360": "Customer 360", "recommendations": "Recommendations",
          "marketing": "Marketing", "service": "Service", "data_health": "Data health"}


def _errors(page) -> list[str]:  # type: ignore[no-untyped-def]
    boxes = page.locator("[data-testid='stException'], [data-testid='stAlertContentError']")
    return [boxes.nth(i).inner_text() for i in range(boxes.count())]


def test_every_page_in_a_real_browser(dashboard_shop: DashboardShop) -> None:
    from dashboards.pages import PAGES

    shots = artifacts_dir()
    with streamlit_server(dashboard_shop.env()) as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        sign_in(page, url, "admin-user", PASSWORD)
        for spec in PAGES:
            open_page(page, TITLES[spec.slug], spec.slug)
            assert _errors(page) == [], spec.slug
            if spec.slug not in NO_CHART:  # a drawn chart: vega-embed's canvas (or svg) inside it
                page.wait_for_selector("[data-testid='stVegaLiteChart'] canvas, [data-testid='stVegaLiteChart'] svg",
                                       timeout=30_000)
            screenshot(page, shots / f"{spec.slug}.png")
        # the whole app in Simplified Chinese
        page.locator("[data-testid='stSelectbox']").filter(has_text="Language").locator("input").click()
        page.get_by_role("option", name="简体中文").click()
        wait_for_run(page)
        open_page(page, "概览", "overview")
        assert _errors(page) == []
        assert page.get_by_text("净收入").count() > 0
        screenshot(page, shots / "overview-zh.png")


def test_merchant_in_a_real_browser_sees_its_own_shop_only(dashboard_shop: DashboardShop) -> None:
    import duckdb

    snapshot = dashboard_shop.data_dir / "snapshots" / "current.duckdb"
    with duckdb.connect(str(snapshot), read_only=True) as con:
        others = [r[0] for r in con.execute(
            "SELECT product_name FROM marts.dim_products WHERE merchant_id <> 1").fetchall()]
    with streamlit_server(dashboard_shop.env()) as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        sign_in(page, url, "merchant-user", PASSWORD)
        for slug in ("sales", "inventory"):
            open_page(page, TITLES[slug], slug)
            text = page.locator("[data-testid='stMain']").inner_text()
            assert not [name for name in others if name in text], slug
        nav = page.locator("[data-testid='stSidebarNav']").inner_text()
        assert "Data health" in nav and "Marketing" in nav
        screenshot(page, artifacts_dir() / "merchant-inventory.png")
