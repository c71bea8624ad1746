"""Card numbers and security codes are refused and never reach the database, the log or the output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ops_store.db import Store
from ops_store.errors import CardDataRefused, DomainError
from ops_store.models import Order, RejectedRequest
from ops_store.payments.card_guard import REDACTED, check_no_card_data, contains_card_number, luhn_ok
from ops_store.services import orders
from tests.factories import make_shop, order_doc
from tests.store_dump import stored_text

PAN = "4111111111111111"
ECOM = Path(sys.executable).parent / "ecom"


def _check_digit(body: str) -> str:
    """The Luhn check digit for ``body`` (computed here, independently of the product)."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:  # these are doubled once the check digit is appended
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def _card(length: int, prefix: str = "4") -> str:
    body = (prefix + "5301928374650192837465")[: length - 1]
    return body + _check_digit(body)


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


# --------------------------------------------------------------------------- unit: luhn and detection


def test_check_digit_helper_matches_known_test_numbers() -> None:
    assert _card(16, "411111111111111") == PAN
    assert "4222222222222"[:-1] + _check_digit("422222222222") == "4222222222222"
    assert "378282246310005"[:-1] + _check_digit("37828224631000") == "378282246310005"


@pytest.mark.parametrize("number", [
    PAN, "4222222222222", "378282246310005", "5555555555554444", "6011111111111117", "79927398713",
])
def test_luhn_accepts_valid_numbers(number: str) -> None:
    assert luhn_ok(number)


@pytest.mark.parametrize("number", ["4111111111111112", "4111111111111121", "1234567812345678", "79927398710"])
def test_luhn_rejects_invalid_numbers(number: str) -> None:
    assert not luhn_ok(number)


@pytest.mark.parametrize("length", range(13, 20))
def test_every_luhn_valid_run_of_13_to_19_digits_is_a_card_number(length: int) -> None:
    number = _card(length)
    assert luhn_ok(number)
    assert contains_card_number(number)
    assert contains_card_number(f"note: {number} thanks")
    broken = number[:-1] + str((int(number[-1]) + 1) % 10)
    assert not contains_card_number(broken)


@pytest.mark.parametrize("length", [11, 12, 20, 21, 24])
def test_luhn_valid_runs_outside_13_to_19_digits_are_not_card_numbers(length: int) -> None:
    number = _card(length)
    assert luhn_ok(number)
    assert not contains_card_number(number)


@pytest.mark.parametrize("text_", [
    "4111 1111 1111 1111", "4111-1111-1111-1111", "4111-1111 1111-1111", "pay with 4111 1111 1111 1111 pls",
    "3782 822463 10005",
])
def test_card_numbers_with_spaces_or_dashes_are_found(text_: str) -> None:
    assert contains_card_number(text_)


@pytest.mark.parametrize("text_", [
    "", "order 12345", "4111111111111112", "2026-01-31T12:00:00Z", "tok_ok", "4242", "+1 555 0100 2000",
    "411111111111", "4111  1111  1111  1111",
])
def test_ordinary_text_is_not_a_card_number(text_: str) -> None:
    assert not contains_card_number(text_)


def test_check_no_card_data_names_the_field() -> None:
    with pytest.raises(CardDataRefused) as err:
        check_no_card_data({"a": [{"b": "x"}, {"c": {"d": f"card {PAN}"}}]})
    assert err.value.field == "a[1].c.d"
    assert PAN not in err.value.message
    with pytest.raises(CardDataRefused) as err:
        check_no_card_data({"payment": {"CVC2": "123"}})
    assert err.value.field == "payment.CVC2"
    check_no_card_data({"payment": {"cvv": None}, "n": 4242, "flag": True, "ref": "A-1"})


# --------------------------------------------------------------------------- refused through place_order

def _with(path: list[str | int], value: Any) -> dict[str, Any]:
    doc: Any = order_doc("CARD-1", [("SKU-1", 1)])
    node = doc
    for key in path[:-1]:
        if isinstance(key, str) and key not in node:
            node[key] = {}
        node = node[key]
    node[path[-1]] = value
    return doc


CASES = [
    pytest.param(["payment", "token"], PAN, "payment.token", PAN, id="token"),
    pytest.param(["customer_ref"], "4111 1111 1111 1111", "customer_ref", "4111 1111 1111 1111", id="customer-spaces"),
    pytest.param(["channel_order_ref"], "4111-1111-1111-1111", "channel_order_ref", "4111-1111-1111-1111",
                 id="ref-dashes"),
    pytest.param(["channel"], PAN, "channel", PAN, id="channel"),
    pytest.param(["payment", "extra", "pan"], PAN, "payment.extra.pan", PAN, id="nested"),
    pytest.param(["lines", 0, "sku"], PAN, "lines[0].sku", PAN, id="line-sku"),
    pytest.param(["meta", "notes"], f"card was {PAN[:8]} {PAN[8:]}", "meta.notes", f"{PAN[:8]} {PAN[8:]}",
                 id="free-text"),
    pytest.param(["customer_ref"], int(PAN), "customer_ref", PAN, id="as-number"),
    pytest.param(["payment", "last4"], "378282246310005", "payment.last4", "378282246310005", id="amex-in-last4"),
]


