"""Where a merchant's reports and stock alerts go, and the outbox that delivers them.

Every message is written to the outbox (``notifications``) before it is sent. ``enqueue`` is
idempotent on the message's ``dedup_key`` (one per alert opening or report, and channel), so
evaluating the same alert or re-running the same report never sends twice. ``deliver_due``
claims each due message with a short lease, sends it, and records the outcome: sent, failed
(retried later with a growing pause) or dead after ``MAX_ATTEMPTS`` (kept, with its last error)."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from ops_store.db import Store
from ops_store.errors import InvalidInput
from ops_store.messaging import smtp, webhooks
from ops_store.models import Merchant, Notification
from ops_store.security import access, audit
from ops_store.security.pii import check_email
from ops_store.services.common import merchant_by_code, upsert_into
from ops_store.types import utcnow

LOCALES = ("en", "zh")
MAX_ATTEMPTS = 12  # three quick tries per delivery call, so four calls
LEASE = timedelta(minutes=10)  # a crashed sender's claim expires after this
IN_CALL_PAUSES_S = (0.5, 2.0)  # quick retries inside one delivery before leaving it for later


def retry_pause(attempts: int) -> timedelta:
    """Pause before the next try after ``attempts`` failures: 1, 2, 4 ... minutes, at most 6 hours."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 360))


# --- where a merchant's messages go -----------------------------------------------------------------


@dataclass(frozen=True)
class Contacts:
    merchant_id: int
    code: str
    name: str
    currency: str
    locale: str
    email: str | None
    webhook_url: str | None
    webhook_secret: str | None


def contacts(store: Store, merchant: str) -> Contacts:
    """The merchant's report language, mailbox and webhook (with its secret, decrypted)."""
    with store.read() as session:
        m = merchant_by_code(session, merchant)
    return Contacts(m.id, m.code, m.name, m.currency, m.locale, m.notify_email, m.webhook_url,
                    store.cipher.decrypt(m.webhook_secret_enc))


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise InvalidInput("webhook_url must be an http(s) URL with a host", field="webhook_url")
    if len(url) > 2000:
        raise InvalidInput("webhook_url is longer than 2000 characters", field="webhook_url")
    return url


def set_contacts(
    store: Store, merchant: str, *, email: str | None = None, webhook_url: str | None = None,
    locale: str | None = None, clear_email: bool = False, clear_webhook: bool = False, new_secret: bool = False,
) -> dict[str, Any]:
    """Change where the merchant's reports and alerts go. A webhook gets a signing secret when
    it is first set (or on ``new_secret``); the secret is returned this once and kept encrypted."""
    if locale is not None and locale not in LOCALES:
        raise InvalidInput(f"locale must be one of {', '.join(LOCALES)}", field="locale")
    email = check_email(email) if email else None
    webhook_url = _check_url(webhook_url) if webhook_url else None

    def work(session: Session) -> dict[str, Any]:
        m = merchant_by_code(session, merchant)
        if not access.may("merchants.manage"):
            access.require("catalog.write", merchant_id=m.id)
        secret = None
        if locale:
            m.locale = locale
        if email or clear_email:
            m.notify_email = None if clear_email else email
        if clear_webhook:
            m.webhook_url, m.webhook_secret_enc = None, None
        elif webhook_url:
            m.webhook_url = webhook_url
        if m.webhook_url and (new_secret or m.webhook_secret_enc is None):
            secret = "whsec_" + secrets.token_urlsafe(32)
            m.webhook_secret_enc = store.cipher.encrypt(secret)
        audit.record(session, "merchant.notify_settings", target_type="merchant", target_id=m.code,
                     details={"email": bool(m.notify_email), "webhook": bool(m.webhook_url),
                              "locale": m.locale, "new_secret": secret is not None})
        result: dict[str, Any] = {"merchant": m.code, "locale": m.locale, "email": m.notify_email,
                                  "webhook_url": m.webhook_url}
        if secret:
            result["webhook_secret"] = secret  # shown once: the receiver needs it to check signatures
        return result

    return store.run_write(work)


# --- the outbox ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    merchant_id: int
    kind: str  # weekly_report, daily_report, stock_alert
    channel: str  # email, webhook
    dedup_key: str
    target: str
    subject: str
    body: str
    attachments: list[str] = field(default_factory=list)


def enqueue(store: Store, messages: Iterable[Message]) -> list[int]:
    """Write ``messages`` to the outbox unless their dedup key is there already; the ids of the
    ones written (an empty list means everything was known)."""
    rows = [{"merchant_id": m.merchant_id, "kind": m.kind, "channel": m.channel, "dedup_key": m.dedup_key,
             "target": m.target, "subject": m.subject[:300], "body": m.body,
             "attachments": json.dumps(m.attachments) if m.attachments else None,
             "status": "pending", "attempts": 0, "created_at": utcnow(), "updated_at": utcnow()} for m in messages]
    if not rows:
        return []

    def work(session: Session) -> list[int]:
        keys = [r["dedup_key"] for r in rows]
        known = set(session.scalars(select(Notification.dedup_key).where(Notification.dedup_key.in_(keys))))
        fresh = [r for r in rows if r["dedup_key"] not in known]
        if not fresh:
            return []
        statement = upsert_into(session, Notification).values(fresh).on_conflict_do_nothing(
            index_elements=["dedup_key"]).returning(Notification.id)
        return list(session.scalars(statement))

    return store.run_write(work)


