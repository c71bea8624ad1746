"""The self-service site end to end in headless Chromium against `ecom api` (uvicorn, two workers)
on a SQLite store: a customer signs in with an order reference and email, follows the order's
tracking, requests a return, opens a support request and reads the agent's reply, sees their
loyalty points, cannot open another customer's order, and signs out. Each step leaves a
full-page screenshot in data/test-artifacts/selfservice/ (git-ignored; ECOM_TEST_ARTIFACTS moves it)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from ops_store.db import Store
from ops_store.security.access import SYSTEM, acting_as
from ops_store.services import customers, loyalty, orders, shipping, tickets
from tests.api_support import live_api
from tests.browser_support import artifacts_dir, chromium
from tests.factories import make_shop, order_doc


def _shop(store: Store) -> dict[str, Any]:
    make_shop(store)
    ada = customers.add_customer(store, name="Ada Lovelace", email="ada@example.org", customer_ref="C-ada")
    customers.add_customer(store, name="Bob Stone", email="bob@example.org", customer_ref="C-bob")
    placed = orders.place_order(store, order_doc("WEB-100", [("SKU-1", 2), ("SKU-3", 1)], customer="C-ada"))
    orders.allocate_order(store, placed["order_id"])
    parcel = shipping.ship_order(store, placed["order_id"])["shipments"][0]["tracking_number"]
    start = datetime.now(UTC)  # the label was made just now, at shipping: the carrier's scans follow
    for minutes, status, where in ((20, "picked_up", "Main warehouse"), (95, "in_transit", "Sorting centre"),
                                   (300, "out_for_delivery", "Local depot"), (340, "delivered", "Front door")):
        shipping.record_tracking_event(store, parcel, status, occurred_at=start + timedelta(minutes=minutes),
                                       location=where)
    bobs = orders.place_order(store, order_doc("WEB-200", [("SKU-2", 1)], customer="C-bob", method="bank_transfer"))
    loyalty.adjust_points(store, ada["customer_id"], 120, reason="goodwill")
    return {"order": placed["order_id"], "bob_order": bobs["order_id"]}


@pytest.mark.slow
@pytest.mark.xdist_group("selfservice-browser")
@pytest.mark.timeout(300)
def test_a_customer_walks_through_the_self_service_site(fresh_store: Callable[[str], Store]) -> None:
    store = fresh_store("sqlite")
    shop = _shop(store)
    shots = artifacts_dir("selfservice")
    env = {"ECOM_DATA_DIR": os.environ["ECOM_DATA_DIR"], "OPS_STORE_URL": store.url,
           "ECOM_API_SIGN_IN_PER_MINUTE": "600", "ECOM_SMTP_HOST": ""}
    with live_api(env, workers=2) as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        # console errors, e.g. anything the Content-Security-Policy refused (pages answered 400 or 404
        # on purpose are logged as failed loads: not a problem)
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text)
                if m.type == "error" and not m.text.startswith("Failed to load resource") else None)

        def shot(name: str) -> None:
            page.screenshot(path=str(shots / f"{name}.png"), full_page=True)

        # a wrong email first: the one message for every failure, the form keeps what was typed
        page.goto(f"{url}/account")
        expect(page.get_by_role("heading", name="See your orders")).to_be_visible()
        page.get_by_label("Order number").fill("WEB-100")
        page.get_by_label("Email address").fill("bob@example.org")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_have_text("no order with this number and email")
        expect(page.get_by_label("Order number")).to_have_value("WEB-100")
        shot("01-sign-in-refused")

        page.get_by_label("Email address").fill("ada@example.org")
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{url}/account/orders/{shop['order']}")
        expect(page.get_by_role("heading", name=f"Order {shop['order']}", exact=True)).to_be_visible()
        steps = page.locator("ol.steps li")
        expect(steps).to_have_count(5)
        for i, label in enumerate(("Label created", "Picked up", "In transit", "Out for delivery", "Delivered")):
            expect(steps.nth(i)).to_contain_text(label)
            expect(steps.nth(i)).to_have_class(re.compile(r"\bdone\b"))
        page.get_by_text("All tracking events").click()
        expect(page.get_by_text("Sorting centre")).to_be_visible()
        shot("02-order-and-tracking")

        # a return of one mug
        page.get_by_label("Item to return").select_option("SKU-1")
        page.get_by_label("Quantity").fill("1")
        page.get_by_label("Why are you returning it?").fill("One is enough")
        page.get_by_role("button", name="Request return").click()
        expect(page.get_by_role("status")).to_contain_text("Your return request was sent")
        returns_table = page.locator("#returns table")
        expect(returns_table).to_contain_text("One is enough")
        expect(returns_table).to_contain_text("Requested, awaiting review")
        shot("03-return-requested")

        # a support request about the order
        page.get_by_role("link", name="Support").click()
        page.get_by_label("What is it about?").select_option("delivery")
        page.get_by_label("Which order? (optional)").select_option(str(shop["order"]))
        page.get_by_label("Subject").fill("A mug arrived chipped")
        page.get_by_label("Your message").fill("The second mug has a chip on the rim.")
        page.get_by_role("button", name="Send").click()
        expect(page.get_by_role("heading", name="A mug arrived chipped")).to_be_visible()
        expect(page.get_by_role("status")).to_contain_text("we received your request")
        ticket_id = int(re.search(r"/account/tickets/(\d+)", page.url).group(1))
        shot("04-ticket-opened")

        with acting_as(SYSTEM):  # customer service answers in the back office
            tickets.add_message(store, ticket_id, "agent", "ana", "Sorry about that! A new mug is on its way.")
        page.reload()
        reply = page.locator("li.message.from-agent")
        expect(reply).to_contain_text("Customer service")
        expect(reply).to_contain_text("Sorry about that! A new mug is on its way.")
        expect(page.get_by_text("In progress")).to_be_visible()
        shot("05-agent-reply")

        page.get_by_role("link", name="Loyalty points").click()
        expect(page.locator(".balance")).to_contain_text("120 points")
        expect(page.locator(".balance")).to_contain_text("Worth 1.20")
        shot("06-loyalty")

        # another customer's order, by its address: not found
        page.goto(f"{url}/account/orders/{shop['bob_order']}")
        expect(page.get_by_role("heading", name="Not found")).to_be_visible()
        expect(page.locator("main")).not_to_contain_text("WEB-200")
        shot("07-other-customers-order-not-found")

        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("status")).to_have_text("You have signed out.")
        page.goto(f"{url}/account/orders/{shop['order']}")
        expect(page).to_have_url(re.compile(r"/account\?note=required$"))
        expect(page.get_by_role("heading", name="See your orders")).to_be_visible()
        shot("08-signed-out")
        assert problems == []
