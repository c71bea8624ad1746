"""The customers' self-service site (/account), in-process on both backends: signing in (order
reference + email, or a one-time emailed link through a real SMTP server), the session and its
CSRF token, the rate limit, and the pages acting as the customer: orders with tracking, returns,
support requests, loyalty points; another customer's records are not found."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select, update

from ops_store.api.selfservice import session as account_session
from ops_store.api.settings import api_secret
from ops_store.db import Store
from ops_store.models import ReturnRequest, SignInLink, Ticket
from ops_store.services import customers, loyalty, orders, self_service, shipping, tickets
from tests.api_support import client
from tests.factories import make_shop, order_doc
from tests.messaging_support import smtp_server

FAILED = "no order with this number and email"
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')
LINK_RE = re.compile(r"http://testserver/account/link/(\S+)")


@dataclass
class World:
    store: Store
    ada: int  # customer A: a delivered order (full tracking), a shipped one
    bob: int  # customer B: an order and a ticket of his own
    delivered: int
    in_transit: int
    bob_order: int
    bob_ticket: int


def _world(store: Store) -> World:
    make_shop(store)
    ada = customers.add_customer(store, name="Ada Lovelace", email="ada@example.org", customer_ref="C-ada")
    bob = customers.add_customer(store, name="Bob Stone", email="bob@example.org", customer_ref="C-bob")
    delivered = orders.place_order(store, order_doc("WEB-100", [("SKU-1", 2), ("SKU-2", 1)], customer="C-ada"))
    orders.allocate_order(store, delivered["order_id"])
    parcel = shipping.ship_order(store, delivered["order_id"])["shipments"][0]["tracking_number"]
    start = datetime.now(UTC) - timedelta(days=2)
    for hours, status in ((1, "picked_up"), (6, "in_transit"), (20, "out_for_delivery"), (24, "delivered")):
        shipping.record_tracking_event(store, parcel, status, occurred_at=start + timedelta(hours=hours),
                                       location="Hub")
    moving = orders.place_order(store, order_doc("WEB-101", [("SKU-3", 1)], customer="C-ada"))
    orders.allocate_order(store, moving["order_id"])
    parcel = shipping.ship_order(store, moving["order_id"])["shipments"][0]["tracking_number"]
    shipping.record_tracking_event(store, parcel, "in_transit", location="Sorting centre")
    bobs = orders.place_order(store, order_doc("WEB-200", [("SKU-1", 1)], customer="C-bob", method="bank_transfer"))
    ticket = tickets.open_ticket(store, bob["customer_id"], "delivery", "Bob's private question", "Where is it?",
                                 order_id=bobs["order_id"])
    return World(store, ada["customer_id"], bob["customer_id"], delivered["order_id"], moving["order_id"],
                 bobs["order_id"], ticket["ticket_id"])


def _client(store: Store, **settings: object) -> TestClient:
    settings.setdefault("sign_in_per_minute", 10_000)
    return client(store, **settings)


def _csrf(c: TestClient, path: str = "/account") -> str:
    found = CSRF_RE.search(c.get(path).text)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def _sign_in(c: TestClient, order_ref: str, email: str):  # type: ignore[no-untyped-def]
    return c.post("/account/sign-in", data={"order_ref": order_ref, "email": email, "csrf": _csrf(c)},
                  follow_redirects=False)


def _signed_in(store: Store, order_ref: str = "WEB-100", email: str = "ada@example.org") -> TestClient:
    c = _client(store)
    answer = _sign_in(c, order_ref, email)
    assert answer.status_code == 303, answer.text
    return c


def _text(html: str) -> str:
    """The page's words (tags dropped), for assertions on what a reader sees."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def test_sign_in_with_order_number_or_channel_reference_and_email(store):
    w = _world(store)
    c = _client(store)
    form = c.get("/account")
    assert form.status_code == 200 and 'action="/account/sign-in"' in form.text
    assert 'label for="field-order_ref"' in form.text and 'label for="field-email"' in form.text
    # the channel's reference; the email as typed (case and spaces do not matter)
    answer = _sign_in(c, "WEB-100", "  Ada@Example.ORG ")
    assert answer.status_code == 303 and answer.headers["location"] == f"/account/orders/{w.delivered}"
    listed = c.get("/account/orders")
    assert listed.status_code == 200
    assert f"Order {w.delivered}" in listed.text and f"Order {w.in_transit}" in listed.text
    assert f"Order {w.bob_order}" not in listed.text and "WEB-200" not in listed.text
    assert listed.text.index(f"Order {w.in_transit}") < listed.text.index(f"Order {w.delivered}")  # newest first
    assert c.get("/account", follow_redirects=False).headers["location"] == "/account/orders"

    # signing out ends the session: the pages ask to sign in again
    out = c.post("/account/sign-out", data={"csrf": _csrf(c, "/account/orders")}, follow_redirects=False)
    assert out.status_code == 303
    assert "You have signed out." in c.get(out.headers["location"]).text
    again = c.get("/account/orders", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].startswith("/account?")

    # the store's order number works too, also written "#123"
    c2 = _client(store)
    assert _sign_in(c2, f"#{w.in_transit}", "ada@example.org").headers["location"] == f"/account/orders/{w.in_transit}"


