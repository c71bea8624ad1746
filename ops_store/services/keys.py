"""Rotating the personal-data key without downtime.

Reads keep working during a rotation because the cipher holds a key ring (the new key and the
previous ones): rows are re-encrypted and re-indexed batch by batch, each batch in its own short
transaction, and look-ups search the blind index under every key in the ring."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from ops_store.db import Store
from ops_store.models import Customer, CustomerAddress, Merchant
from ops_store.security import access, audit
from ops_store.security.pii import PiiCipher, normalise_email, normalise_phone

Progress = Callable[[int], None]


def _stale(cipher: PiiCipher, *tokens: str | None) -> bool:
    return any(t is not None and cipher.key_id_of(t) != cipher.current_key_id for t in tokens)


def rotate(
    store: Store, cipher: PiiCipher, *, batch_size: int = 500, progress: Progress | None = None
) -> dict[str, Any]:
    """Re-encrypt every customer and address under ``cipher``'s current key (the previous keys
    must be in its ring). Safe to re-run: rows already under the current key are skipped."""
    access.require("keys.manage")
    done = {"customers": 0, "addresses": 0, "merchant_secrets": 0}
    for model, section in ((Customer, "customers"), (CustomerAddress, "addresses")):
        last_id = 0
        while True:

            def work(session, last_id=last_id, model=model, section=section):  # type: ignore[no-untyped-def]
                rows = list(
                    session.scalars(
                        select(model).where(model.id > last_id).order_by(model.id).limit(batch_size).with_for_update()
                    )
                )
                for row in rows:
                    if section == "customers":
                        _rotate_customer(cipher, row)
                    elif _stale(cipher, row.street_enc):
                        row.street_enc = cipher.encrypt(cipher.decrypt(row.street_enc))
                return (rows[-1].id if rows else None), len(rows)

            last_id, count = store.run_write(work)
            done[section] += count
            if progress:
                progress(count)
            if last_id is None:
                break
    with store.write() as session:  # a few rows: the merchants' webhook signing secrets
        merchants = session.scalars(select(Merchant).where(Merchant.webhook_secret_enc.is_not(None))).all()
        for m in merchants:
            if _stale(cipher, m.webhook_secret_enc):
                m.webhook_secret_enc = cipher.encrypt(cipher.decrypt(m.webhook_secret_enc))
                done["merchant_secrets"] += 1
        audit.record(session, "keys.rotate", details={"key_id": cipher.current_key_id, **done})
    return {"key_id": cipher.current_key_id, **done}


def _rotate_customer(cipher: PiiCipher, c: Customer) -> None:
    if not _stale(cipher, c.name_enc, c.email_enc, c.phone_enc):
        return
    name, email, phone = cipher.decrypt(c.name_enc), cipher.decrypt(c.email_enc), cipher.decrypt(c.phone_enc)
    c.name_enc, c.email_enc, c.phone_enc = cipher.encrypt(name), cipher.encrypt(email), cipher.encrypt(phone)
    c.email_bidx = cipher.blind_index(normalise_email(email)) if email else None
    c.phone_bidx = cipher.blind_index(normalise_phone(phone)) if phone else None


def count_stale(store: Store, cipher: PiiCipher) -> int:
    """Rows still under a previous key (0 once a rotation has finished)."""
    with store.read() as session:
        stale = sum(
            1 for c in session.scalars(select(Customer)) if _stale(cipher, c.name_enc, c.email_enc, c.phone_enc)
        )
        stale += sum(1 for a in session.scalars(select(CustomerAddress)) if _stale(cipher, a.street_enc))
        stale += sum(1 for m in session.scalars(select(Merchant)) if _stale(cipher, m.webhook_secret_enc))
    return stale