def _assert_absent(haystack: str, value: str) -> None:
    assert value not in haystack
    assert _digits(value) not in haystack


def _rejected(store: Store) -> list[RejectedRequest]:
    with store.read() as session:
        return list(session.scalars(select(RejectedRequest).order_by(RejectedRequest.id)))


@pytest.mark.parametrize(("path", "value", "field", "secret"), CASES)
def test_card_number_anywhere_is_refused_and_never_stored(store: Store, path, value, field, secret) -> None:
    make_shop(store)
    doc = _with(path, value)
    with pytest.raises(CardDataRefused) as err:
        orders.place_order(store, doc)
    assert err.value.field == field
    assert err.value.code == "card_data_refused"
    _assert_absent(err.value.message, secret)
    _assert_absent(json.dumps(err.value.to_dict()), secret)

    [kept] = _rejected(store)
    assert (kept.kind, kept.error_code, kept.field) == ("order", "card_data_refused", field)
    payload = json.loads(kept.payload)
    node: Any = payload
    for key in path:
        node = node[key]
    assert node == REDACTED
    assert payload["merchant"] == "M1"  # the rest of the request is kept for inspection
    with store.read() as session:
        assert session.scalar(select(Order.id)) is None

    dump = stored_text(store)
    assert REDACTED in dump  # the dump does see the stored rejected request
    _assert_absent(dump, secret)


@pytest.mark.parametrize("key", ["cvv", "CVC", "cvv2", "security_code", "csc"])
def test_security_code_is_refused_and_masked(store: Store, key: str) -> None:
    make_shop(store)
    doc = _with(["payment", key], "7391")
    with pytest.raises(CardDataRefused) as err:
        orders.place_order(store, doc)
    assert err.value.field == f"payment.{key}"
    assert "7391" not in err.value.message
    [kept] = _rejected(store)
    payload = json.loads(kept.payload)
    assert payload["payment"][key] == REDACTED
    assert "7391" not in kept.payload
    assert kept.field == f"payment.{key}"


def test_security_code_nested_in_a_list_is_refused(store: Store) -> None:
    make_shop(store)
    doc = _with(["meta", "cards"], [{"brand": "visa"}, {"cvc": 123}])
    with pytest.raises(CardDataRefused) as err:
        orders.place_order(store, doc)
    assert err.value.field == "meta.cards[1].cvc"
    assert json.loads(_rejected(store)[0].payload)["meta"]["cards"][1]["cvc"] == REDACTED


def test_card_number_sent_as_a_key_is_refused_and_never_stored(store: Store) -> None:
    make_shop(store)
    doc = _with(["meta", PAN], "visa")
    with pytest.raises(DomainError) as err:
        orders.place_order(store, doc)
    _assert_absent(stored_text(store), PAN)
    _assert_absent(err.value.message, PAN)
    assert isinstance(err.value, CardDataRefused)


def test_brand_last4_and_token_are_accepted(store: Store) -> None:
    make_shop(store)
    placed = orders.place_order(store, order_doc("CARD-OK", [("SKU-1", 1)], token="tok_4242_abcdef"))
    assert placed["status"] == "paid"
    assert placed["payment"]["last4"] == "4242"
    assert _rejected(store) == []


# --------------------------------------------------------------------------- through the real CLI


def _cli(args: list[str], env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ECOM), *args], input=stdin, capture_output=True, text=True, env=env, timeout=120,
                          check=False)


@pytest.mark.parametrize("spelling", [PAN, "4111 1111 1111 1111"])
def test_cli_refuses_card_data_without_logging_printing_or_storing_it(store: Store, tmp_path: Path,
                                                                      spelling: str) -> None:
    make_shop(store)
    data_dir = tmp_path / "ecom-data"
    env = {**os.environ, "ECOM_DATA_DIR": str(data_dir), "OPS_STORE_URL": store.url}
    up = _cli(["db", "upgrade", "--json"], env)
    assert up.returncode == 0, up.stderr

    doc = order_doc("CLI-CARD", [("SKU-1", 1)], customer=f"pay {spelling}")
    doc["payment"]["cvv"] = "7391"
    refused = _cli(["order", "place", "--json"], env, stdin=json.dumps(doc))
    assert refused.returncode != 0
    body = json.loads(refused.stdout)
    assert body["error"]["code"] == "card_data_refused"
    assert body["error"]["field"] == "customer_ref"
    for stream in (refused.stdout, refused.stderr):
        _assert_absent(stream, spelling)
        assert "7391" not in stream

    # the same without --json: the message goes to stderr, still without the number
    plain = _cli(["order", "place"], env, stdin=json.dumps(doc))
    assert plain.returncode != 0
    assert "card_data_refused" in plain.stderr
    for stream in (plain.stdout, plain.stderr):
        _assert_absent(stream, spelling)

    log = (data_dir / "logs" / "ecom.log").read_text()
    assert "card_data_refused" in log  # the refusal was logged ...
    _assert_absent(log, spelling)  # ... without the number
    assert "7391" not in log

    kept = _rejected(store)
    assert len(kept) == 2
    assert json.loads(kept[0].payload)["customer_ref"] == REDACTED
    assert json.loads(kept[0].payload)["payment"]["cvv"] == REDACTED
    _assert_absent(stored_text(store), spelling)
