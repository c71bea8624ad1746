"""Hostile input to the channel API over the real app, on both backends: SQL injection, NUL bytes,
lone surrogates and card numbers in every string field, path and query parameter; oversized,
streamed, deeply nested and malformed bodies; and the shape of every error (unknown route, wrong
method, no key, a revoked key, a missing scope, another merchant's order).

Whatever is sent, the answer is a 4xx application/problem+json naming the field at fault (never a
5xx), and nothing in the store changes but what is there on purpose: the refused write requests
kept in ``rejected_requests`` (card data masked) and the request accounting (``api_rate_limits``,
``api_clients.last_used_at``). Text that is merely unusual is data: stored and read back verbatim."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import inspect, select, text

from ops_store.api.problems import PROBLEM_JSON, Problem
from ops_store.db import Store
from ops_store.models import RejectedRequest
from ops_store.security.access import SYSTEM, acting_as
from ops_store.services import catalog, customers, orders, returns, shipping, tickets, users
from tests.api_support import auth, client, make_key, signed
from tests.factories import make_shop, order_doc
from tests.store_dump import stored_text

# ------------------------------------------------------------------------------------ the payloads

SQL_INJECTIONS = [
    "' OR 1=1 --", "'; DROP TABLE orders; --", "1; SELECT pg_sleep(5)", '" OR ""="', "' OR '1'='1' /*",
    "1' AND (SELECT COUNT(*) FROM api_clients) > 0 --", "' UNION SELECT key_hash, scopes FROM api_clients --",
    "%' OR '%'='", "\\'; DELETE FROM stock_levels; --", "1) OR pg_sleep(5) IS NULL --", "admin'--",
    "'||(SELECT version())||'", "0x27204f5220313d31", "$(id) `id` ${jndi:ldap://x/a} {{7*7}}",
    "<script>alert(1)</script>",
]
UNUSUAL_TEXT = ["\u202e' OR 1=1 --", "ＳＥＬＥＣＴ ＊ ＦＲＯＭ ｏｒｄｅｒｓ", "😀' OR '😀'='😀", "\uffff\ufeff",
                "Ω≈ç√∫"]
UNSTORABLE = ["\u0000", "SKU-1\u0000' OR 1=1 --", "a\u0000b", "\ud800", "x\udfffy"]  # NUL, lone surrogates
LONG = ["' OR 1=1 --" * 400, "x" * 100_000]  # 4.4 kB and a 100 kB string
HOSTILE = SQL_INJECTIONS + UNUSUAL_TEXT + UNSTORABLE + LONG
CARD_NUMBERS = ["4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111", "card 5555555555554444 exp 12/29"]
CARD_DIGITS = ["4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111", "5555555555554444"]

# The request accounting each request updates (a key's last use moves its row's updated_at), and the dead
# letter refused writes are kept in on purpose.
VOLATILE = {"api_rate_limits": None, "api_clients": {"last_used_at", "updated_at"}, "rejected_requests": None}


# ---------------------------------------------------------------------------------------- fixtures


def seed_shop(store: Store) -> None:
    """make_shop plus rows for requests to name: order 1 (C-1, paid), order 2 (C-1, delivered, one of
    its two SKU-2 units asked back as return 1), customer CUS-1 (ann@example.com), ticket 1 on order 1."""
    make_shop(store)
    placed = orders.place_order(store, order_doc("SEED-1", [("SKU-1", 1)]))
    delivered = orders.place_order(store, order_doc("SEED-2", [("SKU-2", 2)], method="cash_on_delivery"))
    orders.allocate_order(store, delivered["order_id"])
    for parcel in shipping.ship_order(store, delivered["order_id"])["shipments"]:
        shipping.record_tracking_event(store, parcel["tracking_number"], "delivered")
    with acting_as(SYSTEM):
        returns.request_return(store, delivered["order_id"], sku="SKU-2", qty=1, reason="too small")
        customer = customers.customer_id_by_ref(store, "C-1")
        tickets.open_ticket(store, customer, "delivery", "Where is it?", "Not here yet", order_id=placed["order_id"])
        customers.add_customer(store, name="Ann Example", email="ann@example.com", customer_ref="CUS-1")


@dataclass
class Api:
    store: Store
    http: TestClient
    key: str

    def send(self, method: str, url: str, body: Any = None, **headers: str) -> Response:
        """JSON encoded here (ASCII escapes), so lone surrogates travel as the JSON text "\\ud800"."""
        content = None if body is None else json.dumps(body)
        if content is not None:
            headers.setdefault("Content-Type", "application/json")
        return self.http.request(method, url, content=content, headers=auth(self.key, **headers))

    def order(self, document: dict[str, Any], key: str | None = None) -> Response:
        return self.send("POST", "/v1/orders", document, **{"Idempotency-Key": key or f"k-{uuid.uuid4().hex}"})


@pytest.fixture
def api(store: Store) -> Api:
    seed_shop(store)
    return Api(store, client(store), make_key(store, rate_limit=1_000_000))


def table_dump(store: Store) -> dict[str, list[str]]:
    """Every row of every table in the store (as the database lists them, not just the models'), as
    sorted JSON."""
    dump: dict[str, list[str]] = {}
    with store.engine.connect() as conn:
        for name in inspect(conn).get_table_names():
            skip = VOLATILE.get(name, set())
            if skip is None:
                continue
            rows = conn.execute(text(f'SELECT * FROM "{name}"')).mappings().all()
            dump[name] = sorted(json.dumps({k: v for k, v in row.items() if k not in skip}, default=str,
                                           sort_keys=True) for row in rows)
    assert {"orders", "customers", "stock_levels", "idempotency_keys", "audit_log"} <= set(dump)
    return dump


@contextmanager
def unchanged(store: Store) -> Iterator[None]:
    """The requests sent inside change nothing but the dead letter and the request accounting."""
    before = table_dump(store)
    yield
    after = table_dump(store)
    changed = {name: (len(before.get(name, [])), len(rows)) for name, rows in after.items()
               if rows != before.get(name)}
    assert not changed, f"tables changed by refused requests (rows before, after): {changed}"


def rejected_payloads(store: Store) -> list[str]:
    with store.read() as session:
        return list(session.scalars(select(RejectedRequest.payload)))


# -------------------------------------------------------------------------------------- assertions


def assert_problem(response: Response, *fields: str | None, status: int | None = None) -> dict[str, Any]:
    """A 4xx problem+json valid against the Problem schema, naming one of ``fields``."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    assert response.headers["content-type"] == PROBLEM_JSON, response.headers
    body = response.json()
    Problem.model_validate(body)
    assert body["status"] == response.status_code
    if status is not None:
        assert response.status_code == status, body
    if fields:
        assert body.get("field") in fields, (fields, body)
    return body


_REFUSED_FOR_ITSELF = re.compile("[\\x00\\ud800-\\udfff]")  # NUL and lone surrogates: no column holds them


def expect_refused(response: Response, value: str, field: str, *others: str) -> None:
    """Refused, naming ``field`` (or ``others``: what refuses the otherwise valid request); text no
    column can hold and card numbers are refused for themselves, naming ``field`` exactly."""
    if _REFUSED_FOR_ITSELF.search(value):
        assert_problem(response, field, status=422)
    elif any(card in value for card in CARD_DIGITS):
        assert assert_problem(response, field, status=422)["code"] == "card_data_refused"
        for digits in CARD_DIGITS:
            assert digits not in response.text
    else:
        assert_problem(response, field, *others)


# ------------------------------------------------------------------ SQL injection and hostile text

# The order document's string fields (path as the problem names it, and how to put a value there).
ORDER_FIELDS: dict[str, Callable[[dict[str, Any], str], None]] = {
    "channel_order_ref": lambda d, v: d.update(channel_order_ref=v),
    "customer_ref": lambda d, v: d.update(customer_ref=v),
    "lines[0].sku": lambda d, v: d["lines"][0].update(sku=v),
    "merchant": lambda d, v: d.update(merchant=v),
    "delivery_option": lambda d, v: d.update(delivery_option=v),
    "coupon": lambda d, v: d.update(coupon=v),
    "payment.token": lambda d, v: d["payment"].update(token=v),
}


def _with(document: dict[str, Any], field: str, value: str) -> dict[str, Any]:
    document = json.loads(json.dumps(document))
    ORDER_FIELDS[field](document, value)
    return document


@pytest.mark.parametrize("field", list(ORDER_FIELDS))
def test_hostile_text_in_an_order_field_changes_nothing(api: Api, field: str) -> None:
    """Each value travels through validation and the lookups by that field (existing order by
    reference, merchant, delivery option, SKUs, customer, coupon); the order then asks for loyalty
    points its new customer does not have, so it is refused (422 points) unless the value was refused
    first, and its transaction leaves nothing behind."""
    with unchanged(api.store):
        for value in HOSTILE + CARD_NUMBERS:
            document = _with(order_doc("HOSTILE-1", [("SKU-1", 1)], customer="C-NEW", points=1), field, value)
            started = time.monotonic()
            response = api.order(document)
            assert time.monotonic() - started < 4, "an injected pg_sleep ran"
            expect_refused(response, value, field, "points")
    payloads = "\n".join(rejected_payloads(api.store))  # the refused documents are kept, card numbers masked
    assert payloads
    for digits in CARD_DIGITS:
        assert digits not in payloads


def test_hostile_idempotency_keys_change_nothing(api: Api) -> None:
    with unchanged(api.store):
        for value in [*SQL_INJECTIONS, "k" * 256, "key\twith\ttabs"]:
            document = order_doc("HOSTILE-2", [("SKU-1", 1)], customer="C-NEW", points=1)
            assert_problem(api.order(document, key=value), "Idempotency-Key", "points")


def _in_url(value: str) -> tuple[str, str]:
    """The value percent-encoded for a URL (a lone surrogate as the UTF-8 bytes it would have), and
    the text the server decodes from it (those bytes are not UTF-8: replacement characters)."""
    raw = value.encode("utf-8", "surrogatepass")
    return quote(raw, safe=""), raw.decode("utf-8", "replace")


URL_VALUES = [v for v in HOSTILE + CARD_NUMBERS if len(v) < 5000]  # a longer URL: refused by servers (414)


PATH_TEMPLATES = {  # the parameter, and a valid body where the route takes one
    "GET /v1/orders/{}": ("order_id", None),
    "POST /v1/orders/{}/cancel": ("order_id", {"reason": "no"}),
    "POST /v1/orders/{}/returns": ("order_id", {"sku": "SKU-2", "qty": 1, "reason": "r"}),
    "GET /v1/returns/{}": ("return_id", None),
    "GET /v1/customers/{}": ("customer_ref", None),
    "PATCH /v1/customers/{}": ("customer_ref", {"region": "North"}),
    "GET /v1/tickets/{}": ("ticket_id", None),
    "POST /v1/tickets/{}/messages": ("ticket_id", {"body": "hello"}),
}


def test_hostile_path_parameters_change_nothing(api: Api) -> None:
    values = ["1 OR 1=1", "' OR '1'='1", "1; DROP TABLE orders", "-1", "0", str(2**63), "1e3",
              "99999999999999999999999999", *URL_VALUES]
    with unchanged(api.store):
        for template, (name, body) in PATH_TEMPLATES.items():
            method, path = template.split(" ")
            for value in values:
                encoded, seen = _in_url(value)
                response = api.send(method, path.format(encoded), body)
                if "/" in seen:  # %2F is a path separator once decoded: a route that does not exist
                    assert_problem(response, None, name)
                else:
                    expect_refused(response, seen, name)


QUERIES = ["/v1/orders?customer_ref={}", "/v1/orders?status={}", "/v1/orders?cursor={}", "/v1/orders?limit={}",
           "/v1/stock?merchant={}&sku=SKU-1", "/v1/stock?merchant=M1&sku={}", "/v1/stock?merchant=M1&sku=SKU-1&sku={}"]


def test_hostile_query_parameters_change_nothing_and_leak_nothing(api: Api) -> None:
    """Refused naming the parameter, or (a list filter matching nothing) an empty page: an injected
    ``OR 1=1`` would have listed orders 1 and 2."""
    with unchanged(api.store):
        for path in QUERIES:
            name = path.split("{}")[0].rsplit("&", 1)[-1].rsplit("?", 1)[-1].rstrip("=")
            for value in URL_VALUES:
                encoded, seen = _in_url(value)
                started = time.monotonic()
                response = api.send("GET", path.format(encoded))
                assert time.monotonic() - started < 4, "an injected pg_sleep ran"
                if response.status_code == 200:
                    assert name in ("customer_ref", "status") and response.json()["items"] == [], response.text
                else:
                    expect_refused(response, seen, name)


# Each JSON body with a poison that refuses it after its fields were read, so nothing may change:
# (method, path, valid body, the field that refuses it, the fields made hostile).
BODIES: list[tuple[str, str, dict[str, Any], str, list[str]]] = [
    ("POST", "/v1/customers", {"name": "Eve", "email": "ann@example.com"}, "email",  # email already known
     ["name", "email", "phone", "customer_ref", "region", "country", "street", "city", "postal_code",
      "preferred_categories[0]"]),
    ("PATCH", "/v1/customers/NO-SUCH-1", {"name": "Eve"}, "customer_ref",  # no such customer
     ["name", "email", "phone", "region", "country", "preferred_categories[0]"]),
    ("POST", "/v1/tickets", {"customer_ref": "C-1", "order_id": 999_999, "category": "delivery", "subject": "Late",
                             "message": "Where?"}, "order_id",  # no such order
     ["customer_ref", "category", "subject", "message"]),
    ("POST", "/v1/tickets/999999/messages", {"body": "Hello"}, "ticket_id", ["body"]),  # no such ticket
    ("POST", "/v1/orders/2/returns", {"sku": "SKU-2", "qty": 99, "reason": "broken"}, "qty",  # 1 unit left
     ["sku", "reason"]),
    ("POST", "/v1/orders/2/cancel", {"reason": "no longer needed"}, "status", ["reason"]),  # delivered already
]


def _set(body: dict[str, Any], field: str, value: str) -> dict[str, Any]:
    body = json.loads(json.dumps(body))
    if field.endswith("[0]"):
        body[field[:-3]] = [value]
    else:
        body[field] = value
    return body


@pytest.mark.parametrize(("method", "path", "body", "poison", "fields"), BODIES,
                         ids=[f"{m} {p}" for m, p, *_ in BODIES])
def test_hostile_text_in_json_bodies_changes_nothing(api: Api, method: str, path: str, body: dict[str, Any],
                                                     poison: str, fields: list[str]) -> None:
    with unchanged(api.store):
        assert_problem(api.send(method, path, body), poison)  # the poison alone refuses the request
        for field in fields:
            for value in HOSTILE + CARD_NUMBERS:
                expect_refused(api.send(method, path, _set(body, field, value)), value, field, poison)
    payloads = "\n".join(rejected_payloads(api.store))
    for digits in CARD_DIGITS:
        assert digits not in payloads


def test_card_numbers_anywhere_are_refused_and_never_echoed_or_stored(api: Api) -> None:
    """A card number in any field is refused as card data (also where the request would otherwise be
    accepted), named by its field, and neither the answer, the dead letter nor anything else in the
    store holds its digits."""
    valid_order = order_doc("CARD-1", [("SKU-1", 1)])
    requests = [("POST", "/v1/orders", _with(valid_order, f, v), f) for f in ORDER_FIELDS for v in CARD_NUMBERS]
    requests += [("POST", "/v1/orders", {**valid_order, "payment": {**valid_order["payment"], "cvv": "123"}},
                  "payment.cvv")]
    requests += [("POST", "/v1/customers", {"name": "Eve", "email": "eve@example.com", f: v}, f)
                 for f in ("name", "phone", "region", "street") for v in CARD_NUMBERS]
    requests += [("POST", "/v1/tickets", {"customer_ref": "C-1", "category": "billing", "subject": "Refund",
                                          "message": f"my card is {v}, please refund"}, "message")
                 for v in CARD_NUMBERS]
    requests += [("PATCH", "/v1/customers/CUS-1", {"region": v}, "region") for v in CARD_NUMBERS]
    for v in CARD_NUMBERS[:3]:  # (the fourth has a "/")
        requests += [("GET", f"/v1/orders?customer_ref={quote(v)}", None, "customer_ref"),
                     ("GET", f"/v1/stock?merchant=M1&sku={quote(v)}", None, "sku"),
                     ("GET", f"/v1/customers/{quote(v, safe='')}", None, "customer_ref"),
                     ("GET", f"/v1/orders/{quote(v, safe='')}", None, "order_id")]
    with unchanged(api.store):
        for method, path, body, field in requests:
            headers = {"Idempotency-Key": f"k-{uuid.uuid4().hex}"} if path == "/v1/orders" else {}
            response = api.send(method, path, body, **headers)
            assert assert_problem(response, field, status=422)["code"] == "card_data_refused", path
            for digits in CARD_DIGITS:
                assert digits not in response.text
    writes = [r for r in requests if r[0] != "GET"]
    assert len(rejected_payloads(api.store)) == len(writes)  # every refused write is kept ...
    everything = stored_text(api.store)
    for digits in CARD_DIGITS:  # ... masked, and nothing else holds the number
        assert digits not in everything


def test_unusual_text_is_data_stored_and_read_back_verbatim(api: Api) -> None:
    """What is not refused is a value like any other: orders whose references are injection strings
    are placed and read back exactly, a list by such a reference finds exactly its order, a ticket
    and a customer keep such text as sent, and every table is still there."""
    for i, value in enumerate(SQL_INJECTIONS[:8] + UNUSUAL_TEXT):
        document = order_doc(value, [("SKU-3", 1)], customer=f"{value[:90]}-{i}")
        placed = api.order(document)
        assert placed.status_code == 201, placed.text
        order = api.send("GET", placed.headers["Location"]).json()
        assert (order["channel_order_ref"], order["customer_ref"]) == (value, document["customer_ref"])
        found = api.send("GET", f"/v1/orders?customer_ref={quote(document['customer_ref'], safe='')}")
        assert [o["order_id"] for o in found.json()["items"]] == [order["order_id"]]
    ticket = api.send("POST", "/v1/tickets", {"customer_ref": "C-1", "category": "x'; DROP TABLE tickets; --",
                                              "subject": "' OR 1=1 --", "message": "'); DELETE FROM orders; --"})
    assert ticket.status_code == 201, ticket.text
    read = api.send("GET", ticket.headers["Location"]).json()
    assert (read["category"], read["subject"], read["messages"][0]["body"]) == (
        "x'; DROP TABLE tickets; --", "' OR 1=1 --", "'); DELETE FROM orders; --")
    patched = api.send("PATCH", "/v1/customers/CUS-1", {"region": "' OR ''='"})
    assert patched.status_code == 200 and patched.json()["region"] == "' OR ''='", patched.text
    assert len(api.send("GET", "/v1/orders?limit=200").json()["items"]) == 2 + 13
    assert {"orders", "customers", "api_clients", "tickets", "order_lines"} <= set(table_dump(api.store))


# -------------------------------------------------------------------------------- oversized bodies


def _chunks(data: bytes, size: int = 512) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_the_limit_is_refused_413(api: Api, streamed: bool) -> None:
    """Over ApiSettings.max_body_bytes (1 MiB unless set; here also 2 KiB): refused before it is read
    when Content-Length says so, cut off while streaming when it does not (chunked); either way a
    413 problem naming the body, and nothing is stored (not even the dead letter: never read whole)."""
    with unchanged(api.store):
        for http, size in ((client(api.store, max_body_bytes=2048), 2049), (api.http, 1_048_577)):
            document = order_doc("BIG-1", [("SKU-1", 1)])
            document["delivery_option"] = "standard" + " " * (size - len(json.dumps(document)))  # stripped if read
            body = json.dumps(document).encode()
            assert len(body) == size
            for path, headers in (("/v1/orders", {"Idempotency-Key": "big-1"}), ("/v1/customers", {}),
                                  ("/v1/webhooks/payments/fake", {})):
                response = http.post(path, content=_chunks(body) if streamed else body,
                                     headers=auth(api.key, **headers, **{"Content-Type": "application/json"}))
                assert assert_problem(response, "body", status=413)["code"] == "too_large"
                assert ("content-length" in response.request.headers) is not streamed
    assert rejected_payloads(api.store) == []


def test_a_streamed_body_under_the_limit_is_read_whole(api: Api) -> None:
    """The control: a chunked order under the limit is placed."""
    body = json.dumps(order_doc("STREAM-1", [("SKU-1", 1)])).encode()
    response = client(api.store, max_body_bytes=2048).post(
        "/v1/orders", content=_chunks(body, 64),
        headers=auth(api.key, **{"Idempotency-Key": "stream-1", "Content-Type": "application/json"}))
    assert response.status_code == 201, response.text


def test_huge_documents_under_the_limit_are_refused_naming_the_field(api: Api) -> None:
    with unchanged(api.store):
        lines = api.order(order_doc("HUGE-1", [(f"SKU-{i}", 1) for i in range(10_000)]))
        assert assert_problem(lines, "lines", status=422)["detail"].startswith("lines: List should have at most 500")
        assert_problem(api.order(order_doc("x" * 100_000, [("SKU-1", 1)])), "channel_order_ref", status=422)
        message = api.send("POST", "/v1/tickets", {"customer_ref": "C-1", "category": "x", "subject": "y",
                                                   "message": "m" * 100_000})
        assert_problem(message, "message", status=422)
        categories = api.send("POST", "/v1/customers", {"name": "Eve", "email": "eve@example.com",
                                                        "preferred_categories": ["c"] * 5_000})
        assert_problem(categories, "preferred_categories", status=422)


def test_deeply_nested_json_is_refused_naming_the_body(api: Api) -> None:
    """Deeper than any document of the API (32 levels) or than the JSON parser goes: a 422 naming
    the body, for objects and arrays, at the top or inside a field, on every JSON route."""
    nested = [('{"a":' * depth + "1" + "}" * depth, "[" * depth + "]" * depth) for depth in (40, 900, 100_000)]
    with unchanged(api.store):
        for inner in (text for pair in nested for text in pair):
            for path, headers, outer in (
                ("/v1/orders", {"Idempotency-Key": "deep-1"}, '{"channel": "web", "lines": %s}'),
                ("/v1/customers", {}, '{"name": "Eve", "email": "eve@example.com", "preferred_categories": %s}'),
                ("/v1/tickets", {}, "%s"),
                ("/v1/webhooks/payments/fake", {}, '{"id": "evt_1", "data": %s}'),
            ):
                response = api.http.post(path, content=(outer % inner).encode(), headers=auth(
                    api.key, **headers, **{"Content-Type": "application/json"}))
                if path.startswith("/v1/webhooks/"):  # past what json.loads can read: unsigned, it says no more
                    assert_problem(response, "body", "Webhook-Signature")
                else:
                    assert_problem(response, "body", status=422)


# ----------------------------------------------------------------------------------- error shapes


def test_an_unknown_route_is_a_404_problem(api: Api) -> None:
    for path in ("/v1/nope", "/nope", "/v1/orders/1/nope", "/v2/orders"):
        assert assert_problem(api.send("GET", path), status=404)["code"] == "not_found"


def test_a_wrong_method_is_a_405_problem_listing_the_allowed_ones(api: Api) -> None:
    for method, path, allowed in (
        ("DELETE", "/v1/orders", "GET, POST"), ("PUT", "/v1/orders/1", "GET"), ("GET", "/v1/orders/1/cancel", "POST"),
        ("DELETE", "/v1/customers/C-1", "GET, PATCH"), ("OPTIONS", "/v1/stock", "GET"),
        ("GET", "/v1/webhooks/payments/fake", "POST"), ("PATCH", "/v1/health", "GET"),
    ):
        response = api.send(method, path)
        assert assert_problem(response, status=405)["code"] == "method_not_allowed"
        assert response.headers["allow"] == allowed


def test_malformed_json_is_a_422_problem_naming_the_body(api: Api) -> None:
    with unchanged(api.store):
        for content in (b"{bad", b'{"channel": "web",', b"\xff\xfe{}", b"[1, 2", b"'single'", b"nul\x00", b"{}}"):
            for path, headers in (("/v1/orders", {"Idempotency-Key": "malformed-1"}), ("/v1/customers", {}),
                                  ("/v1/orders/1/cancel", {}), ("/v1/tickets/1/messages", {}),
                                  ("/v1/orders/2/returns", {}), ("/v1/customers/CUS-1", {})):
                method = "PATCH" if path == "/v1/customers/CUS-1" else "POST"
                response = api.http.request(method, path, content=content, headers=auth(
                    api.key, **headers, **{"Content-Type": "application/json"}))
                assert assert_problem(response, "body", status=422)["code"] == "invalid_input", (path, content)


def test_a_body_that_is_not_json_is_refused_naming_the_body(api: Api) -> None:
    with unchanged(api.store):
        for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
            response = api.http.post("/v1/customers", content=b"name=Eve&email=eve@example.com",
                                     headers=auth(api.key, **{"Content-Type": content_type}))
            assert_problem(response, "body", status=422)
        assert_problem(api.http.post("/v1/customers", headers=auth(api.key)), "body", status=422)  # no body


def test_no_key_a_wrong_key_or_a_revoked_key_is_a_401_with_www_authenticate(api: Api) -> None:
    revoked = make_key(api.store, name="revoked channel")
    with acting_as(SYSTEM):
        users.revoke_api_key(api.store, revoked.split("_")[1])
    tampered = api.key[:-4] + ("aaaa" if not api.key.endswith("aaaa") else "bbbb")
    cases: list[tuple[dict[str, str], str]] = [
        ({}, "Bearer"), ({"Authorization": "Basic dXNlcjpwYXNz"}, "Bearer"), ({"Authorization": "Bearer"}, "Bearer"),
        ({"Authorization": "Bearer ek_nope"}, 'Bearer error="invalid_token"'),
        ({"Authorization": "Bearer ' OR 1=1 --"}, 'Bearer error="invalid_token"'),
        ({"Authorization": f"Bearer {tampered}"}, 'Bearer error="invalid_token"'),
        ({"Authorization": f"Bearer {revoked}"}, 'Bearer error="invalid_token"'),
    ]
    with unchanged(api.store):
        for headers, challenge in cases:
            for method, path in (("GET", "/v1/orders/1"), ("POST", "/v1/customers"), ("GET", "/v1/stock?merchant=M1")):
                response = api.http.request(method, path, headers=headers,
                                            json={"name": "Eve"} if method == "POST" else None)
                assert assert_problem(response, "Authorization", status=401)["code"] == "authentication_failed"
                assert response.headers["www-authenticate"] == challenge


def test_a_key_without_the_scope_is_a_403_problem(api: Api) -> None:
    stock_only = Api(api.store, api.http, make_key(api.store, scopes=("stock.read",), name="stock feed"))
    with unchanged(api.store):
        for method, path, body in (("GET", "/v1/orders/1", None), ("GET", "/v1/orders", None),
                                   ("POST", "/v1/orders", order_doc("SCOPE-1", [("SKU-1", 1)])),
                                   ("POST", "/v1/orders/1/cancel", None), ("GET", "/v1/returns/1", None),
                                   ("POST", "/v1/customers", {"name": "Eve", "email": "eve@example.com"}),
                                   ("GET", "/v1/customers/CUS-1", None), ("GET", "/v1/tickets/1", None)):
            response = stock_only.send(method, path, body,
                                       **({"Idempotency-Key": "scope-1"} if path == "/v1/orders" else {}))
            assert assert_problem(response, status=403)["code"] == "permission_denied", path
        assert stock_only.send("GET", "/v1/stock?merchant=M1&sku=SKU-1").status_code == 200


def test_a_key_bound_to_another_merchant_finds_no_such_order(api: Api) -> None:
    """Merchant M2's key asking about M1's orders gets not found (not forbidden: that they exist is
    not M2's to know), M1's orders are in none of its lists, and it cannot order for M1."""
    with acting_as(SYSTEM):
        catalog.add_merchant(api.store, "M2", "Shop Two", currency="USD", tax_rate="0")
    m2 = Api(api.store, api.http, make_key(api.store, merchant="M2", name="M2 web shop"))
    with unchanged(api.store):
        for method, path, body in (("GET", "/v1/orders/1", None), ("GET", "/v1/orders/2", None),
                                   ("POST", "/v1/orders/1/cancel", None), ("GET", "/v1/returns/1", None),
                                   ("POST", "/v1/orders/2/returns", {"sku": "SKU-2", "qty": 1, "reason": "r"})):
            response = m2.send(method, path, body)
            assert assert_problem(response, "order_id", "return_id", status=404)["code"] == "not_found", path
        assert m2.send("GET", "/v1/orders").json()["items"] == []
        assert m2.send("GET", "/v1/orders?customer_ref=C-1").json()["items"] == []
        assert_problem(m2.order(order_doc("M2-1", [("SKU-1", 1)])))


# ------------------------------------------------------------------------------- signed webhooks


def _payment_event(**data: Any) -> dict[str, Any]:
    return {"id": f"evt_{uuid.uuid4().hex[:12]}", "type": "payment.failed", "created_at": "2026-12-05T10:00:00Z",
            "data": {"order_id": 1, "amount": "14.89", "currency": "USD", **data}}


def test_unstorable_text_and_card_numbers_in_signed_webhooks_are_refused(api: Api) -> None:
    with unchanged(api.store):
        for value in [*UNSTORABLE, *CARD_NUMBERS]:
            body, headers = signed(_payment_event(reason=value), "payment_webhook_secret")
            expect_refused(api.http.post("/v1/webhooks/payments/fake", content=body, headers=headers), value,
                           "data.reason")


def test_signed_events_larger_than_the_store_holds_are_refused(api: Api) -> None:
    tracking = orders.get_order(api.store, 2)["shipments"][0]["tracking_number"]
    cases = [("payments/fake", "payment_webhook_secret", _payment_event(order_id=2**64)),
             ("payments/fake", "payment_webhook_secret", _payment_event(reason="r" * 300)),
             ("carriers/FAST", "carrier_webhook_secret", {
                 "id": "evt_long", "tracking_number": tracking, "status": "exception",
                 "occurred_at": "2026-12-05T10:00:00Z", "description": "d" * 400})]
    answers = []
    for route, secret, event in cases:
        body, headers = signed(event, secret)
        answers.append(api.http.post(f"/v1/webhooks/{route}", content=body, headers=headers).status_code)
    assert answers == [422, 422, 422]
