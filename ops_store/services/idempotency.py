"""Idempotency keys of API clients: the same key with the same request replays the first
response; the same key with another request is a Conflict. Keys live at least 24 hours.

``claim`` runs inside the unit of work that creates the order, so a key exists exactly when its
order does. The response is remembered just after; a key whose response was never remembered
(the worker died in between) is answered from the order it points at."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from ops_store.db import Store
from ops_store.errors import Conflict, InvalidInput
from ops_store.models import IdempotencyKey
from ops_store.types import utcnow

MIN_RETENTION_HOURS = 24
KEY_MAX_LEN = 255


@dataclass(frozen=True)
class Remembered:
    request_hash: str
    order_id: int | None
    status_code: int | None
    response_body: str | None
    created_at: datetime


def check_key(key: str | None) -> str:
    if key is None or not key.strip():
        raise InvalidInput("the Idempotency-Key header is required: a unique value per order, e.g. a UUID, "
                           "sent again unchanged on every retry", field="Idempotency-Key")
    key = key.strip()
    if len(key) > KEY_MAX_LEN or not key.isprintable():
        raise InvalidInput(f"Idempotency-Key must be at most {KEY_MAX_LEN} printable characters",
                           field="Idempotency-Key")
    return key


def lookup(store: Store, client_id: int, key: str) -> Remembered | None:
    with store.read() as session:
        row = session.scalar(select(IdempotencyKey).where(IdempotencyKey.api_client_id == client_id,
                                                          IdempotencyKey.key == key))
        if row is None or row.expires_at <= utcnow():
            return None
        return Remembered(row.request_hash, row.order_id, row.status_code, row.response_body, row.created_at)


def check_same_request(remembered: Remembered, fingerprint: str) -> None:
    if remembered.request_hash != fingerprint:
        raise Conflict("this Idempotency-Key was already used with a different request; send a new key for a "
                       "new order, or the same body to retry", field="Idempotency-Key")


def claim(session: Session, client_id: int, key: str, fingerprint: str, order_id: int, *, hours: int,
          response: tuple[int, str] | None = None) -> None:
    """Inside the order's unit of work: tie the key to the order (a duplicate key fails the unit),
    with the response when it is already final."""
    now = utcnow()
    # An expired row of the same key is gone first, so an old key can be used again.
    session.execute(delete(IdempotencyKey).where(IdempotencyKey.api_client_id == client_id,
                                                 IdempotencyKey.key == key, IdempotencyKey.expires_at <= now))
    session.add(IdempotencyKey(api_client_id=client_id, key=key, request_hash=fingerprint, order_id=order_id,
                               status_code=response[0] if response else None,
                               response_body=response[1] if response else None, created_at=now,
                               expires_at=now + timedelta(hours=max(hours, MIN_RETENTION_HOURS))))
    session.flush()


def remember(store: Store, client_id: int, key: str, status_code: int, body: str) -> None:
    with store.write() as session:
        session.execute(update(IdempotencyKey).where(
            IdempotencyKey.api_client_id == client_id, IdempotencyKey.key == key,
            IdempotencyKey.response_body.is_(None),
        ).values(status_code=status_code, response_body=body))


def purge_expired(store: Store, *, now: datetime | None = None) -> int:
    """Delete keys past their retention; returns how many."""
    with store.write() as session:
        result = session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at <= (now or utcnow())))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
