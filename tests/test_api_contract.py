"""The channel API against its own OpenAPI description, property-based (Schemathesis 4 in-process
on the ASGI app, on both backends): no 5xx ever, and every answer — success or problem — has a
documented status, content type, body schema and headers, for valid and invalid input alike.

Hostile payloads (SQL injection, NUL bytes, card numbers, oversized and deeply nested bodies) and
the error shapes are in tests/test_api_contract_hostile.py."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import CheckFunction

from ops_store.api.app import create_app
from ops_store.api.settings import ApiSettings
from ops_store.db import Store
from ops_store.services import users
from tests.api_support import make_key
from tests.factories import order_doc
from tests.test_api_contract_hostile import seed_shop

pytestmark = pytest.mark.slow

# Schema-valid requests the store still refuses for what they say (an email that is no address, an
# unknown merchant, stock, a cursor it never gave out, a declined card): documented 4xx problems.
# Anything else for a schema-valid request with a valid key holding every channel scope is a bug
# (400, 401, 403, 405, 413, 415, 429 ...); the webhooks also answer 401: no generated signature is valid.
ACCEPTED_FOR_VALID_INPUT = ["2xx", "402", "404", "409", "422"]

# Schemathesis builds some cases (its coverage phase) while collecting, before any store exists, so
# the key is known in advance: the fixture has the API key service issue exactly this one.
KEY_PREFIX, KEY_SECRET = "c0ffee00", "contract-test-key-0123456789abcdefghijklmn"
KEY = f"ek_{KEY_PREFIX}_{KEY_SECRET}"

CONFIG = schemathesis.Config.from_dict({
    "seed": 20260517,  # with `deterministic` and derandomize: the same cases on every run
    "generation": {"mode": "all", "deterministic": True},
    # Sent as Schemathesis' own auth: so it knows the credentials, leaves them out where a case tests
    # their absence, and probes a 2xx again without them and with a wrong key (ignored_auth).
    "auth": {"openapi": {"HTTPBearer": {"bearer": KEY}}},
    # Chains of calls start from resources that exist: valid data (single calls cover invalid data).
    "phases": {"stateful": {"generation": {"mode": "positive"}}},
    "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED_FOR_VALID_INPUT}},
    "operations": [{"include-tag": "webhooks",
                    "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED_FOR_VALID_INPUT, "401"]}}}],
})

# Examples naming the fixture's rows (see seed_shop), so that generated requests also reach the
# successful paths: an order placed, a return requested, a webhook up to its signature check.
# Schemathesis' examples phase sends them (completed with generated values where they leave some out)
# and its other phases vary them; the checks validate against the description as served.
EXAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/v1/orders"): {"Idempotency-Key": "contract-1",
                             "body": order_doc("EX-1", [("SKU-1", 1), ("SKU-3", 2)], coupon=None)},
    ("GET", "/v1/orders"): {"customer_ref": "C-1", "status": "paid", "limit": 1},
    ("GET", "/v1/orders/{order_id}"): {"order_id": 1},
    ("POST", "/v1/orders/{order_id}/cancel"): {"order_id": 1, "body": {"reason": "ordered twice"}},
    ("GET", "/v1/stock"): {"merchant": "M1", "sku": ["SKU-1", "SKU-2"]},
    ("POST", "/v1/orders/{order_id}/returns"): {"order_id": 2,
                                               "body": {"sku": "SKU-2", "qty": 1, "reason": "too small"}},
    ("GET", "/v1/returns/{return_id}"): {"return_id": 1},
    ("POST", "/v1/customers"): {"body": {"name": "Bea Example", "email": "bea@example.com", "customer_ref": "CUS-2",
                                         "country": "DE", "preferred_categories": ["kitchen"], "consent_email": True}},
    ("GET", "/v1/customers/{customer_ref}"): {"customer_ref": "CUS-1"},
    ("PATCH", "/v1/customers/{customer_ref}"): {"customer_ref": "CUS-1", "body": {"region": "North", "country": "FR"}},
    ("POST", "/v1/tickets"): {"body": {"customer_ref": "C-1", "order_id": 1, "category": "delivery",
                                       "subject": "Late", "message": "Where is my parcel?", "priority": "high"}},
    ("POST", "/v1/tickets/{ticket_id}/messages"): {"ticket_id": 1, "body": {"body": "Any news?"}},
    ("GET", "/v1/tickets/{ticket_id}"): {"ticket_id": 1},
    ("POST", "/v1/webhooks/payments/{provider}"): {
        "provider": "fake", "Webhook-Signature": "t=1700000000,v1=00",
        "body": {"id": "evt_1", "type": "payment.captured", "created_at": "2026-12-05T10:00:00Z",
                 "data": {"order_id": 1, "amount": "14.89", "currency": "USD"}}},
    ("POST", "/v1/webhooks/carriers/{carrier}"): {
        "carrier": "FAST", "Webhook-Signature": "t=1700000000,v1=00",
        "body": {"id": "evt_2", "tracking_number": "FAST-1", "status": "in_transit",
                 "occurred_at": "2026-12-05T10:00:00Z"}},
}


def _with_examples(served: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(served)
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            examples = EXAMPLES.get((method.upper(), path), {})
            for parameter in operation.get("parameters", []):
                if parameter["name"] in examples:
                    parameter["example"] = examples[parameter["name"]]
            if "body" in examples:
                operation["requestBody"]["content"]["application/json"]["example"] = examples["body"]
    return spec


# The description the app serves (building the app touches no database), with those examples: one
# test per operation; each sends its cases to an app on its own store (``app=`` below). Loaded here,
# not per test with schemathesis.pytest.from_fixture: its lazy loader (4.32.5) renames the test item
# through ``Function._nodeid``, which pytest 9.2 no longer has.
_served = schemathesis.openapi.from_asgi("/openapi.json", create_app(Store("sqlite://")))
schema = schemathesis.openapi.from_dict(_with_examples(_served.raw_schema), config=CONFIG)
schema.app = _served.app  # the ASGI transport (every call and probe names the test's own app)


def _checks(*names: str) -> list[CheckFunction]:
    return [getattr(schemathesis.checks, name) for name in names]


# Every check Schemathesis 4 has that applies to single requests of this API:
# - not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
#   response_headers_conformance: the asked-for contract of each answer;
# - negative_data_rejection: schema-invalid input is refused with a 4xx;
# - positive_data_acceptance: schema-valid input is not refused for anything but what it says (above);
# - missing_required_header: no Idempotency-Key / Webhook-Signature / Authorization is refused;
# - unsupported_method: a method the path does not document answers 405 with an Allow header, and
#   allow_header_conformance: that Allow lists exactly the documented methods;
# - ignored_auth: a 2xx with the key is re-sent without it and with a wrong one: both must be 401.
# Left out, because they need what a single request does not have: use_after_free and
# ensure_resource_availability (a create followed by reads: the stateful test below runs them),
# object_level_authorization (two identities' resources: test_api_contract_hostile.py covers a key bound
# to another merchant), max_response_time (no time budget is documented).
CHECKS = _checks(
    "not_a_server_error", "status_code_conformance", "content_type_conformance", "response_schema_conformance",
    "response_headers_conformance", "negative_data_rejection", "positive_data_acceptance",
    "missing_required_header", "unsupported_method", "allow_header_conformance", "ignored_auth",
)
HYPOTHESIS = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                             HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])


@dataclass
class Api:
    store: Store
    app: FastAPI
    key: str


@pytest.fixture
def api(store: Store) -> Api:
    """The app on a shop with rows for generated ids and references to hit (seed_shop: orders 1 and 2,
    return 1, customers C-1 and CUS-1, ticket 1) and the key every case is sent with."""
    seed_shop(store)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(users, "secrets", _KnownKey)
        # A rate limit no generated run reaches: a 429 would hide what the request itself gets.
        key = make_key(store, rate_limit=1_000_000)
    assert key == KEY
    return Api(store, create_app(store, ApiSettings()), key)


class _KnownKey:
    """Stands in for ``secrets`` in the users service while it issues the test's key."""

    @staticmethod
    def token_hex(_: int) -> str:
        return KEY_PREFIX

    @staticmethod
    def token_urlsafe(_: int) -> str:
        return KEY_SECRET


