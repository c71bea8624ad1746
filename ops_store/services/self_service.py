"""The customers' self-service site: who may sign in (an order reference and the email used for
it, or a one-time link sent to that email), and the few small reads its pages need beyond the
other services.

Sign-in checks answer only "these details match customer X" or "they do not": every kind of
failure (unknown order, another email, an erased customer) takes the same single query, so neither
the answer nor its timing tells them apart. Links keep only the SHA-256 of their token; redeeming
one is a single conditional UPDATE, so a link signs in at most once even when two requests race.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from ops_store.db import Store
from ops_store.models import Customer, Order, OrderLine, Product, ReturnRequest, SignInLink
from ops_store.security import access
from ops_store.security.pii import normalise_email
from ops_store.services.orders import visible_order
from ops_store.types import utcnow

SIGN_IN_FAILED = "no order with this number and email"
LINK_LIFETIME = timedelta(minutes=15)
MAX_REF_LEN = 100
MAX_EMAIL_LEN = 320
MAX_TOKEN_LEN = 100


@dataclass(frozen=True)
class SignedIn:
    """Who a successful check or link names, and through which order."""

    customer_id: int
    customer_ref: str
    order_id: int


def clean_order_ref(order_ref: str) -> str:
    """What the customer typed, without surrounding spaces or a leading "#" ("#12345")."""
    return (order_ref or "").strip().lstrip("#").strip()


def _match(store: Store, order_ref: str, email: str) -> SignedIn | None:
    """The live customer whose order is ``order_ref`` (the store's order number or the channel's
    reference) and whose email is ``email`` (through the blind index), else None. One query
    whatever the outcome."""
    ref = clean_order_ref(order_ref)
    address = normalise_email(email or "")
    if (not ref or not address or len(ref) > MAX_REF_LEN or len(address) > MAX_EMAIL_LEN
            or not ref.isprintable()):
        ref, address = "-", "-"  # no email is "-": matches nothing, but costs the same as a real look-up
    keys = store.cipher.blind_indexes(address)
    by_ref = Order.channel_order_ref == ref
    # The order number: digits only, and small enough for a 64-bit id (else only the channel ref).
    condition = or_(Order.id == int(ref), by_ref) if ref.isdigit() and len(ref) <= 18 else by_ref
    query = (
        select(Order.id, Customer.id, Customer.customer_ref)
        .join(Customer, Customer.id == Order.customer_id)
        .where(condition, Customer.email_bidx.in_(keys), Customer.erased_at.is_(None))
        .order_by(Order.id.desc()).limit(1)
    )
    with store.read() as session:
        row = session.execute(query).first()
    return None if row is None else SignedIn(customer_id=row[1], customer_ref=row[2], order_id=row[0])


def check_sign_in(store: Store, order_ref: str, email: str) -> SignedIn | None:
    """The customer these details sign in, or None (say ``SIGN_IN_FAILED``, whatever the reason)."""
    return _match(store, order_ref, email)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_link(store: Store, order_ref: str, email: str) -> tuple[str, SignedIn] | None:
    """When the details match, a new one-time link's token (kept only as its hash) valid for
    ``LINK_LIFETIME``; else None."""
    who = _match(store, order_ref, email)
    if who is None:
        return None
    token = secrets.token_urlsafe(32)

    def work(session: Session) -> None:
        session.add(SignInLink(token_hash=_token_hash(token), customer_id=who.customer_id, order_id=who.order_id,
                               expires_at=utcnow() + LINK_LIFETIME))

    store.run_write(work)
    return token, who


def redeem_link(store: Store, token: str) -> SignedIn | None:
    """Use a link: the customer it signs in, or None when it is unknown, used, expired, or its
    customer was erased since. A link is used at most once, even by racing requests."""
    if not token or len(token) > MAX_TOKEN_LEN:
        return None
    digest = _token_hash(token)
    now = utcnow()
    table = SignInLink.__table__

    def work(session: Session) -> SignedIn | None:
        used = session.execute(
            update(table).where(table.c.token_hash == digest, table.c.used_at.is_(None), table.c.expires_at > now)
            .values(used_at=now).returning(table.c.customer_id, table.c.order_id)
        ).first()
        if used is None:
            return None
        customer = session.get(Customer, used[0])
        if customer is None or customer.erased_at is not None:
            return None
        return SignedIn(customer_id=customer.id, customer_ref=customer.customer_ref, order_id=used[1])

    return store.run_write(work)


def live_customer_ref(store: Store, customer_id: int) -> str | None:
    """The reference of a signed-in customer who still exists and was not erased, else None
    (their session ends)."""
    with store.read() as session:
        row = session.execute(select(Customer.customer_ref, Customer.erased_at)
                              .where(Customer.id == customer_id)).first()
    return row[0] if row is not None and row[1] is None else None


def order_return_ids(store: Store, order_id: int) -> list[int]:
    """The return requests of an order the caller may read, oldest first."""
    access.require("orders.read")
    with store.read() as session:
        order = visible_order(session, order_id, "orders.read")
        access.require_own(order.customer_id, "order", order_id, "order_id")
        return list(session.scalars(select(ReturnRequest.id).where(ReturnRequest.order_id == order_id)
                                    .order_by(ReturnRequest.id)))


def order_product_names(store: Store, order_id: int) -> dict[str, str]:
    """SKU -> product name for the lines of an order the caller may read."""
    access.require("orders.read")
    with store.read() as session:
        order = visible_order(session, order_id, "orders.read")
        access.require_own(order.customer_id, "order", order_id, "order_id")
        rows = session.execute(select(OrderLine.sku, Product.name).join(Product, Product.id == OrderLine.product_id)
                               .where(OrderLine.order_id == order_id))
        return {sku: name for sku, name in rows}


def purge_links(store: Store, *, now: datetime | None = None) -> int:
    """Delete sign-in links expired more than a day ago (used or not); returns how many."""
    cutoff = (now or utcnow()) - timedelta(days=1)
    with store.write() as session:
        return int(session.execute(delete(SignInLink).where(SignInLink.expires_at < cutoff)).rowcount or 0)
