"""Users (argon2-hashed passwords, one role each) and API clients (keys stored as hashes).

Only admins manage users and keys; the very first user of a new store can be created without
one (bootstrap). Every change is written to the audit log."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ops_store.db import Store
from ops_store.errors import AlreadyExists, InvalidInput, NotFound
from ops_store.models import ApiClient, Merchant, User
from ops_store.models.access import ROLES
from ops_store.security import access, audit
from ops_store.security.access import MATRIX, PermissionDenied, Principal
from ops_store.services.common import merchant_by_code
from ops_store.types import utcnow

_hasher = PasswordHasher()
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,63}$")
# What an API key may never carry, whatever its scopes say.
ADMIN_ONLY = frozenset({"users.manage", "keys.manage", "pii.erase", "audit.read", "backup.run"})
CHANNELS = ("web", "mobile_app", "marketplace", "phone")


class AuthenticationFailed(PermissionDenied):
    code = "authentication_failed"


def _check_role(role: str, merchant: str | None) -> None:
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", field="role")
    if role == "merchant" and not merchant:
        raise InvalidInput("a merchant user must be bound to a merchant (--merchant CODE)", field="merchant")
    if role != "merchant" and merchant:
        raise InvalidInput("only merchant users are bound to a merchant", field="merchant")


def add_user(store: Store, username: str, password: str, role: str, *, merchant: str | None = None) -> dict[str, Any]:
    if not USERNAME_RE.match(username or ""):
        raise InvalidInput("username must be 2-64 lower-case letters, digits, '_', '.' or '-'", field="username")
    if len(password or "") < 12:
        raise InvalidInput("password must have at least 12 characters", field="password")
    _check_role(role, merchant)
    hashed = _hasher.hash(password)

    def work(session: Session) -> dict[str, Any]:
        first = session.scalar(select(func.count()).select_from(User)) == 0
        if not (first and role == "admin"):
            access.require("users.manage")
        merchant_id = merchant_by_code(session, merchant).id if merchant else None
        session.add(User(username=username, password_hash=hashed, role=role, merchant_id=merchant_id, active=True))
        session.flush()
        audit.record(
            session,
            "users.add",
            target_type="user",
            target_id=username,
            details={"role": role, "merchant": merchant, "bootstrap": first},
        )
        return {"username": username, "role": role, "merchant": merchant, "active": True}

    try:
        return store.run_write(work)
    except IntegrityError:
        raise AlreadyExists(f"user {username!r} already exists", field="username") from None


def grant(store: Store, username: str, role: str, *, merchant: str | None = None) -> dict[str, Any]:
    """Give a user another role (one role per user)."""
    _check_role(role, merchant)

    def work(session: Session) -> dict[str, Any]:
        access.require("users.manage")
        user = session.scalar(select(User).where(User.username == username).with_for_update())
        if user is None:
            raise NotFound(f"user {username!r} does not exist", field="username")
        before = user.role
        user.role = role
        user.merchant_id = merchant_by_code(session, merchant).id if merchant else None
        audit.record(
            session,
            "users.grant",
            target_type="user",
            target_id=username,
            details={"from": before, "to": role, "merchant": merchant},
        )
        return {"username": username, "role": role, "merchant": merchant}

    return store.run_write(work)


def deactivate(store: Store, username: str) -> dict[str, Any]:
    def work(session: Session) -> dict[str, Any]:
        access.require("users.manage")
        user = session.scalar(select(User).where(User.username == username).with_for_update())
        if user is None:
            raise NotFound(f"user {username!r} does not exist", field="username")
        user.active = False
        audit.record(session, "users.deactivate", target_type="user", target_id=username)
        return {"username": username, "active": False}

    return store.run_write(work)


def list_users(store: Store) -> list[dict[str, Any]]:
    access.require("users.manage")
    with store.read() as session:
        rows = session.execute(
            select(User, Merchant.code).outerjoin(Merchant, Merchant.id == User.merchant_id).order_by(User.username)
        )
        return [{"username": u.username, "role": u.role, "merchant": m, "active": u.active} for u, m in rows]


def authenticate(store: Store, username: str, password: str) -> Principal:
    """The principal for a username and password; one message for every failure."""
    failed = AuthenticationFailed("unknown user or wrong password", field="username")
    with store.read() as session:
        user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        _hasher.hash(password or "x")  # same cost either way: no user enumeration by timing
        raise failed
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        raise failed from None
    return Principal(f"user:{user.username}", user.role, user.merchant_id)


def _key_hash(key: str) -> str:
    # API keys are 32 random bytes: a plain SHA-256 is enough (no dictionary to attack).
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(
    store: Store,
    name: str,
    *,
    scopes: list[str],
    channel: str | None = None,
    merchant: str | None = None,
    rate_limit: int | None = None,
) -> dict[str, Any]:
    """A new key for a channel or merchant. The key is returned once and never stored.
    ``rate_limit``: requests a minute for this key (default: the API's ECOM_API_RATE_LIMIT)."""
    if not name.strip():
        raise InvalidInput("an API key needs a name", field="name")
    if rate_limit is not None and not 1 <= rate_limit <= 1_000_000:
        raise InvalidInput("rate_limit must be 1 to 1000000 requests a minute", field="rate_limit")
    if channel is not None and channel not in CHANNELS:
        raise InvalidInput(f"channel must be one of {', '.join(CHANNELS)}", field="channel")
    bad = [s for s in scopes if s not in MATRIX or s in ADMIN_ONLY]
    if bad or not scopes:
        raise InvalidInput(f"scopes must be some of: {', '.join(sorted(set(MATRIX) - ADMIN_ONLY))}", field="scopes")
    prefix = secrets.token_hex(4)
    key = f"ek_{prefix}_{secrets.token_urlsafe(32)}"

    def work(session: Session) -> dict[str, Any]:
        access.require("keys.manage")
        merchant_id = merchant_by_code(session, merchant).id if merchant else None
        session.add(
            ApiClient(
                name=name.strip(),
                key_prefix=prefix,
                key_hash=_key_hash(key),
                channel=channel,
                merchant_id=merchant_id,
                scopes=" ".join(sorted(set(scopes))),
                rate_limit_per_minute=rate_limit,
                active=True,
            )
        )
        audit.record(
            session,
            "keys.create",
            target_type="api_key",
            target_id=prefix,
            details={"name": name, "channel": channel, "merchant": merchant, "scopes": sorted(scopes)},
        )
        return {
            "key": key,
            "prefix": prefix,
            "name": name,
            "channel": channel,
            "merchant": merchant,
            "scopes": sorted(set(scopes)),
            "rate_limit": rate_limit,
            "note": "store the key now: it is shown only once",
        }

    return store.run_write(work)


def revoke_api_key(store: Store, prefix: str) -> dict[str, Any]:
    def work(session: Session) -> dict[str, Any]:
        access.require("keys.manage")
        client = session.scalar(select(ApiClient).where(ApiClient.key_prefix == prefix).with_for_update())
        if client is None:
            raise NotFound(f"no API key with prefix {prefix!r}", field="prefix")
        client.active = False
        client.revoked_at = utcnow()
        audit.record(session, "keys.revoke", target_type="api_key", target_id=prefix)
        return {"prefix": prefix, "active": False}

    return store.run_write(work)


def list_api_keys(store: Store) -> list[dict[str, Any]]:
    access.require("keys.manage")
    with store.read() as session:
        rows = session.execute(
            select(ApiClient, Merchant.code)
            .outerjoin(Merchant, Merchant.id == ApiClient.merchant_id)
            .order_by(ApiClient.id)
        )
        return [
            {
                "prefix": c.key_prefix,
                "name": c.name,
                "channel": c.channel,
                "merchant": m,
                "scopes": c.scopes.split(),
                "rate_limit": c.rate_limit_per_minute,
                "active": c.active,
                "last_used_at": c.last_used_at,
            }
            for c, m in rows
        ]


@dataclass(frozen=True)
class ApiCaller:
    """Who sent an API request: the principal its key acts as, and the key's own settings."""

    principal: Principal
    client_id: int
    prefix: str
    rate_limit: int | None


LAST_USED_EVERY = timedelta(minutes=5)  # how stale ``last_used_at`` may get (not a write per request)


def authenticate_api_client(store: Store, key: str) -> ApiCaller:
    failed = AuthenticationFailed("invalid or revoked API key", field="api_key")
    parts = (key or "").split("_", 2)
    if len(parts) != 3 or parts[0] != "ek" or len(parts[1]) > 16:
        raise failed
    with store.read() as session:
        client = session.scalar(select(ApiClient).where(ApiClient.key_prefix == parts[1]))
    if client is None or not client.active or not hmac.compare_digest(client.key_hash, _key_hash(key)):
        raise failed
    now = utcnow()
    if client.last_used_at is None or now - client.last_used_at > LAST_USED_EVERY:
        with store.write() as session:
            session.execute(update(ApiClient).where(ApiClient.id == client.id).values(last_used_at=now))
    principal = Principal(f"apikey:{client.key_prefix}", "channel", client.merchant_id,
                          frozenset(client.scopes.split()))
    return ApiCaller(principal, client.id, client.key_prefix, client.rate_limit_per_minute)


class ApiKeyCache:
    """Keys this process checked recently, so a busy client is not looked up on every request.
    A revoked key keeps working here for at most ``ttl_s`` seconds (documented in docs/api.md).
    Entries are keyed by the key's hash; failures are never cached."""

    def __init__(self, ttl_s: float = 10.0, max_entries: int = 10_000) -> None:
        self.ttl_s, self.max_entries = ttl_s, max_entries
        self._seen: dict[str, tuple[float, ApiCaller]] = {}
        self._lock = threading.Lock()

    def authenticate(self, store: Store, key: str) -> ApiCaller:
        digest, now = _key_hash(key or ""), time.monotonic()
        with self._lock:
            hit = self._seen.get(digest)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        caller = authenticate_api_client(store, key)
        with self._lock:
            if len(self._seen) >= self.max_entries:
                self._seen.clear()
            self._seen[digest] = (now, caller)
        return caller


def authenticate_api_key(store: Store, key: str) -> Principal:
    return authenticate_api_client(store, key).principal
