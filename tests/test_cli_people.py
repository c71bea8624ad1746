"""The CLI for people and safety: users, customers (masked by role), API keys, key rotation."""

from __future__ import annotations

from ops_store.cli import output
from ops_store.cli.customers import customer_app
from ops_store.cli.security import apikey_app, audit_app, keys_app, user_app

PASSWORD = "a long enough passphrase"


def test_customer_commands_mask_by_role_and_keys_rotate(cli_invoke, monkeypatch):
    monkeypatch.setenv("ECOM_NEW_PASSWORD", PASSWORD)
    assert cli_invoke(user_app, "add", "--username", "root", "--role", "admin")["role"] == "admin"
    cli_invoke(user_app, "add", "--username", "ana", "--role", "analyst")
    cli_invoke(user_app, "grant", "--username", "ana", "--role", "support")
    cli_invoke(user_app, "grant", "--username", "ana", "--role", "analyst")

    added = cli_invoke(customer_app, "add", "--name", "Grace Hopper", "--email", "grace@example.org",
                       "--phone", "+1 202 555 0147", "--consent-email")
    cid = str(added["customer_id"])
    assert added["masked"] is True
    found = cli_invoke(customer_app, "find", "--email", "GRACE@example.org")
    assert [c["customer_id"] for c in found] == [added["customer_id"]]
    assert cli_invoke(customer_app, "find", "--phone", "+12025550147")[0]["customer_id"] == added["customer_id"]
    assert cli_invoke(customer_app, "show", cid)["name"] == "Grace Hopper"  # local operator: admin

    monkeypatch.setenv("ECOM_USER", "ana")
    monkeypatch.setenv("ECOM_PASSWORD", PASSWORD)
    output.principal.cache_clear()
    shown = cli_invoke(customer_app, "show", cid)
    assert shown["masked"] is True and shown["name"] == "G*** H***" and shown["email"] == "g***@example.org"
    refused = cli_invoke(apikey_app, "create", "--name", "shop", "--scope", "orders.write", ok=False)
    assert refused["error"]["code"] == "permission_denied"
    monkeypatch.setenv("ECOM_PASSWORD", "wrong password")
    output.principal.cache_clear()
    assert cli_invoke(customer_app, "show", cid, ok=False)["error"]["code"] == "authentication_failed"

    monkeypatch.setenv("ECOM_USER", "root")
    monkeypatch.setenv("ECOM_PASSWORD", PASSWORD)
    output.principal.cache_clear()
    key = cli_invoke(apikey_app, "create", "--name", "shop", "--channel", "web", "--scope", "orders.write")
    assert key["key"].startswith("ek_") and key["note"]
    assert "key" not in cli_invoke(apikey_app, "list")[0]
    rotated = cli_invoke(keys_app, "rotate")
    assert rotated["customers"] >= 1
    output.store().cipher = None  # type: ignore[assignment]  # reload keys from the key file
    assert cli_invoke(customer_app, "show", cid)["email"] == "grace@example.org"
    actions = {e["action"] for e in cli_invoke(audit_app, "list")}
    assert {"users.add", "users.grant", "pii.read", "keys.create", "keys.rotate"} <= actions


def test_an_old_schema_or_a_missing_server_gets_a_clear_error_not_a_trace(cli_invoke, monkeypatch, tmp_path):
    from ops_store.db import Store
    from ops_store.migrate import upgrade

    old = tmp_path / "old.sqlite"
    upgrade(Store(f"sqlite:///{old}"), "0001")
    monkeypatch.setenv("OPS_STORE_URL", f"sqlite:///{old}")
    output.store.cache_clear()
    error = cli_invoke(audit_app, "list", ok=False)["error"]
    assert error["code"] == "schema_out_of_date" and "ecom db upgrade" in error["message"]
    monkeypatch.setenv("OPS_STORE_URL", "postgresql+psycopg://postgres@127.0.0.1:1/nowhere")
    output.store.cache_clear()
    error = cli_invoke(audit_app, "list", ok=False)["error"]
    assert error["code"] == "store_unavailable" and "OPS_STORE_URL" in error["message"]