# Every operation of the description, none excluded: the webhooks answer the generated calls 401
# signature_invalid (no generated signature is valid), and those answers must conform too.
@schema.parametrize()
@HYPOTHESIS
def test_every_answer_conforms_to_the_openapi_description(case: schemathesis.Case, api: Api) -> None:
    case.call_and_validate(checks=CHECKS, app=api.app)


def test_workflows_keep_the_contract(api: Api) -> None:
    """Schemathesis' stateful phase: chains of calls linked by what earlier answers returned (the
    links it infers: a customer created, then read and updated; an order placed, then read, cancelled,
    returned, asked about in a ticket ...), every answer checked with every check Schemathesis has:
    those above plus use_after_free and ensure_resource_availability (what was just created can be
    read) and object_level_authorization."""

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"app": api.app}

    Workflow.run(settings=settings(HYPOTHESIS, max_examples=30, stateful_step_count=6))


def test_a_time_is_only_the_documented_string(api: Api) -> None:
    http = TestClient(api.app, raise_server_exceptions=False)
    for i, placed_at in enumerate((0, 1_780_000_000.5)):
        response = http.post("/v1/orders", json=order_doc(f"TIME-{i}", [("SKU-1", 1)], placed_at=placed_at),
                             headers={"Authorization": f"Bearer {api.key}", "Idempotency-Key": f"time-{i}"})
        assert (response.status_code, response.json().get("field")) == (422, "placed_at")
