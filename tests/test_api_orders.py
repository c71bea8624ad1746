"""The channel API's orders, stock, returns, customers and tickets over the real app, on both
backends: idempotency keys, field-named problems, pagination, scopes, merchant-bound keys and
the per-key rate limit."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import func, select, update

from ops_store.db import Store
from ops_store.models import AuditEntry, IdempotencyKey, Order, RejectedRequest
from ops_store.security.access import SYSTEM, acting_as
from ops_store.services import catalog, idempotency, orders, shipping, stock, users
from ops_store.types import utcnow
from tests.api_support import auth, client, idem, make_key
from tests.factories import make_shop, order_doc


def _order_count(store: Store) -> int:
    with store.read() as session:
        return session.scalar(select(func.count()).select_from(Order))


def _reserved(store: Store) -> int:
    return sum(r["reserved"] for r in stock.stock_show(store))


def test_an_order_is_placed_once_and_replayed_for_the_same_key(store: Store):
    make_shop(store)
    key = make_key(store)
    api = client(store)
    doc = order_doc("W-1", [("SKU-1", 2), ("SKU-3", 1)])
    first = api.post("/v1/orders", json=doc, headers=idem(key, "a1"))
    assert first.status_code == 201, first.text
    body = first.json()
    assert first.headers["location"] == f"/v1/orders/{body['order_id']}"
    assert (body["status"], body["payment"]["status"], body["total"]) == ("paid", "authorized", "64.88")
    assert [(line["sku"], line["qty"]) for line in body["lines"]] == [("SKU-1", 2), ("SKU-3", 1)]

    again = api.post("/v1/orders", json=doc, headers=idem(key, "a1"))
    assert again.status_code == 201 and again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert _order_count(store) == 1

    other = api.post("/v1/orders", json=order_doc("W-2", [("SKU-1", 1)]), headers=idem(key, "a1"))
    assert other.status_code == 409 and other.headers["content-type"] == "application/problem+json"
    assert (other.json()["code"], other.json()["field"]) == ("conflict", "Idempotency-Key")
    assert _order_count(store) == 1 and _reserved(store) == 3

    # The channel's reference already placed: a new key gets that order back, marked as replayed.
    same_ref = api.post("/v1/orders", json=doc, headers=idem(key, "a2"))
    assert same_ref.status_code == 200 and same_ref.json()["replayed"] is True
    assert same_ref.json()["order_id"] == body["order_id"] and _order_count(store) == 1

    # Another client's key space is its own.
    other_key = make_key(store, name="app")
    mine = api.post("/v1/orders", json=order_doc("W-3", [("SKU-2", 1)]),
                    headers=idem(other_key, "a1"))
    assert mine.status_code == 201 and _order_count(store) == 2


def test_keys_are_kept_at_least_a_day_and_then_purged(store: Store):
    make_shop(store)
    key = make_key(store)
    api = client(store, idempotency_hours=24)
    placed = api.post("/v1/orders", json=order_doc("W-1", [("SKU-1", 1)]), headers=idem(key, "k"))
    with store.read() as session:
        row = session.scalar(select(IdempotencyKey))
        assert row.expires_at - row.created_at >= timedelta(hours=24)
        assert row.order_id == placed.json()["order_id"] and row.status_code == 201
    assert idempotency.purge_expired(store, now=utcnow() + timedelta(hours=23)) == 0
    assert idempotency.purge_expired(store, now=utcnow() + timedelta(hours=25)) == 1
    # After the purge the key is free again: the same body is a channel-reference replay.
    replay = api.post("/v1/orders", json=order_doc("W-1", [("SKU-1", 1)]), headers=idem(key, "k"))
    assert replay.status_code == 200 and replay.json()["replayed"] is True


def test_a_key_still_in_flight_or_orphaned(store: Store):
    """A key whose response was never stored: 409 while its request may still be running, then
    answered from its order (the worker died between the order and the response)."""
    make_shop(store)
    key = make_key(store)
    api = client(store)
    order = orders.place_order(store, order_doc("W-9", [("SKU-1", 1)]))
    doc = order_doc("W-9", [("SKU-1", 1)])
    caller = users.authenticate_api_client(store, key)
    from ops_store.services.order_document import parse_order_document

    fingerprint = parse_order_document(doc).payload_hash()
    with store.write() as session:
        idempotency.claim(session, caller.client_id, "orphan", fingerprint, order["order_id"], hours=24)
    busy = api.post("/v1/orders", json=doc, headers=idem(key, "orphan"))
    assert busy.status_code == 409 and busy.json()["code"] == "in_progress" and busy.headers["retry-after"] == "1"
    with store.write() as session:
        session.execute(update(IdempotencyKey).values(created_at=utcnow() - timedelta(minutes=5)))
    rebuilt = api.post("/v1/orders", json=doc, headers=idem(key, "orphan"))
    assert rebuilt.status_code == 201 and rebuilt.json()["order_id"] == order["order_id"]
    assert rebuilt.headers["idempotent-replayed"] == "true"


def test_refused_orders_name_the_field_leave_nothing_and_are_kept(store: Store):
    make_shop(store)
    key = make_key(store)
    api = client(store)
    short = api.post("/v1/orders", json=order_doc("W-1", [("SKU-1", 1), ("SKU-2", 99)]),
                     headers=idem(key, "s"))
    assert short.status_code == 409
    assert (short.json()["code"], short.json()["field"]) == ("insufficient_stock", "lines")
    assert "SKU-2 (requested 99, available 15)" in short.json()["detail"]
    missing_key = api.post("/v1/orders", json=order_doc("W-2", [("SKU-1", 1)]), headers=auth(key))
    assert missing_key.status_code == 422 and missing_key.json()["field"] == "Idempotency-Key"
    bad_line = api.post("/v1/orders", json=order_doc("W-3", [("SKU-1", "two")]),
                        headers=idem(key, "b"))
    assert bad_line.status_code == 422 and bad_line.json()["field"] == "lines[0].qty"
    unknown = api.post("/v1/orders", json=order_doc("W-4", [("NOPE", 1)]), headers=idem(key, "u"))
    assert unknown.status_code == 404 and unknown.json()["field"] == "lines[0].sku"
    assert _order_count(store) == 0 and _reserved(store) == 0
    # A refused key is not spent: the corrected order goes through under it.
    fixed = api.post("/v1/orders", json=order_doc("W-1", [("SKU-1", 1), ("SKU-2", 9)]),
                     headers=idem(key, "s"))
    assert fixed.status_code == 201
    with store.read() as session:
        kept = {(r.error_code, r.field) for r in session.scalars(select(RejectedRequest))}
    assert {("insufficient_stock", "lines"), ("invalid_input", "Idempotency-Key"),
            ("invalid_input", "lines[0].qty"), ("not_found", "lines[0].sku")} <= kept


def test_read_cancel_and_page_through_orders(store: Store):
    make_shop(store)
    key = make_key(store)
    api = client(store)
    ids = [api.post("/v1/orders", json=order_doc(f"W-{n}", [("SKU-1", 1)], customer="C-7" if n % 2 else "C-8"),
                    headers=auth(key, **{"Idempotency-Key": f"p{n}"})).json()["order_id"] for n in range(5)]
    read = api.get(f"/v1/orders/{ids[0]}", headers=auth(key))
    assert read.status_code == 200 and read.json()["channel_order_ref"] == "W-0"
    assert api.get("/v1/orders/999999", headers=auth(key)).json()["field"] == "order_id"

    seen, cursor, pages = [], None, 0
    while True:
        page = api.get("/v1/orders", params={"limit": 2, **({"cursor": cursor} if cursor else {})},
                       headers=auth(key)).json()
        seen += [o["order_id"] for o in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True) and pages == 3
    mine = api.get("/v1/orders", params={"customer_ref": "C-7"}, headers=auth(key)).json()["items"]
    assert {o["order_id"] for o in mine} == {ids[1], ids[3]}
    bad = api.get("/v1/orders", params={"cursor": "not-a-cursor"}, headers=auth(key))
    assert bad.status_code == 422 and bad.json()["field"] == "cursor"
    assert api.get("/v1/orders", params={"limit": 0}, headers=auth(key)).json()["field"] == "limit"

    before = _reserved(store)
    cancelled = api.post(f"/v1/orders/{ids[0]}/cancel", json={"reason": "changed my mind"}, headers=auth(key))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["payment"]["status"] == "voided" and _reserved(store) == before - 1
    again = api.post(f"/v1/orders/{ids[0]}/cancel", headers=auth(key))
    assert again.status_code == 409 and again.json()["code"] == "illegal_transition"


def test_stock_availability(store: Store):
    make_shop(store)
    key = make_key(store)
    api = client(store)
    api.post("/v1/orders", json=order_doc("W-1", [("SKU-1", 4)]), headers=idem(key, "1"))
    answer = api.get("/v1/stock", params=[("merchant", "M1"), ("sku", "SKU-1"), ("sku", "SKU-3")], headers=auth(key))
    assert answer.json() == {"merchant": "M1", "items": [
        {"sku": "SKU-1", "available": 11, "on_hand": 15, "reserved": 4},
        {"sku": "SKU-3", "available": 15, "on_hand": 15, "reserved": 0}]}
    unknown = api.get("/v1/stock", params={"merchant": "M1", "sku": "NOPE"}, headers=auth(key))
    assert unknown.status_code == 404 and unknown.json()["field"] == "sku"
    assert api.get("/v1/stock", params={"merchant": "M1"}, headers=auth(key)).json()["field"] == "sku"


def test_scopes_and_merchant_bound_keys(store: Store):
    make_shop(store)
    with acting_as(SYSTEM):
        catalog.add_merchant(store, "M2", "Other shop", currency="USD")
        catalog.add_product(store, "M2", "M2-SKU", "Other", "5.00", "1.00")
        stock.receive_stock(store, "M2-SKU", "W1", 10)
    api = client(store, key_cache_s=0)  # every request checks its key in the store
    m1_order = orders.place_order(store, order_doc("W-1", [("SKU-1", 1)]))["order_id"]
    m2_key = make_key(store, merchant="M2")
    assert api.get(f"/v1/orders/{m1_order}", headers=auth(m2_key)).status_code == 404
    assert api.get("/v1/orders", headers=auth(m2_key)).json()["items"] == []
    assert api.post(f"/v1/orders/{m1_order}/cancel", headers=auth(m2_key)).status_code == 404
    assert api.get("/v1/stock", params={"merchant": "M1", "sku": "SKU-1"}, headers=auth(m2_key)).status_code == 404
    # M1's buyer is no customer at all to M2's key: the same 404 as a reference nobody has
    hidden, nobody = (api.get(f"/v1/customers/{ref}", headers=auth(m2_key)).json() for ref in ("C-1", "C-nobody"))
    assert hidden["status"] == 404 and hidden["field"] == "customer_ref"
    assert json.dumps(hidden).replace("C-1", "?") == json.dumps(nobody).replace("C-nobody", "?")
    sneaky = api.post("/v1/orders", json=order_doc("W-2", [("SKU-1", 1)]), headers=idem(m2_key, "x"))
    assert sneaky.status_code == 403 and sneaky.json()["code"] == "permission_denied"
    own = order_doc("W-3", [("M2-SKU", 1)], merchant="M2")
    assert api.post("/v1/orders", json=own, headers=idem(m2_key, "y")).status_code == 201

    read_only = make_key(store, scopes=("orders.read",), name="feed")
    refused = api.post("/v1/orders", json=order_doc("W-4", [("SKU-1", 1)]), headers=idem(read_only, "z"))
    assert refused.status_code == 403 and refused.json()["field"] == "permission"
    assert api.get(f"/v1/orders/{m1_order}", headers=auth(read_only)).status_code == 200
    assert orders.get_order(store, m1_order)["status"] == "paid"

    with acting_as(SYSTEM):
        users.revoke_api_key(store, read_only.split("_")[1])
    revoked = api.get(f"/v1/orders/{m1_order}", headers=auth(read_only))
    assert revoked.status_code == 401 and revoked.json()["code"] == "authentication_failed"
    # A worker trusts a key it checked for ECOM_API_KEY_CACHE_S seconds: a revocation lands within that.
    cached = client(store, key_cache_s=300)
    other = make_key(store, scopes=("orders.read",), name="feed 2")
    assert cached.get(f"/v1/orders/{m1_order}", headers=auth(other)).status_code == 200
    with acting_as(SYSTEM):
        users.revoke_api_key(store, other.split("_")[1])
    assert cached.get(f"/v1/orders/{m1_order}", headers=auth(other)).status_code == 200
    assert client(store).get(f"/v1/orders/{m1_order}", headers=auth(other)).status_code == 401
    assert api.get(f"/v1/orders/{m1_order}").headers["www-authenticate"] == "Bearer"


def test_each_key_has_its_rate_limit(store: Store):
    make_shop(store)
    slow = make_key(store, rate_limit=60, name="slow")  # one a second, bursts of ten
    other = make_key(store, name="other")
    api = client(store)
    codes = [api.get("/v1/orders", headers=auth(slow)).status_code for _ in range(12)]
    assert codes[:10] == [200] * 10 and codes[-1] == 429
    limited = api.get("/v1/orders", headers=auth(slow))
    assert limited.json()["code"] == "rate_limited" and 1 <= int(limited.headers["retry-after"]) <= 2
    assert api.get("/v1/orders", headers=auth(other)).status_code == 200


def _delivered(store: Store, ref: str, customer: str = "C-1") -> int:
    order_id = orders.place_order(store, order_doc(ref, [("SKU-1", 2)], customer=customer))["order_id"]
    orders.allocate_order(store, order_id)
    parcel = shipping.ship_order(store, order_id)["shipments"][0]
    shipping.record_tracking_event(store, parcel["tracking_number"], "delivered")
    return order_id


def test_returns_over_the_api(store: Store):
    make_shop(store)
    key = make_key(store)
    api = client(store)
    order_id = _delivered(store, "W-1")
    made = api.post(f"/v1/orders/{order_id}/returns", json={"sku": "SKU-1", "qty": 1, "reason": "too small"},
                    headers=auth(key))
    assert made.status_code == 201 and made.json()["status"] == "requested"
    tracked = api.get(made.headers["location"], headers=auth(key)).json()
    assert (tracked["order_id"], tracked["sku"], tracked["qty"]) == (order_id, "SKU-1", 1)
    too_many = api.post(f"/v1/orders/{order_id}/returns", json={"sku": "SKU-1", "qty": 2, "reason": "x"},
                        headers=auth(key))
    assert too_many.status_code == 422 and too_many.json()["field"] == "qty"
    not_yet = orders.place_order(store, order_doc("W-2", [("SKU-2", 1)]))["order_id"]
    early = api.post(f"/v1/orders/{not_yet}/returns", json={"sku": "SKU-2", "qty": 1, "reason": "x"},
                     headers=auth(key))
    assert early.status_code == 409 and early.json()["code"] == "illegal_transition"


def test_customers_personal_data_is_never_echoed_to_keys_without_pii_read(store: Store):
    make_shop(store)
    key = make_key(store)
    pii_key = make_key(store, scopes=("customers.read", "pii.read"), name="crm")
    api = client(store)
    made = api.post("/v1/customers", json={"name": "Grace Hopper", "email": "grace@example.org",
                                           "customer_ref": "C-gh", "phone": "+1 555 0100", "country": "us"},
                    headers=auth(key))
    assert made.status_code == 201, made.text
    text = made.text
    assert "grace@example.org" not in text and "Hopper" not in text and "0100" not in text
    assert made.json()["masked"] is True and made.json()["country"] == "US"
    assert "grace@" not in api.get("/v1/customers/C-gh", headers=auth(key)).text
    clear = api.get("/v1/customers/C-gh", headers=auth(pii_key)).json()
    assert (clear["email"], clear["name"], clear["masked"]) == ("grace@example.org", "Grace Hopper", False)
    with store.read() as session:  # a clear view is audited
        assert session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "pii.read")) == 1
    patched = api.patch("/v1/customers/C-gh", json={"email": "grace@navy.example"}, headers=auth(key))
    assert patched.status_code == 200 and "grace@navy" not in patched.text  # masked: g***@navy.example
    assert api.get("/v1/customers/C-gh", headers=auth(pii_key)).json()["email"] == "grace@navy.example"
    twin = api.post("/v1/customers", json={"name": "Other", "email": "grace@navy.example"}, headers=auth(key))
    assert twin.status_code == 409 and twin.json()["field"] == "email" and "grace@navy" not in twin.text
    bad = api.post("/v1/customers", json={"name": "X", "email": "not-an-email"}, headers=auth(key))
    assert bad.status_code == 422 and bad.json()["field"] == "email"
    assert api.get("/v1/customers/C-none", headers=auth(key)).status_code == 404


def test_tickets_over_the_api(store: Store):
    make_shop(store)
    key = make_key(store)
    api = client(store)
    order_id = orders.place_order(store, order_doc("W-1", [("SKU-1", 1)], customer="C-t"))["order_id"]
    opened = api.post("/v1/tickets", json={"customer_ref": "C-t", "order_id": order_id, "category": "delivery",
                                           "subject": "Where is my parcel?", "message": "It is late."},
                      headers=auth(key))
    assert opened.status_code == 201 and opened.json()["status"] == "new"
    ticket_id = opened.json()["ticket_id"]
    more = api.post(f"/v1/tickets/{ticket_id}/messages", json={"body": "Any news?"}, headers=auth(key))
    assert [m["body"] for m in more.json()["messages"]] == ["It is late.", "Any news?"]
    assert {m["author_kind"] for m in more.json()["messages"]} == {"customer"}
    read = api.get(f"/v1/tickets/{ticket_id}", headers=auth(key)).json()
    assert read["priority"] == "normal" and read["order_id"] == order_id
    wrong = api.post("/v1/tickets", json={"customer_ref": "C-t", "category": "x", "subject": "s", "message": "m",
                                          "priority": "whenever"}, headers=auth(key))
    assert wrong.status_code == 422 and wrong.json()["field"] == "priority"


def test_housekeeping_removes_only_what_is_past_its_time(store: Store):
    from ops_store.api.housekeeping import tidy
    from ops_store.models import ApiRateLimit, SignInLink
    from ops_store.services import customers, rate_limits, self_service

    make_shop(store)
    key = make_key(store)
    api = client(store)
    customers.add_customer(store, name="Ann", email="ann@example.org", customer_ref="C-ann")
    for n in range(2):
        api.post("/v1/orders", json=order_doc(f"W-{n}", [("SKU-1", 1)], customer="C-ann"), headers=idem(key, f"h{n}"))
    self_service.create_link(store, "W-0", "ann@example.org")
    self_service.create_link(store, "W-1", "ann@example.org")
    rate_limits.take(store, "sign-in:old", per_minute=10, now=1_000.0)  # idle since long ago
    with store.write() as session:
        session.execute(update(IdempotencyKey).where(IdempotencyKey.key == "h0")
                        .values(expires_at=utcnow() - timedelta(minutes=1)))
        first = session.scalar(select(func.min(SignInLink.id)))
        session.execute(update(SignInLink).where(SignInLink.id == first)
                        .values(expires_at=utcnow() - timedelta(days=2)))
    assert tidy(store) == {"idempotency_keys": 1, "sign_in_links": 1, "rate_limit_buckets": 1}
    with store.read() as session:
        assert list(session.scalars(select(IdempotencyKey.key))) == ["h1"]
        assert session.scalar(select(func.count()).select_from(SignInLink)) == 1
        assert f"key:{key.split('_')[1]}" in set(session.scalars(select(ApiRateLimit.bucket)))
    assert tidy(store) == {"idempotency_keys": 0, "sign_in_links": 0, "rate_limit_buckets": 0}
