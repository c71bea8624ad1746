"""Customers: personal data encrypted at rest, blind-index look-ups, masked or clear views (clear
ones audited), consents, access requests, erasure, and key rotation without losing a row."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ops_store.errors import AlreadyExists, InsufficientStock, InvalidInput, NotFound
from ops_store.models import AuditEntry, Customer, Merchant, Order, RejectedRequest
from ops_store.security.access import PermissionDenied, Principal, acting_as
from ops_store.security.pii import KEY_FILE_NAME, PiiCipher, new_key
from ops_store.services import catalog, customer_export, customers, keys, orders, stock
from tests.factories import make_shop, order_doc
from tests.store_dump import stored_text

ANALYST = Principal("user:ana", "analyst")
SUPPORT = Principal("user:sam", "support")

PERSON = {"name": "Zelda Quintero-Oyelaran", "email": "Zelda.Q@Example.org", "phone": "+44 7700 900123",
          "street": "17 Wisteria Crescent"}


def _add(store, **extra):  # type: ignore[no-untyped-def]
    data = {**PERSON, **extra}
    return customers.add_customer(store, name=data["name"], email=data["email"], phone=data["phone"],
                                  street=data["street"], city="Leeds", postal_code="LS1 1AA", region="Yorkshire",
                                  country="gb", preferred_categories=["kitchen", "home"], consent_email=True,
                                  consent_sms=False, customer_ref=extra.get("customer_ref"))


def _audit(store, action):  # type: ignore[no-untyped-def]
    with store.read() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_personal_data_is_encrypted_at_rest_and_readable_with_the_key(store):
    created = _add(store)
    assert created["masked"] is True and created["email"] == "z***@example.org"
    dump = stored_text(store)
    for secret in ("Zelda", "Quintero", "zelda.q@example.org", "Zelda.Q@Example.org", "7700 900123",
                   "447700900123", "Wisteria"):
        assert secret not in dump, f"{secret!r} stored in clear"
    assert "Leeds" in dump and "Yorkshire" in dump  # coarse attributes stay readable
    clear = customers.show_customer(store, created["customer_id"], clear=True)
    assert clear["name"] == PERSON["name"] and clear["email"] == "zelda.q@example.org"
    assert clear["phone"] == "+447700900123" and clear["addresses"][0]["street"] == PERSON["street"]
    assert clear["consents"]["email"]["granted"] is True and clear["consents"]["sms"]["granted"] is False


def test_look_up_by_email_and_phone_uses_the_blind_index(store):
    created = _add(store)
    _add(store, email="other@example.org", phone="+1 555 0100 999", name="Other Person")
    by_email = customers.find_customers(store, email="  ZELDA.q@example.ORG ")
    by_phone = customers.find_customers(store, phone="+44-7700-900123")
    assert [c["customer_id"] for c in by_email] == [created["customer_id"]]
    assert [c["customer_id"] for c in by_phone] == [created["customer_id"]]
    assert customers.find_customers(store, email="nobody@example.org") == []
    with store.read() as session:
        row = session.get(Customer, created["customer_id"])
        assert row.email_bidx == store.cipher.email_index("zelda.q@example.org")
        assert "example" not in row.email_bidx
    with pytest.raises(AlreadyExists, match="email"):
        _add(store, email="zelda.q@example.org", name="Duplicate")
    with pytest.raises(InvalidInput) as bad:
        customers.add_customer(store, name="X", email="not-an-email")
    assert bad.value.field == "email"


def test_views_are_masked_unless_the_role_may_see_personal_data_and_clear_views_are_audited(store):
    created = _add(store)
    cid = created["customer_id"]
    with acting_as(ANALYST):
        masked = customers.show_customer(store, cid)
        assert masked["masked"] and masked["name"] == "Z*** Q***" and masked["phone"].endswith("23")
        assert masked["addresses"][0]["street"] == "***"
        with pytest.raises(PermissionDenied):
            customers.show_customer(store, cid, clear=True)
    assert _audit(store, "pii.read") == []
    with acting_as(SUPPORT):
        clear = customers.show_customer(store, cid)
    assert clear["masked"] is False and clear["email"] == "zelda.q@example.org"
    (entry,) = _audit(store, "pii.read")
    assert (entry.actor, entry.target_type, entry.target_id) == ("user:sam", "customer", str(cid))
    assert "zelda" not in (entry.details or "").lower()


def test_merchant_sees_only_customers_who_ordered_from_it(store):
    make_shop(store)
    catalog.add_merchant(store, "M2", "Other shop")
    catalog.add_product(store, "M2", "OTHER-1", "Other thing", "5.00", "1.00")
    stock.receive_stock(store, "OTHER-1", "W1", 5)
    orders.place_order(store, order_doc("O-1", [("SKU-1", 1)], customer="C-buyer"))
    buyer = customers.customer_id_by_ref(store, "C-buyer")
    with store.read() as session:
        m1 = session.scalar(select(Order.merchant_id))
        m2 = session.scalar(select(Merchant.id).where(Merchant.code == "M2"))
    with acting_as(Principal("user:m1", "merchant", merchant_id=m1)):
        assert customers.show_customer(store, buyer)["masked"] is True
    with acting_as(Principal("user:m2", "merchant", merchant_id=m2)), pytest.raises(NotFound):
        customers.show_customer(store, buyer)


def test_a_reference_resolves_only_to_the_merchants_own_buyer(store):
    """Another merchant's buyer looks like no customer at all: no internal id, no existence."""
    make_shop(store)
    catalog.add_merchant(store, "M2", "Other shop")
    orders.place_order(store, order_doc("O-1", [("SKU-1", 1)], customer="C-buyer"))
    with store.read() as session:
        m1 = session.scalar(select(Order.merchant_id))
        m2 = session.scalar(select(Merchant.id).where(Merchant.code == "M2"))
        buyer = session.scalar(select(Customer.id).where(Customer.customer_ref == "C-buyer"))
    with acting_as(Principal("user:m1", "merchant", merchant_id=m1)):
        assert customers.customer_id_by_ref(store, "C-buyer") == buyer
    answers = []
    with acting_as(Principal("user:m2", "merchant", merchant_id=m2)):
        for ref in ("C-buyer", "C-nobody"):
            with pytest.raises(NotFound) as error:
                customers.customer_id_by_ref(store, ref)
            answers.append((error.value.field, error.value.message.replace(ref, "<ref>")))
    assert answers[0] == answers[1] == ("customer_ref", "no customer with reference '<ref>'")
    assert customers.customer_id_by_ref(store, "C-buyer") == buyer  # staff see every customer