def known_keys(store: Store, keys: Iterable[str]) -> set[str]:
    """Which of ``keys`` are in the outbox already (whatever their state)."""
    keys = list(keys)
    found: set[str] = set()
    with store.read() as session:
        for i in range(0, len(keys), 500):
            found |= set(session.scalars(select(Notification.dedup_key)
                                         .where(Notification.dedup_key.in_(keys[i:i + 500]))))
    return found


def _claim(store: Store, notification_id: int, now: datetime) -> bool:
    """Take the message for one delivery attempt (a lease), unless another sender holds it."""
    def work(session: Session) -> bool:
        claimed = session.execute(
            update(Notification)
            .where(Notification.id == notification_id, Notification.status.in_(("pending", "failed")),
                   or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now))
            .values(next_attempt_at=now + LEASE, attempts=Notification.attempts + 1, updated_at=now))
        return claimed.rowcount == 1

    return store.run_write(work)


def _record(store: Store, notification_id: int, error: str | None) -> str:
    def work(session: Session) -> str:
        row = session.get(Notification, notification_id)
        assert row is not None
        now = utcnow()
        if error is None:
            row.status, row.sent_at, row.next_attempt_at, row.last_error = "sent", now, None, None
        else:
            row.last_error = error[:2000]
            row.status = "dead" if row.attempts >= MAX_ATTEMPTS else "failed"
            row.next_attempt_at = None if row.status == "dead" else now + retry_pause(row.attempts)
        return row.status

    return store.run_write(work)


Sender = Callable[[Notification], None]


def senders(store: Store, mail: smtp.SmtpSettings | None = None) -> dict[str, Sender]:
    """The real channels: SMTP (``ECOM_SMTP_*``) and signed webhooks (the merchant's secret)."""
    mail = mail or smtp.SmtpSettings()

    def send_mail(n: Notification) -> None:
        paths = [Path(p) for p in json.loads(n.attachments or "[]")]
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise smtp.MailError(f"attachment missing: {', '.join(missing)} (re-run the report to write it)")
        smtp.send(mail, smtp.build_message(mail, n.target, n.subject, n.body, attachments=paths))

    def send_webhook(n: Notification) -> None:
        with store.read() as session:
            m = session.get(Merchant, n.merchant_id)
            secret = store.cipher.decrypt(m.webhook_secret_enc) if m else None
        if not secret:
            raise webhooks.WebhookError("the merchant has no webhook secret: `ecom merchant notify --new-secret`")
        webhooks.post(n.target, n.body.encode(), secret, event_id=n.dedup_key)

    return {"email": send_mail, "webhook": send_webhook}


def deliver_due(
    store: Store, *, channels: dict[str, Sender] | None = None, ids: Iterable[int] | None = None,
    limit: int = 200, pauses_s: tuple[float, ...] = IN_CALL_PAUSES_S,
) -> dict[str, int]:
    """Send what is due (or just ``ids``): each message is tried now, retried after each of
    ``pauses_s``, and if it still fails is left for a later call. Counts per outcome."""
    channels = channels or senders(store)
    now = utcnow()
    with store.read() as session:
        query = select(Notification).where(
            Notification.status.in_(("pending", "failed")),
            or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now))
        if ids is not None:
            query = query.where(Notification.id.in_(list(ids)))
        due = list(session.scalars(query.order_by(Notification.id).limit(limit)))
    outcome = {"sent": 0, "failed": 0, "dead": 0, "skipped": 0}
    for n in due:
        status = _deliver_one(store, n, channels, pauses_s)
        outcome[status] += 1
    return outcome


def _deliver_one(store: Store, n: Notification, channels: dict[str, Sender], pauses_s: tuple[float, ...]) -> str:
    tries = len(pauses_s) + 1
    for attempt in range(tries):
        if attempt:
            time.sleep(pauses_s[attempt - 1])
        if not _claim(store, n.id, utcnow()):
            return "skipped"  # another sender has it, or it went out meanwhile
        try:
            channels[n.channel](n)
            return _record(store, n.id, None)
        except Exception as failure:  # noqa: BLE001 (any failure is recorded, never lost)
            status = _record(store, n.id, f"{type(failure).__name__}: {failure}")
            if status == "dead":
                return status
            if attempt + 1 < tries:
                _release(store, n.id)
    return "failed"


def _release(store: Store, notification_id: int) -> None:
    """Make a failed message claimable at once by this call's next quick retry."""
    def work(session: Session) -> None:
        session.execute(update(Notification).where(Notification.id == notification_id)
                        .values(next_attempt_at=None))

    store.run_write(work)


def outbox(store: Store, *, status: str | None = None, merchant: str | None = None,
           limit: int = 50) -> list[dict[str, Any]]:
    """The latest messages, newest first, with their delivery state."""
    access.require("merchants.manage")
    with store.read() as session:
        query = select(Notification, Merchant.code).join(Merchant, Merchant.id == Notification.merchant_id)
        if status:
            query = query.where(Notification.status == status)
        if merchant:
            query = query.where(Merchant.code == merchant)
        rows = session.execute(query.order_by(Notification.id.desc()).limit(limit)).all()
    return [{"id": n.id, "merchant": code, "kind": n.kind, "channel": n.channel, "target": n.target,
             "subject": n.subject, "status": n.status, "attempts": n.attempts, "last_error": n.last_error,
             "created_at": n.created_at, "sent_at": n.sent_at} for n, code in rows]
