"""The loyalty points ledger internals: the programme rules, the account rows, the lots, and
posting or consuming entries (see ``ops_store.services.loyalty`` for the rules they keep).

Every change of a customer's points is a ``loyalty_entries`` row posted by ``_post``, which
moves ``loyalty_accounts.balance`` by the same amount; callers hold the account row locked
(``lock_account``). Positive entries are lots with ``remaining`` and an expiry date; ``_consume``
and ``_expire_account`` take points out of them first-expiring first, one entry per lot.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ops_store.errors import InvalidInput, NotFound
from ops_store.models import Customer, LoyaltyAccount, LoyaltyEntry, LoyaltyProgramme, LoyaltyTier, Order
from ops_store.security.access import PermissionDenied, merchant_scope, require_own
from ops_store.services.common import upsert_into
from ops_store.types import utcnow

PROGRAMME_ID = 1
CENT = Decimal("0.01")


def _today() -> date:
    return utcnow().date()


def programme(session: Session) -> LoyaltyProgramme:
    rules = session.get(LoyaltyProgramme, PROGRAMME_ID)
    if rules is None:
        raise NotFound("the loyalty programme is not set up (run `ecom db upgrade`)", field="programme")
    return rules


def _base_tier(session: Session) -> str | None:
    return session.scalar(
        select(LoyaltyTier.code).where(LoyaltyTier.min_spend_12m <= 0).order_by(LoyaltyTier.rank).limit(1)
    )


def lock_account(session: Session, customer_id: int) -> LoyaltyAccount:
    """The customer's account row, created (in the base tier) if missing, locked FOR UPDATE."""
    now = utcnow()
    session.execute(
        upsert_into(session, LoyaltyAccount)
        .values(customer_id=customer_id, balance=0, tier=_base_tier(session), updated_at=now)
        .on_conflict_do_nothing()
    )
    account = session.scalar(
        select(LoyaltyAccount).where(LoyaltyAccount.customer_id == customer_id)
        .with_for_update().execution_options(populate_existing=True)
    )
    assert account is not None
    return account


def _customer(session: Session, customer_id: int) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id} does not exist", field="customer_id")
    require_own(customer_id, "customer", customer_id, "customer_id")
    scope = merchant_scope()
    if scope is not None and session.scalar(
        select(Order.id).where(Order.customer_id == customer_id, Order.merchant_id == scope).limit(1)
    ) is None:
        raise PermissionDenied(f"customer {customer_id} has no orders with your merchant", field="customer_id")
    return customer


def _lots(session: Session, customer_id: int) -> list[LoyaltyEntry]:
    """Lots with points left, first-expiring first (never-expiring last), then oldest first.
    Callers hold the account lock, which guards every change of these rows."""
    return list(session.scalars(
        select(LoyaltyEntry)
        .where(LoyaltyEntry.customer_id == customer_id, LoyaltyEntry.points > 0, LoyaltyEntry.remaining > 0)
        .order_by(LoyaltyEntry.expires_on.is_(None), LoyaltyEntry.expires_on, LoyaltyEntry.id)
        .execution_options(populate_existing=True)
    ))


def _post(
    session: Session, account: LoyaltyAccount, kind: str, points: int, *, actor: str, order_id: int | None = None,
    expires_on: date | None = None, note: str | None = None,
) -> LoyaltyEntry:
    """Append one entry and move the balance with it. Positive entries are lots (remaining = points)."""
    entry = LoyaltyEntry(
        customer_id=account.customer_id, kind=kind, points=points, remaining=max(points, 0), order_id=order_id,
        expires_on=expires_on, note=None if note is None else note[:200], actor=actor[:100], created_at=utcnow(),
    )
    account.balance += points
    account.updated_at = utcnow()
    session.add(entry)
    session.flush()
    return entry


def _consume(
    session: Session, account: LoyaltyAccount, points: int, kind: str, *, actor: str, order_id: int | None = None,
    note: str = "",
) -> list[LoyaltyEntry]:
    """Take ``points`` out of the lots, first-expiring first: one negative entry per lot used."""
    if points > account.balance:
        raise InvalidInput(f"only {account.balance} points are available; {points} requested", field="points",
                           details={"balance": account.balance, "requested": points})
    posted = []
    left = points
    for lot in _lots(session, account.customer_id):
        if left == 0:
            break
        take = min(left, lot.remaining)
        lot.remaining -= take
        left -= take
        posted.append(_post(session, account, kind, -take, actor=actor, order_id=order_id, expires_on=lot.expires_on,
                            note=f"{note} (lot {lot.id})".strip()))
    if left:  # the balance said yes but the lots disagree: never let the books drift
        raise AssertionError(f"loyalty lots of customer {account.customer_id} do not add up to the balance")
    return posted


def _expire_account(session: Session, account: LoyaltyAccount, as_of: date, actor: str) -> int:
    """Post an expire entry for what is left of each lot whose expiry date has come."""
    expired = 0
    for lot in _lots(session, account.customer_id):
        if lot.expires_on is None or lot.expires_on > as_of:
            continue
        left, lot.remaining = lot.remaining, 0
        expired += left
        _post(session, account, "expire", -left, actor=actor, order_id=lot.order_id, expires_on=lot.expires_on,
              note=f"lot {lot.id} expired on {lot.expires_on.isoformat()}")
    return expired