def test_consent_history_keeps_the_time_given_and_withdrawn(store):
    cid = _add(store)["customer_id"]
    customers.set_consent(store, cid, "sms", True)
    after = customers.set_consent(store, cid, "email", False)
    assert after["consents"]["email"]["granted"] is False and after["consents"]["email"]["at"] is not None
    assert after["consents"]["sms"]["granted"] is True
    with pytest.raises(InvalidInput):
        customers.set_consent(store, cid, "fax", True)


def test_export_holds_everything_and_is_audited(store):
    make_shop(store)
    cid = _add(store, customer_ref="C-42")["customer_id"]
    placed = orders.place_order(store, order_doc("E-1", [("SKU-2", 2)], customer="C-42"))
    document = customer_export.export_customer(store, cid)
    assert document["profile"]["email"] == "zelda.q@example.org"
    assert [o["order_id"] for o in document["orders"]] == [placed["order_id"]]
    assert set(customer_export.SECTIONS) <= set(document)
    assert len(_audit(store, "pii.export")) == 1
    with acting_as(ANALYST), pytest.raises(PermissionDenied):
        customer_export.export_customer(store, cid)


def test_erasure_leaves_no_trace_while_orders_still_add_up(store):
    make_shop(store)
    cid = _add(store, customer_ref="C-erase-me")["customer_id"]
    placed = orders.place_order(store, order_doc("ER-1", [("SKU-1", 2)], customer="C-erase-me"))
    with pytest.raises(InsufficientStock):
        orders.place_order(store, order_doc("ER-2", [("SKU-1", 999)], customer="C-erase-me"))  # kept as rejected
    total_before = orders.get_order(store, placed["order_id"])["total"]
    with acting_as(SUPPORT), pytest.raises(PermissionDenied):
        customers.erase_customer(store, cid)
    result = customers.erase_customer(store, cid)
    assert result["orders_kept"] == 1
    dump = stored_text(store)
    for trace in ("C-erase-me",):
        assert trace not in dump
    view = customers.show_customer(store, cid, clear=True)
    assert view["erased"] and view["name"] is None and view["email"] is None and view["addresses"] == []
    assert customers.find_customers(store, email=PERSON["email"]) == []
    after = orders.get_order(store, placed["order_id"])
    assert after["total"] == total_before and after["customer_ref"].startswith("erased-")
    with store.read() as session:
        assert session.scalar(select(func.count()).select_from(RejectedRequest)) == 0
    assert len(_audit(store, "pii.erase")) == 1


def test_key_rotation_keeps_every_row_readable_and_searchable(store):
    old_keys = _ring_keys()
    created = [_add(store, email=f"person{i}@example.org", name=f"Person {i}", phone=f"+3161234{i:04d}")
               for i in range(12)]
    current = new_key()
    rotating = PiiCipher(current, old_keys)
    store.cipher = rotating
    # During the rotation (rows under both keys) reads and look-ups keep working.
    seen_errors: list[BaseException] = []

    def reader() -> None:
        try:
            for i, c in enumerate(created):
                found = customers.find_customers(store, email=f"person{i}@example.org")
                assert [f["customer_id"] for f in found] == [c["customer_id"]]
        except BaseException as exc:  # noqa: BLE001
            seen_errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    report = keys.rotate(store, rotating, batch_size=5)
    thread.join()
    assert not seen_errors
    assert report["customers"] == 12 and keys.count_stale(store, rotating) == 0
    store.cipher = PiiCipher(current)  # the old key is gone: everything must still read
    for i, c in enumerate(created):
        view = customers.show_customer(store, c["customer_id"], clear=True)
        assert view["email"] == f"person{i}@example.org" and view["name"] == f"Person {i}"
        assert view["addresses"][0]["street"] == PERSON["street"]
        assert customers.find_customers(store, phone=f"+3161234{i:04d}")[0]["customer_id"] == c["customer_id"]
    assert len(_audit(store, "keys.rotate")) == 1


def _ring_keys() -> list[str]:
    """The keys the store's cipher was built from (the data dir's key file, made on first use)."""
    path = Path(os.environ["ECOM_DATA_DIR"]) / KEY_FILE_NAME
    saved = json.loads(path.read_text())
    return [saved["current"], *saved.get("previous", [])]
