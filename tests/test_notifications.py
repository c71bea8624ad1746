"""Where a merchant's messages go, and the outbox: at most once per key, every failure recorded
and retried, delivered over a real SMTP server (with STARTTLS) and a real HTTP receiver."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from ops_store.errors import InvalidInput
from ops_store.messaging import smtp, webhooks
from ops_store.models import Merchant, Notification
from ops_store.security.access import PermissionDenied, Principal, acting_as
from ops_store.services import catalog, keys, notifications
from ops_store.types import utcnow
from tests.messaging_support import smtp_server, webhook_receiver


def _message(shop, key: str = "stock_alert:1:webhook", channel: str = "webhook", target: str = "http://x",
             **extra) -> notifications.Message:
    merchant_id = notifications.contacts(shop.store, "M1").merchant_id
    return notifications.Message(merchant_id, "stock_alert", channel, key, target, "Low stock: SKU-1",
                                 json.dumps({"sku": "SKU-1"}), **extra)


def _rows(store) -> list[Notification]:
    with store.read() as session:
        return list(session.scalars(select(Notification).order_by(Notification.id)))


def test_contacts_are_checked_and_the_secret_is_shown_once_and_kept_encrypted(shop) -> None:
    with pytest.raises(InvalidInput) as bad:
        notifications.set_contacts(shop.store, "M1", locale="fr")
    assert bad.value.field == "locale"
    with pytest.raises(InvalidInput) as bad:
        notifications.set_contacts(shop.store, "M1", email="not an address")
    assert bad.value.field == "email"
    with pytest.raises(InvalidInput) as bad:
        notifications.set_contacts(shop.store, "M1", webhook_url="ftp://example.com/x")
    assert bad.value.field == "webhook_url"

    first = notifications.set_contacts(shop.store, "M1", email="Ops@Shop.Example", webhook_url="https://h.example/a",
                                       locale="zh")
    secret = first["webhook_secret"]
    assert first["email"] == "ops@shop.example" and first["locale"] == "zh" and secret.startswith("whsec_")
    again = notifications.set_contacts(shop.store, "M1", webhook_url="https://h.example/b")
    assert "webhook_secret" not in again  # the secret is printed once, not on every change
    with shop.store.read() as session:
        stored = session.scalar(select(Merchant.webhook_secret_enc).where(Merchant.code == "M1"))
    assert secret not in stored and stored.startswith("v1:")
    found = notifications.contacts(shop.store, "M1")
    assert (found.webhook_secret, found.webhook_url, found.locale) == (secret, "https://h.example/b", "zh")

    rotated = notifications.set_contacts(shop.store, "M1", new_secret=True)["webhook_secret"]
    assert rotated != secret and notifications.contacts(shop.store, "M1").webhook_secret == rotated
    cleared = notifications.set_contacts(shop.store, "M1", clear_webhook=True, clear_email=True)
    assert cleared["webhook_url"] is None and cleared["email"] is None
    assert notifications.contacts(shop.store, "M1").webhook_secret is None


def test_a_merchant_changes_only_its_own_contacts(shop) -> None:
    catalog.add_merchant(shop.store, "M2", "Shop Two")
    m2 = notifications.contacts(shop.store, "M2").merchant_id
    with acting_as(Principal("user:m2", "merchant", merchant_id=m2)):
        notifications.set_contacts(shop.store, "M2", email="two@shop.example")
        with pytest.raises(PermissionDenied):
            notifications.set_contacts(shop.store, "M1", email="evil@shop.example")
    with acting_as(Principal("user:ann", "analyst")), pytest.raises(PermissionDenied):
        notifications.set_contacts(shop.store, "M2", email="x@shop.example")
    assert notifications.contacts(shop.store, "M1").email is None


def test_key_rotation_re_encrypts_the_webhook_secret(shop) -> None:
    from ops_store.security.pii import PiiCipher, new_key

    old, current = new_key(), new_key()
    shop.store.cipher = PiiCipher(old)
    secret = notifications.set_contacts(shop.store, "M1", webhook_url="https://h.example/a")["webhook_secret"]
    ring = PiiCipher(current, [old])
    report = keys.rotate(shop.store, ring)
    assert report["merchant_secrets"] == 1 and keys.count_stale(shop.store, ring) == 0
    shop.store.cipher = PiiCipher(current)  # the old key is gone
    assert notifications.contacts(shop.store, "M1").webhook_secret == secret


def test_the_same_key_is_queued_once(shop) -> None:
    assert len(notifications.enqueue(shop.store, [_message(shop)])) == 1
    assert notifications.enqueue(shop.store, [_message(shop), _message(shop)]) == []
    assert len(notifications.enqueue(shop.store, [_message(shop, key="stock_alert:2:webhook")])) == 1
    assert [r.dedup_key for r in _rows(shop.store)] == ["stock_alert:1:webhook", "stock_alert:2:webhook"]


def test_a_failed_send_is_retried_recorded_and_never_lost(shop) -> None:
    notifications.enqueue(shop.store, [_message(shop)])
    calls: list[int] = []

    def broken(n: Notification) -> None:
        calls.append(n.id)
        raise webhooks.WebhookError("receiver answered 503")

    outcome = notifications.deliver_due(shop.store, channels={"webhook": broken}, pauses_s=(0, 0))
    assert outcome["failed"] == 1 and len(calls) == 3  # tried now and twice more in the same call
    (row,) = _rows(shop.store)
    assert row.status == "failed" and row.attempts == 3 and "503" in row.last_error
    assert row.next_attempt_at > utcnow()  # waits before the next try
    assert notifications.deliver_due(shop.store, channels={"webhook": broken}) == {
        "sent": 0, "failed": 0, "dead": 0, "skipped": 0}

    _make_due(shop.store)
    delivered: list[str] = []
    outcome = notifications.deliver_due(shop.store, channels={"webhook": lambda n: delivered.append(n.body)})
    (row,) = _rows(shop.store)
    assert outcome["sent"] == 1 and row.status == "sent" and row.sent_at is not None and row.last_error is None
    assert delivered == [json.dumps({"sku": "SKU-1"})]
    assert notifications.deliver_due(shop.store, channels={"webhook": broken})["sent"] == 0  # never twice


def test_after_the_last_attempt_a_message_is_dead_and_kept(shop) -> None:
    notifications.enqueue(shop.store, [_message(shop)])

    def broken(n: Notification) -> None:
        raise webhooks.WebhookError("connection refused")

    for _ in range(notifications.MAX_ATTEMPTS):
        _make_due(shop.store)
        notifications.deliver_due(shop.store, channels={"webhook": broken}, pauses_s=())
    (row,) = _rows(shop.store)
    assert row.status == "dead" and row.attempts == notifications.MAX_ATTEMPTS and "refused" in row.last_error
    assert [r["status"] for r in notifications.outbox(shop.store, status="dead")] == ["dead"]


def _make_due(store) -> None:
    with store.write() as session:
        session.execute(update(Notification).where(Notification.status == "failed")
                        .values(next_attempt_at=utcnow() - timedelta(seconds=1)))


def test_mail_goes_over_starttls_with_its_attachment(shop, tmp_path: Path) -> None:
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF-1.7 a report")
    notifications.enqueue(shop.store, [_message(shop, key="weekly_report:M1:2026-W01:email", channel="email",
                                                target="ops@shop.example", attachments=[str(pdf)])])
    with smtp_server(tls_folder=tmp_path) as box:
        mail = smtp.SmtpSettings(host=box.host, port=box.port, ca_file=str(box.cafile), sender="r@ecom.example")
        outcome = notifications.deliver_due(shop.store, channels=notifications.senders(shop.store, mail))
    assert outcome["sent"] == 1
    (envelope,), (message,) = box.envelopes, box.messages
    assert envelope == {"tls": True, "from": "r@ecom.example", "to": ["ops@shop.example"]}
    assert message["Subject"] == "Low stock: SKU-1"
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename() == "report.pdf" and attachment.get_content() == b"%PDF-1.7 a report"


def test_mail_refuses_a_server_without_tls_when_tls_is_required(shop, tmp_path: Path) -> None:
    notifications.enqueue(shop.store, [_message(shop, key="k:email", channel="email", target="ops@shop.example")])
    with smtp_server() as box:
        mail = smtp.SmtpSettings(host=box.host, port=box.port, tls="require")
        outcome = notifications.deliver_due(shop.store, channels=notifications.senders(shop.store, mail),
                                            pauses_s=())
    assert outcome["failed"] == 1 and box.messages == []
    assert "STARTTLS" in _rows(shop.store)[0].last_error


def test_a_missing_attachment_fails_with_the_reason(shop, tmp_path: Path) -> None:
    notifications.enqueue(shop.store, [_message(shop, key="k:email", channel="email", target="ops@shop.example",
                                                attachments=[str(tmp_path / "gone.pdf")])])
    with smtp_server() as box:
        mail = smtp.SmtpSettings(host=box.host, port=box.port)
        notifications.deliver_due(shop.store, channels=notifications.senders(shop.store, mail), pauses_s=())
    assert box.messages == [] and "gone.pdf" in _rows(shop.store)[0].last_error


def test_webhooks_are_signed_with_the_merchants_secret(shop) -> None:
    with webhook_receiver() as receiver:
        secret = notifications.set_contacts(shop.store, "M1", webhook_url=receiver.url)["webhook_secret"]
        receiver.fail_next = 1  # the first try meets a 503, the quick retry gets through
        notifications.enqueue(shop.store, [_message(shop, target=receiver.url)])
        outcome = notifications.deliver_due(shop.store, pauses_s=(0,))
    assert outcome["sent"] == 1
    (request,) = receiver.requests
    header = request["headers"][webhooks.SIGNATURE_HEADER]
    assert webhooks.verify(secret, request["body"], header)
    assert not webhooks.verify(secret, request["body"] + b" ", header)  # a changed body fails
    assert not webhooks.verify("whsec_other", request["body"], header)
    stamp = int(header.split(",")[0].removeprefix("t="))
    assert not webhooks.verify(secret, request["body"], header, now=stamp + 3600)  # replayed an hour later
    assert json.loads(request["body"]) == {"sku": "SKU-1"}
    assert request["headers"]["Ecom-Event-Id"] == "stock_alert:1:webhook"
    assert _rows(shop.store)[0].attempts == 2


def test_the_cli_sets_contacts_and_lists_the_outbox(shop, cli_invoke) -> None:
    from ops_store.cli.catalog import merchant_app

    set_up = cli_invoke(merchant_app, "notify", "M1", "--email", "ops@shop.example", "--webhook-url",
                        "https://hooks.shop.example/stock", "--locale", "zh")
    assert set_up["webhook_secret"].startswith("whsec_") and set_up["locale"] == "zh"
    refused = cli_invoke(merchant_app, "notify", "M1", "--webhook-url", "javascript:alert(1)", ok=False)
    assert refused["error"]["field"] == "webhook_url"
    notifications.enqueue(shop.store, [_message(shop)])
    listed = cli_invoke(merchant_app, "outbox", "--status", "pending")
    assert [(r["merchant"], r["channel"], r["status"]) for r in listed] == [("M1", "webhook", "pending")]
