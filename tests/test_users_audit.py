"""Users with argon2-hashed passwords, API keys stored hashed, and the append-only audit log."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from ops_store.errors import AlreadyExists, InvalidInput
from ops_store.models import ApiClient, AuditEntry, User
from ops_store.security.access import PermissionDenied, Principal, acting_as
from ops_store.services import audit_log, catalog, users
from tests.store_dump import stored_text

PASSWORD = "correct horse battery staple"


def test_first_admin_bootstraps_then_only_admins_manage_users(store):
    with acting_as(Principal("cli:nobody", "engineer")):
        users.add_user(store, "root", PASSWORD, "admin")  # bootstrap: the store has no users yet
        with pytest.raises(PermissionDenied):
            users.add_user(store, "eve", PASSWORD, "analyst")
    catalog.add_merchant(store, "M1", "Shop")
    admin = users.authenticate(store, "root", PASSWORD)
    assert admin.role == "admin" and admin.name == "user:root"
    with acting_as(admin):
        users.add_user(store, "mia", PASSWORD, "merchant", merchant="M1")
        users.grant(store, "mia", "analyst")
        with pytest.raises(AlreadyExists):
            users.add_user(store, "mia", PASSWORD, "support")
        with pytest.raises(InvalidInput) as no_merchant:
            users.add_user(store, "max", PASSWORD, "merchant")
        assert no_merchant.value.field == "merchant"
    assert users.authenticate(store, "mia", PASSWORD).role == "analyst"
    with store.read() as session:
        hashes = [u.password_hash for u in session.scalars(select(User))]
    assert all(h.startswith("$argon2id$") for h in hashes)
    assert PASSWORD not in stored_text(store)


def test_wrong_password_unknown_user_and_inactive_user_fail_alike(store):
    users.add_user(store, "root", PASSWORD, "admin")
    messages = set()
    for name, pw in (("root", "wrong password!!"), ("ghost", PASSWORD)):
        with pytest.raises(users.AuthenticationFailed) as failed:
            users.authenticate(store, name, pw)
        messages.add(failed.value.message)
    users.deactivate(store, "root")
    with pytest.raises(users.AuthenticationFailed) as inactive:
        users.authenticate(store, "root", PASSWORD)
    messages.add(inactive.value.message)
    assert len(messages) == 1


def test_api_keys_are_shown_once_stored_hashed_scoped_and_revocable(store):
    catalog.add_merchant(store, "M1", "Shop")
    created = users.create_api_key(store, "web shop", scopes=["orders.write", "stock.read"], channel="web",
                                   merchant="M1")
    key = created["key"]
    assert key.startswith("ek_") and created["prefix"] in key
    with store.read() as session:
        row = session.scalar(select(ApiClient))
    assert row.key_hash != key and key not in stored_text(store)
    principal = users.authenticate_api_key(store, key)
    assert principal.role == "channel" and principal.scopes == {"orders.write", "stock.read"}
    assert principal.may("orders.write", merchant_id=principal.merchant_id)
    assert not principal.may("orders.write", merchant_id=(principal.merchant_id or 0) + 1)
    assert not principal.may("customers.read")
    with pytest.raises(users.AuthenticationFailed):
        users.authenticate_api_key(store, key[:-1] + ("A" if key[-1] != "A" else "B"))
    with pytest.raises(InvalidInput):
        users.create_api_key(store, "too strong", scopes=["users.manage"])
    users.revoke_api_key(store, created["prefix"])
    with pytest.raises(users.AuthenticationFailed):
        users.authenticate_api_key(store, key)
    with acting_as(Principal("user:ana", "analyst")), pytest.raises(PermissionDenied):
        users.create_api_key(store, "sneaky", scopes=["orders.read"])


def test_audit_log_records_sensitive_actions_and_cannot_be_edited(store):
    users.add_user(store, "root", PASSWORD, "admin")
    users.create_api_key(store, "feed", scopes=["orders.read"])
    entries = audit_log.list_audit(store)
    assert [e["action"] for e in entries] == ["keys.create", "users.add"]
    assert PASSWORD not in str(entries)
    with acting_as(Principal("user:sam", "support")), pytest.raises(PermissionDenied):
        audit_log.list_audit(store)
    for statement in ("UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as conn:
            conn.execute(text(statement))
    with store.read() as session:
        assert session.query(AuditEntry).count() == 2
        assert {e.actor for e in session.scalars(select(AuditEntry))} == {"system"}
