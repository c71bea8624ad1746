"""Access requests: everything the store holds about one person, as one JSON document."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ops_store.db import Store
from ops_store.models import (
    Communication,
    LoyaltyAccount,
    LoyaltyEntry,
    Order,
    Review,
    SurveyResponse,
    Ticket,
    TicketMessage,
)
from ops_store.security import access, audit
from ops_store.services.customers import _profile, _visible
from ops_store.services.orders import order_view

SECTIONS = ("profile", "orders", "communications", "tickets", "reviews", "surveys", "loyalty")


def _rows(session, model, *conditions, order_by=None) -> list[Any]:  # type: ignore[no-untyped-def]
    return list(session.scalars(select(model).where(*conditions).order_by(order_by or model.id)))


def _plain(row: Any, *skip: str) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns if c.key not in skip}


def export_customer(store: Store, customer_id: int) -> dict[str, Any]:
    """Profile (in clear), consents, orders, communications, tickets with messages, reviews,
    survey answers and loyalty. The export itself is written to the audit log."""
    access.require("pii.export")
    cipher = store.cipher

    def work(session) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        customer = _visible(session, customer_id)
        tickets = []
        for t in _rows(session, Ticket, Ticket.customer_id == customer_id):
            messages = _rows(session, TicketMessage, TicketMessage.ticket_id == t.id)
            tickets.append({**_plain(t), "messages": [_plain(m) for m in messages]})
        account = session.get(LoyaltyAccount, customer_id)
        document = {
            "export_format": "ecom.customer-export.v1",
            "profile": _profile(session, cipher, customer, clear=True),
            "orders": [order_view(session, o) for o in _rows(session, Order, Order.customer_id == customer_id)],
            "communications": [
                _plain(c) for c in _rows(session, Communication, Communication.customer_id == customer_id)
            ],
            "tickets": tickets,
            "reviews": [_plain(r) for r in _rows(session, Review, Review.customer_id == customer_id)],
            "surveys": [_plain(s) for s in _rows(session, SurveyResponse, SurveyResponse.customer_id == customer_id)],
            "loyalty": {
                "balance": account.balance if account else 0,
                "tier": account.tier if account else None,
                "entries": [_plain(e) for e in _rows(session, LoyaltyEntry, LoyaltyEntry.customer_id == customer_id)],
            },
        }
        audit.record(session, "pii.export", target_type="customer", target_id=customer_id)
        return document

    return store.run_write(work)