def test_every_sign_in_failure_says_the_same(store):
    w = _world(store)
    erased = customers.add_customer(store, name="Eve Gone", email="eve@example.org", customer_ref="C-eve")
    orders.place_order(store, order_doc("WEB-300", [("SKU-2", 1)], customer="C-eve", method="bank_transfer"))
    customers.erase_customer(store, erased["customer_id"])
    c = _client(store)
    pages = {}
    for case, (ref, email) in {
        "wrong email": ("WEB-100", "bob@example.org"),
        "unknown order": ("WEB-999", "ada@example.org"),
        "unknown order number": ("987654", "ada@example.org"),
        "order number past any id": ("99999999999999", "ada@example.org"),
        "another customer's order": (str(w.bob_order), "ada@example.org"),
        "erased customer": ("WEB-300", "eve@example.org"),
        "absurd input": ("x" * 500, "ada@example.org"),
    }.items():
        answer = _sign_in(c, ref, email)
        assert answer.status_code == 400, case
        assert FAILED in answer.text, case
        # the whole page is the same but for what was typed back into the form and the CSRF token
        typed = answer.text.replace(f'value="{ref}"', "REF").replace(f'value="{email}"', "EMAIL")
        pages[case] = CSRF_RE.sub("", typed)
        assert f'value="{ref}"' in answer.text, f"{case}: the form keeps what was typed"
        assert c.get("/account/orders", follow_redirects=False).status_code == 303, f"{case}: signed in?"
    assert len(set(pages.values())) == 1, "failures must read the same"
    blank = c.post("/account/sign-in", data={"order_ref": " ", "email": "", "csrf": _csrf(c)})
    assert blank.status_code == 422 and "Enter your order number." in blank.text
    assert "Enter the email address you used for the order." in blank.text


def _follow(store, token: str):  # type: ignore[no-untyped-def]
    """Open a mailed link in a new browser and press its button."""
    c = _client(store)
    return c.post(f"/account/link/{token}", data={"csrf": _csrf(c, f"/account/link/{token}")}, follow_redirects=False)


