"""Customers: profiles with personal data encrypted at rest, look-ups by blind index, consents,
masked or clear views (clear views audited), access requests (export) and erasure."""

from __future__ import annotations

import json
import re
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ops_store.db import Store
from ops_store.errors import AlreadyExists, InvalidInput, NotFound
from ops_store.models import (
    Customer,
    CustomerAddress,
    CustomerConsent,
    Order,
)
from ops_store.security import access, audit
from ops_store.security.masking import mask_email, mask_name, mask_phone, mask_street
from ops_store.security.pii import PiiCipher, check_email, check_phone, normalise_email, normalise_phone
from ops_store.types import utcnow

COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
CONSENT_CHANNELS = ("email", "sms")


def _visible(session: Session, customer_id: int) -> Customer:
    """The customer, if the current principal may see it (merchants: only their buyers)."""
    customer = session.get(Customer, customer_id)
    scope = access.merchant_scope()
    if customer is not None and scope is not None:
        bought = session.scalar(select(exists().where(Order.customer_id == customer_id, Order.merchant_id == scope)))
        if not bought:
            customer = None
    if customer is None:
        raise NotFound(f"customer {customer_id} does not exist", field="customer_id")
    return customer


def _name(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value or len(value) > 200:
        raise InvalidInput("name must be 1-200 characters", field="name")
    return value


def _country(value: str | None) -> str | None:
    if value is None:
        return None
    if not COUNTRY_RE.match(value.upper()):
        raise InvalidInput("country must be a two-letter ISO 3166 code such as DE", field="country")
    return value.upper()


def _new_ref() -> str:
    return f"CUS-{secrets.token_hex(5)}"


def add_customer(
    store: Store, *, name: str, email: str, phone: str | None = None, customer_ref: str | None = None,
    region: str | None = None, country: str | None = None, preferred_categories: list[str] | None = None,
    street: str | None = None, city: str | None = None, postal_code: str | None = None,
    consent_email: bool | None = None, consent_sms: bool | None = None, source: str = "back office",
) -> dict[str, Any]:
    """A new customer of the portal. One person, one customer: an email already known is refused."""
    access.require("customers.write")
    cipher = store.cipher
    clean_email = check_email(email)
    clean_phone = check_phone(phone) if phone else None

    def work(session: Session) -> int:
        known = session.scalar(select(Customer.id).where(
            Customer.email_bidx.in_(cipher.blind_indexes(clean_email)), Customer.erased_at.is_(None)))
        if known is not None:
            raise AlreadyExists(f"a customer with this email already exists (customer {known})", field="email",
                                details={"customer_id": known})
        customer = Customer(
            customer_ref=customer_ref or _new_ref(), name_enc=cipher.encrypt(_name(name)),
            email_enc=cipher.encrypt(clean_email), email_bidx=cipher.email_index(clean_email),
            phone_enc=cipher.encrypt(clean_phone), phone_bidx=cipher.phone_index(clean_phone) if clean_phone else None,
            region=region, country=_country(country),
            preferred_categories=json.dumps(sorted(set(preferred_categories))) if preferred_categories else None,
        )
        session.add(customer)
        session.flush()
        if street or city or postal_code:
            session.add(CustomerAddress(customer_id=customer.id, kind="shipping", street_enc=cipher.encrypt(street),
                                        city=city, postal_code=postal_code, region=region,
                                        country=_country(country), is_default=True))
        for channel, granted in (("email", consent_email), ("sms", consent_sms)):
            if granted is not None:
                session.add(CustomerConsent(customer_id=customer.id, channel=channel, granted=granted, source=source))
        return customer.id

    try:
        customer_id = store.run_write(work)
    except IntegrityError:
        raise AlreadyExists(f"customer reference {customer_ref!r} is already used", field="customer_ref") from None
    return show_customer(store, customer_id, clear=False)


def update_customer(
    store: Store, customer_id: int, *, name: str | None = None, email: str | None = None, phone: str | None = None,
    region: str | None = None, country: str | None = None, preferred_categories: list[str] | None = None,
) -> dict[str, Any]:
    access.require("customers.write")
    cipher = store.cipher

    def work(session: Session) -> None:
        customer = _visible(session, customer_id)
        if customer.erased_at is not None:
            raise InvalidInput(f"customer {customer_id} was erased", field="customer_id")
        if name is not None:
            customer.name_enc = cipher.encrypt(_name(name))
        if email is not None:
            clean = check_email(email)
            other = session.scalar(select(Customer.id).where(
                Customer.email_bidx.in_(cipher.blind_indexes(clean)), Customer.id != customer_id))
            if other is not None:
                raise AlreadyExists(f"another customer ({other}) has this email", field="email")
            customer.email_enc, customer.email_bidx = cipher.encrypt(clean), cipher.email_index(clean)
        if phone is not None:
            clean_phone = check_phone(phone)
            customer.phone_enc, customer.phone_bidx = cipher.encrypt(clean_phone), cipher.phone_index(clean_phone)
        if region is not None:
            customer.region = region
        if country is not None:
            customer.country = _country(country)
        if preferred_categories is not None:
            customer.preferred_categories = json.dumps(sorted(set(preferred_categories)))

    store.run_write(work)
    return show_customer(store, customer_id, clear=False)


def set_consent(store: Store, customer_id: int, channel: str, granted: bool, *, source: str = "back office",
                at: datetime | None = None) -> dict[str, Any]:
    """Record a grant or withdrawal of marketing consent for one channel, with its time."""
    access.require("customers.write")
    if channel not in CONSENT_CHANNELS:
        raise InvalidInput("channel must be email or sms", field="channel")

    def work(session: Session) -> None:
        _visible(session, customer_id)
        session.add(CustomerConsent(customer_id=customer_id, channel=channel, granted=granted, source=source,
                                    recorded_at=at or utcnow()))

    store.run_write(work)
    return show_customer(store, customer_id, clear=False)


def consents(session: Session, customer_id: int) -> dict[str, Any]:
    """The consent in force per channel (the latest record), with when it was given or withdrawn."""
    current: dict[str, Any] = {c: {"granted": False, "at": None} for c in CONSENT_CHANNELS}
    for row in session.scalars(select(CustomerConsent).where(CustomerConsent.customer_id == customer_id)
                               .order_by(CustomerConsent.recorded_at, CustomerConsent.id)):
        current[row.channel] = {"granted": row.granted, "at": row.recorded_at, "source": row.source}
    return current


def _profile(session: Session, cipher: PiiCipher, customer: Customer, clear: bool) -> dict[str, Any]:
    name, email, phone = (cipher.decrypt(customer.name_enc), cipher.decrypt(customer.email_enc),
                          cipher.decrypt(customer.phone_enc))
    addresses = []
    for a in session.scalars(select(CustomerAddress).where(CustomerAddress.customer_id == customer.id)
                             .order_by(CustomerAddress.id)):
        street = cipher.decrypt(a.street_enc)
        addresses.append({"kind": a.kind, "street": street if clear else mask_street(street), "city": a.city,
                          "postal_code": a.postal_code, "region": a.region, "country": a.country,
                          "is_default": a.is_default})
    return {
        "customer_id": customer.id, "customer_ref": customer.customer_ref,
        "name": name if clear else mask_name(name), "email": email if clear else mask_email(email),
        "phone": phone if clear else mask_phone(phone), "masked": not clear,
        "region": customer.region, "country": customer.country,
        "preferred_categories": json.loads(customer.preferred_categories or "[]"),
        "consents": consents(session, customer.id), "addresses": addresses,
        "created_at": customer.created_at, "erased": customer.erased_at is not None,
    }


def show_customer(store: Store, customer_id: int, *, clear: bool | None = None) -> dict[str, Any]:
    """The profile, masked unless the caller may see personal data (``clear=None``: whatever the
    role allows; ``clear=True`` demands it). Every clear view is written to the audit log."""
    access.require("customers.read")
    want_clear = access.may("pii.read") if clear is None else clear
    if want_clear:
        access.require("pii.read")
    cipher = store.cipher

    def work(session: Session) -> dict[str, Any]:
        customer = _visible(session, customer_id)
        view = _profile(session, cipher, customer, want_clear)
        if want_clear:
            audit.record(session, "pii.read", target_type="customer", target_id=customer_id)
        return view

    return store.run_write(work) if want_clear else _read(store, work)


def _read(store: Store, work: Any) -> Any:
    with store.read() as session:
        return work(session)


def find_customers(store: Store, *, email: str | None = None, phone: str | None = None,
                   clear: bool | None = None) -> list[dict[str, Any]]:
    """Look a customer up by email or phone through the blind index (never the plain value)."""
    access.require("customers.read")
    if bool(email) == bool(phone):
        raise InvalidInput("give exactly one of email or phone", field="email")
    cipher = store.cipher
    if email:
        column, keys = Customer.email_bidx, cipher.blind_indexes(normalise_email(email))
    else:
        column, keys = Customer.phone_bidx, cipher.blind_indexes(normalise_phone(phone or ""))
    with store.read() as session:
        query = _in_scope(select(Customer.id).where(column.in_(keys)))
        ids = list(session.scalars(query.order_by(Customer.id)))
    return [show_customer(store, cid, clear=clear) for cid in ids]


def _in_scope(query: Select[tuple[int]]) -> Select[tuple[int]]:
    """`query` over customers, limited to a merchant principal's buyers (those who ordered from it)."""
    scope = access.merchant_scope()
    if scope is None:
        return query
    return query.where(exists().where(Order.customer_id == Customer.id, Order.merchant_id == scope))


def customer_id_by_ref(store: Store, customer_ref: str) -> int:
    """The id behind a reference the current principal may see. A merchant asking for another
    merchant's buyer gets the same answer as for a reference that does not exist, so neither the
    customer's existence nor their internal id leaks across merchants."""
    with store.read() as session:
        query = select(Customer.id).where(Customer.customer_ref == customer_ref)
        cid = session.scalar(_in_scope(query))
    if cid is None:
        raise NotFound(f"no customer with reference {customer_ref!r}", field="customer_ref")
    return cid


ERASED = "[erased]"


def erase_customer(store: Store, customer_id: int) -> dict[str, Any]:
    """Remove the person's personal data for good. Orders stay for the books, linked to the now
    pseudonymous customer; free texts the person wrote or that were written about them go."""
    access.require("pii.erase")
    from ops_store.models import Communication, RejectedRequest, Review, SurveyResponse, Ticket, TicketMessage

    def work(session: Session) -> dict[str, Any]:
        customer = _visible(session, customer_id)
        old_ref = customer.customer_ref
        customer.customer_ref = f"erased-{secrets.token_hex(6)}"
        customer.name_enc = customer.email_enc = customer.phone_enc = None
        customer.email_bidx = customer.phone_bidx = None
        customer.preferred_categories = None
        customer.erased_at = customer.erased_at or utcnow()
        session.execute(delete(CustomerAddress).where(CustomerAddress.customer_id == customer_id))
        session.execute(delete(CustomerConsent).where(CustomerConsent.customer_id == customer_id))
        session.execute(delete(Communication).where(Communication.customer_id == customer_id))
        ticket_ids = select(Ticket.id).where(Ticket.customer_id == customer_id)
        session.execute(update(TicketMessage).where(TicketMessage.ticket_id.in_(ticket_ids))
                        .values(body=ERASED, author=ERASED))
        session.execute(update(Ticket).where(Ticket.customer_id == customer_id).values(subject=ERASED))
        session.execute(update(Review).where(Review.customer_id == customer_id).values(text=None))
        session.execute(update(SurveyResponse).where(SurveyResponse.customer_id == customer_id).values(comment=None))
        # Refused requests kept for inspection may name the person's channel reference.
        if not old_ref.startswith("erased-"):
            needle = json.dumps(old_ref)
            session.execute(delete(RejectedRequest).where(or_(
                RejectedRequest.payload.contains(f'"customer_ref": {needle}'),
                RejectedRequest.reference == old_ref)))
        audit.record(session, "pii.erase", target_type="customer", target_id=customer_id)
        return {"customer_id": customer_id, "erased": True, "customer_ref": customer.customer_ref,
                "orders_kept": session.query(Order).filter(Order.customer_id == customer_id).count()}

    result = store.run_write(work)
    _purge_old_row_versions(store)
    return result


def _purge_old_row_versions(store: Store) -> None:
    """PostgreSQL keeps old row versions until VACUUM: erasure must not leave them on disk.
    (SQLite runs with secure_delete, which zeroes freed content.)"""
    if not store.is_postgres:
        return
    tables = ("customers", "customer_addresses", "customer_consents", "communications", "ticket_messages",
              "tickets", "reviews", "survey_responses", "rejected_requests")
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM " + ", ".join(tables))