def test_one_time_link_by_email_signs_in_once(store, monkeypatch):
    w = _world(store)
    with smtp_server() as box:
        monkeypatch.setenv("ECOM_SMTP_HOST", box.host)
        monkeypatch.setenv("ECOM_SMTP_PORT", str(box.port))
        monkeypatch.setenv("ECOM_SMTP_TLS", "off")
        monkeypatch.delenv("ECOM_SMTP_USER", raising=False)
        monkeypatch.delenv("ECOM_API_PUBLIC_URL", raising=False)
        # Without a public address, a request that did not come on loopback gets no link mailed:
        # its Host header (here "testserver") is the client's to choose.
        unsure = _client(store)
        unsure.post("/account/link", data={"order_ref": "WEB-100", "email": "ada@example.org",
                                           "csrf": _csrf(unsure, "/account/link")})
        assert box.messages == []
        monkeypatch.setenv("ECOM_API_PUBLIC_URL", "http://testserver")
        c = _client(store)
        assert 'href="/account/link"' in c.get("/account").text
        answers = []
        for ref, email in (("WEB-999", "ada@example.org"), ("WEB-100", "bob@example.org"),
                           ("WEB-100", "ada@example.org")):
            answer = c.post("/account/link", data={"order_ref": ref, "email": email, "csrf": _csrf(c, "/account/link")})
            assert answer.status_code == 200
            assert "If the details match one of our orders, a sign-in link is on its way" in answer.text
            answers.append(CSRF_RE.sub("", answer.text))
        assert len(set(answers)) == 1, "the answer must not tell whether the details matched"
        assert len(box.messages) == 1, "only matching details get a link"
        mail = box.messages[0]
        assert mail["To"] == "ada@example.org" and mail["Subject"] == "Your sign-in link"
        body = mail.get_body(("plain",)).get_content()
        token = LINK_RE.search(body).group(1)
        assert "15 minutes" in body and "works once" in body
    with store.read() as session:  # only the token's hash is kept
        link = session.scalar(select(SignInLink))
        assert link.token_hash != token and len(link.token_hash) == 64 and link.customer_id == w.ada
        assert link.expires_at - link.created_at <= timedelta(minutes=15, seconds=5)

    reader = _client(store)
    # Opening the link (as a mail scanner would) signs in nobody and does not use it up.
    opened = reader.get(f"/account/link/{token}", follow_redirects=False)
    assert opened.status_code == 200 and f'action="/account/link/{token}"' in opened.text
    assert reader.get("/account/orders", follow_redirects=False).status_code == 303
    first = reader.post(f"/account/link/{token}", data={"csrf": _csrf(reader, f"/account/link/{token}")},
                        follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == f"/account/orders/{w.delivered}"
    assert "WEB-100" in reader.get("/account/orders").text
    # a second use signs in nobody, and says so with the form on offer
    other = _client(store)
    second = other.post(f"/account/link/{token}", data={"csrf": _csrf(other, f"/account/link/{token}")},
                        follow_redirects=False)
    assert second.status_code == 400 and "This link cannot be used" in second.text
    assert 'action="/account/sign-in"' in second.text
    assert other.get("/account/orders", follow_redirects=False).status_code == 303
    assert _follow(store, "not-a-token").status_code == 400

    # an expired link (its 15 minutes are up) and a link whose customer was erased since
    old, _ = self_service.create_link(store, "WEB-100", "ada@example.org")
    with store.write() as session:
        session.execute(update(SignInLink).where(SignInLink.used_at.is_(None))
                        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert _follow(store, old).status_code == 400
    erased, _ = self_service.create_link(store, "WEB-100", "ada@example.org")
    customers.erase_customer(store, w.ada)
    assert self_service.redeem_link(store, erased) is None
    # and a session of a customer erased meanwhile ends
    assert reader.get("/account/orders", follow_redirects=False).status_code == 303


def test_without_mail_the_link_form_offers_the_order_sign_in(store, monkeypatch):
    _world(store)
    monkeypatch.delenv("ECOM_SMTP_HOST", raising=False)
    c = _client(store)
    assert 'href="/account/link"' not in c.get("/account").text
    for answer in (c.get("/account/link"),
                   c.post("/account/link", data={"order_ref": "WEB-100", "email": "ada@example.org",
                                                 "csrf": _csrf(c)})):
        assert answer.status_code == 200
        assert "Email sign-in links are not available on this installation" in answer.text
        assert 'action="/account/sign-in"' in answer.text
    with store.read() as session:
        assert session.scalar(select(func.count()).select_from(SignInLink)) == 0


def test_forms_without_their_csrf_token_are_refused(store):
    w = _world(store)
    c = _client(store)
    c.get("/account")
    for sent in ({}, {"csrf": "forged"}):
        refused = c.post("/account/sign-in", data={"order_ref": "WEB-100", "email": "ada@example.org", **sent})
        assert refused.status_code == 403 and "This form has expired" in refused.text
    assert c.get("/account/orders", follow_redirects=False).status_code == 303
    # a token from another visitor's session does not do either
    stranger = _csrf(_client(store))
    assert _client(store).post("/account/sign-in", data={"order_ref": "WEB-100", "email": "ada@example.org",
                                                          "csrf": stranger}).status_code == 403

    c = _signed_in(store)
    attempts = {
        f"/account/orders/{w.delivered}/returns": {"sku": "SKU-1", "qty": "1", "reason": "too big"},
        "/account/tickets": {"category": "delivery", "subject": "Hi", "message": "Hello"},
        "/account/sign-out": {},
    }
    for path, data in attempts.items():
        assert c.post(path, data=data).status_code == 403, path
    with store.read() as session:
        assert session.scalar(select(func.count()).select_from(ReturnRequest)) == 0
        assert session.scalar(select(func.count()).select_from(Ticket)) == 1  # Bob's only
    assert c.get("/account/orders").status_code == 200  # still signed in


def test_another_customers_order_and_ticket_are_not_found(store):
    w = _world(store)
    c = _signed_in(store)
    for path in (f"/account/orders/{w.bob_order}", f"/account/tickets/{w.bob_ticket}", "/account/orders/999999",
                 "/account/tickets/999999", "/account/orders/abc", "/account/nowhere"):
        answer = c.get(path)
        assert answer.status_code == 404, path
        assert "We could not find that page" in answer.text
        assert "WEB-200" not in answer.text and "Bob" not in answer.text
    # nor can anything be done to them
    csrf = _csrf(c, "/account/orders")
    assert c.post(f"/account/orders/{w.bob_order}/returns",
                  data={"sku": "SKU-1", "qty": "1", "reason": "x", "csrf": csrf}).status_code == 404
    assert c.post(f"/account/tickets/{w.bob_ticket}/messages", data={"body": "mine now", "csrf": csrf}
                  ).status_code == 404
    tied = c.post("/account/tickets", data={"category": "order", "subject": "S", "message": "M",
                                            "order_id": str(w.bob_order), "csrf": csrf})
    assert tied.status_code == 422 and f'id="error-order_id">Order {w.bob_order} does not exist' in tied.text
    assert "Bob's private question" not in c.get("/account/tickets").text
    with store.read() as session:
        assert session.scalar(select(func.count()).select_from(ReturnRequest)) == 0
    assert [m["body"] for m in tickets.ticket_view(store, w.bob_ticket)["messages"]] == ["Where is it?"]


def test_order_page_shows_lines_totals_and_the_tracking_steps(store):
    w = _world(store)
    c = _signed_in(store)
    page = c.get(f"/account/orders/{w.delivered}")
    assert page.status_code == 200
    text = _text(page.text)
    assert "Mug SKU-1" in text and "Plate SKU-2" in text and "Delivered" in text
    order = orders.get_order(store, w.delivered)
    assert f"{order['total']:.2f} USD" in text
    steps = re.findall(r'<li class="step (\w+)"[^>]*>\s*<span class="dot"[^>]*></span>\s*'
                       r'<span class="step-label">([^<]+)</span>', page.text)
    assert steps == [("done", "Label created"), ("done", "Picked up"), ("done", "In transit"),
                     ("done", "Out for delivery"), ("done", "Delivered")]
    assert "Not yet" not in page.text
    moving = c.get(f"/account/orders/{w.in_transit}").text
    steps = re.findall(r'<li class="step (\w+)"[^>]*>\s*<span class="dot"[^>]*></span>\s*'
                       r'<span class="step-label">([^<]+)</span>', moving)
    assert [s for s, _ in steps] == ["done", "done", "current", "todo", "todo"]
    assert 'aria-current="step"' in moving and "Sorting centre" in moving
    assert "You can ask to return items once your order has been delivered." in moving
    assert 'action="/account/orders/' not in moving  # no return form before delivery


def test_a_return_request_is_made_and_shown(store):
    w = _world(store)
    c = _signed_in(store)
    page = c.get(f"/account/orders/{w.delivered}").text
    assert f'action="/account/orders/{w.delivered}/returns"' in page and "up to 2" in page
    csrf = CSRF_RE.search(page).group(1)
    # more than was shipped: the message is next to the quantity, what was typed is kept
    refused = c.post(f"/account/orders/{w.delivered}/returns",
                     data={"sku": "SKU-1", "qty": "5", "reason": "Too big for my shelf", "csrf": csrf})
    assert refused.status_code == 422
    assert re.search(r'id="error-qty">Only 2 unit\(s\) of SKU-1 can still be returned', refused.text)
    assert 'value="5"' in refused.text and "Too big for my shelf</textarea>" in refused.text
    assert "<option value=\"SKU-1\" selected>" in refused.text
    assert re.search(r'id="error-reason"', c.post(f"/account/orders/{w.delivered}/returns",
                                                   data={"sku": "SKU-1", "qty": "1", "reason": " ",
                                                         "csrf": csrf}).text)
    done = c.post(f"/account/orders/{w.delivered}/returns",
                  data={"sku": "SKU-1", "qty": "2", "reason": "Too big for my shelf", "csrf": csrf},
                  follow_redirects=False)
    assert done.status_code == 303
    shown = c.get(done.headers["location"]).text
    assert "Your return request was sent." in shown
    assert "Too big for my shelf" in shown and "Requested, awaiting review" in shown
    assert "up to 2" not in shown and "Plate (SKU-2), up to 1" in shown  # only the plate is left
    with store.read() as session:
        request = session.scalar(select(ReturnRequest))
        assert (request.order_id, request.quantity, request.actor) == (w.delivered, 2, "customer:C-ada")


def test_a_ticket_is_opened_answered_and_shown(store):
    w = _world(store)
    c = _signed_in(store)
    csrf = _csrf(c, "/account/tickets")
    assert "You have not contacted us yet." in c.get("/account/tickets").text
    missing = c.post("/account/tickets", data={"category": "delivery", "subject": " ", "message": "Hello",
                                               "order_id": str(w.in_transit), "csrf": csrf})
    assert missing.status_code == 422 and 'id="error-subject">Subject is required' in missing.text
    assert f'<option value="{w.in_transit}" selected>' in missing.text and "Hello</textarea>" in missing.text
    opened = c.post("/account/tickets", data={"category": "delivery", "subject": "Where is my lamp?",
                                              "message": "It has been a while.", "order_id": str(w.in_transit),
                                              "csrf": csrf}, follow_redirects=False)
    assert opened.status_code == 303
    ticket_id = int(re.search(r"/account/tickets/(\d+)\?note=opened$", opened.headers["location"]).group(1))
    assert "we received your request" in c.get(opened.headers["location"]).text
    view = tickets.ticket_view(store, ticket_id)
    assert (view["customer_id"], view["order_id"], view["status"]) == (w.ada, w.in_transit, "new")

    tickets.add_message(store, ticket_id, "agent", "ana", "It is out for delivery tomorrow.")  # as SYSTEM
    page = c.get(f"/account/tickets/{ticket_id}").text
    assert "It has been a while." in page and "It is out for delivery tomorrow." in page
    assert "Customer service" in page and "In progress" in page
    reply = c.post(f"/account/tickets/{ticket_id}/messages", data={"body": "Thank you!", "csrf": csrf},
                   follow_redirects=False)
    assert reply.status_code == 303
    assert [m["author_kind"] for m in tickets.ticket_view(store, ticket_id)["messages"]] == [
        "customer", "agent", "customer"]
    assert "Thank you!" in c.get(f"/account/tickets/{ticket_id}").text
    listed = c.get("/account/tickets").text
    assert "Where is my lamp?" in listed and f"/account/tickets/{ticket_id}" in listed
    empty = c.post(f"/account/tickets/{ticket_id}/messages", data={"body": "", "csrf": csrf})
    assert empty.status_code == 422 and 'id="error-body"' in empty.text


def test_loyalty_page_shows_balance_value_and_expiry(store):
    w = _world(store)
    loyalty.adjust_points(store, w.ada, 120, reason="goodwill")
    expires = loyalty.account_view(store, w.ada)["expiring"][0]["expires_on"]
    page = _text(_signed_in(store).get("/account/loyalty").text)
    assert "120 points" in page and "Worth 1.20" in page
    assert f"{expires:%d %b %Y} 120" in page


def test_orders_are_paged_newest_first(store):
    _world(store)
    for n in range(10):
        orders.place_order(store, order_doc(f"MORE-{n}", [("SKU-2", 1)], customer="C-ada", method="bank_transfer"))
    c = _signed_in(store)
    first = c.get("/account/orders").text
    assert "MORE-9" in first and "WEB-100" not in first and "Older orders" in first
    older = re.search(r'href="(/account/orders\?before=\d+)"', first).group(1)
    second = c.get(older).text
    assert "WEB-100" in second and "MORE-9" not in second and "Older orders" not in second


def test_sign_in_attempts_are_rate_limited(store):
    _world(store)
    c = client(store, sign_in_per_minute=2)  # bursts of two: room to fix one typo
    assert _sign_in(c, "WEB-100", "bob@example.org").status_code == 400
    assert _sign_in(c, "WEB-100", "bobby@example.org").status_code == 400
    limited = _sign_in(c, "WEB-100", "ada@example.org")
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert "Too many attempts" in limited.text and "Please wait" in limited.text
    assert limited.headers["Content-Type"].startswith("text/html")
    assert limited.headers["X-Frame-Options"] == "DENY" and limited.headers["Cache-Control"] == "no-store"
    assert c.get("/account/orders", follow_redirects=False).status_code == 303


def test_session_cookie_and_security_headers(store):
    w = _world(store)
    c = _signed_in(store)
    for path in ("/account", "/account/orders", f"/account/orders/{w.delivered}", "/account/tickets",
                 "/account/loyalty", "/account/nowhere", "/account/static/site.css"):
        answer = c.get(path)
        assert answer.headers["Content-Security-Policy"].startswith("default-src 'self'"), path
        assert answer.headers["X-Frame-Options"] == "DENY", path
        assert answer.headers["Referrer-Policy"] == "no-referrer", path
        assert answer.headers["Cache-Control"] == "no-store", path
    assert "style=" not in c.get(f"/account/orders/{w.delivered}").text and "<script" not in c.get("/account").text
    assert c.get("/account/static/site.css").headers["content-type"].startswith("text/css")
    cookie = c.get("/account/orders").headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Max-Age=1800" in cookie
    assert "Secure" not in cookie
    secure = _client(store, secure_cookies=True).get("/account").headers["set-cookie"]
    assert "; Secure" in secure
    # the cookie is signed: changed, or idle for over 30 minutes, it signs in nobody
    value = c.cookies.get(account_session.COOKIE)
    forged = _client(store)
    forged.cookies.set(account_session.COOKIE, value[:-2] + "xx", path="/account")
    assert forged.get("/account/orders", follow_redirects=False).status_code == 303

    class Old(TimestampSigner):
        def get_timestamp(self) -> int:
            return super().get_timestamp() - 31 * 60

    stale = URLSafeTimedSerializer(api_secret("session_secret"), salt=account_session.SALT, signer=Old).dumps(
        {"c": w.ada, "t": "x"})
    idle = _client(store)
    idle.cookies.set(account_session.COOKIE, stale, path="/account")
    assert idle.get("/account/orders", follow_redirects=False).status_code == 303
    fresh = URLSafeTimedSerializer(api_secret("session_secret"), salt=account_session.SALT).dumps(
        {"c": w.ada, "t": "x"})
    recent = _client(store)
    recent.cookies.set(account_session.COOKIE, fresh, path="/account")
    assert recent.get("/account/orders").status_code == 200


@pytest.mark.parametrize("path", ["/account/sign-in", "/account/sign-out"])
def test_form_addresses_opened_directly_lead_to_the_sign_in_page(store, path):
    answer = _client(store).get(path, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/account"
