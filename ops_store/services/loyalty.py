"""Loyalty: the points ledger (earn, redeem, expire, reverse, adjust), balances and member tiers.

Every change of a customer's points is a ``loyalty_entries`` row and moves
``loyalty_accounts.balance`` by the same amount, with the account row locked, so the balance is
always the ledger sum and never negative (the CHECK constraint backs it). Positive entries are
*lots* that keep ``remaining`` and an expiry date; anything that takes points out (a redemption,
expiry, a reversal, a negative adjustment) consumes lots first-expiring first (oldest first) and
posts one entry per lot it took from, carrying that lot's expiry, so points given back later
keep the expiry they had. Hence also: balance == sum of ``remaining`` over the lots.

The ``*_for_order`` functions run inside the orders' and returns' units of work (locks: order,
payment, stock, then the loyalty account, then the coupon). See docs/loyalty-and-marketing.md.

Layout: ``loyalty_points`` (the ledger internals: accounts, lots, posting and consuming entries),
``loyalty_orders`` (the hooks in the orders' and returns' units of work), ``loyalty_tiers``
(12-month spend and tier recompute); this module is the public face and re-exports their public
names, and holds the account view, manual adjustments, the expiry run and the ledger check.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ops_store.db import Store
from ops_store.errors import InvalidInput
from ops_store.models import LoyaltyAccount, LoyaltyEntry, LoyaltyTier, TierChange
from ops_store.security import audit
from ops_store.security.access import current, require
from ops_store.services.loyalty_orders import (
    Redemption,
    earn_for_order,
    give_back_for_cancel,
    quote_redemption,
    redeem_for_order,
    reverse_for_return,
)
from ops_store.services.loyalty_points import (
    CENT,
    PROGRAMME_ID,
    _consume,
    _customer,
    _expire_account,
    _lots,
    _post,
    _today,
    lock_account,
    programme,
)
from ops_store.services.loyalty_tiers import (
    SPEND_WINDOW_DAYS,
    TIER_BATCH,
    has_free_shipping,
    recompute_tier,
    recompute_tiers,
    spend_12m,
)

__all__ = [
    "CENT", "ENTRY_LIMIT", "PROGRAMME_ID", "SPEND_WINDOW_DAYS", "TIER_BATCH", "Redemption", "account_view",
    "adjust_points", "earn_for_order", "expire_points", "give_back_for_cancel", "has_free_shipping",
    "ledger_mismatches", "lock_account", "programme", "quote_redemption", "recompute_tier", "recompute_tiers",
    "redeem_for_order", "reverse_for_return", "spend_12m",
]

ENTRY_LIMIT = 200


def _actor(actor: str | None) -> str:
    return (actor or current().name)[:100]


# --------------------------------------------------------------------------- reads and manual operations


def _entry_view(e: LoyaltyEntry) -> dict[str, Any]:
    return {"entry_id": e.id, "at": e.created_at, "kind": e.kind, "points": e.points,
            "remaining": e.remaining if e.points > 0 else None, "order_id": e.order_id, "expires_on": e.expires_on,
            "note": e.note, "actor": e.actor}


def account_view(store: Store, customer_id: int, *, limit: int = ENTRY_LIMIT) -> dict[str, Any]:
    """Balance, tier (with its privileges), points by expiry date, the latest entries and tier moves."""
    require("loyalty.read")
    with store.read() as session:
        customer = _customer(session, customer_id)
        rules = programme(session)
        account = session.get(LoyaltyAccount, customer_id)
        tier = session.get(LoyaltyTier, account.tier) if account and account.tier else None
        lots = _lots(session, customer_id)
        entries = session.scalars(select(LoyaltyEntry).where(LoyaltyEntry.customer_id == customer_id)
                                  .order_by(LoyaltyEntry.id.desc()).limit(limit))
        changes = session.scalars(select(TierChange).where(TierChange.customer_id == customer_id)
                                  .order_by(TierChange.id.desc()))
        balance = account.balance if account else 0
        expiring: dict[date | None, int] = {}
        for lot in lots:
            expiring[lot.expires_on] = expiring.get(lot.expires_on, 0) + lot.remaining
        return {
            "customer_id": customer.id, "customer_ref": customer.customer_ref, "balance": balance,
            "value": (balance * rules.point_value).quantize(CENT, rounding=ROUND_DOWN),
            "tier": tier.code if tier else None,
            "points_multiplier": tier.points_multiplier if tier else Decimal("1"),
            "free_shipping": bool(tier and tier.free_shipping),
            "expiring": [{"expires_on": d, "points": p} for d, p in expiring.items()],
            "entries": [_entry_view(e) for e in entries],
            "tier_changes": [{"at": c.changed_at, "from": c.from_tier, "to": c.to_tier, "spend_12m": c.spend_12m}
                             for c in changes],
        }


def adjust_points(
    store: Store, customer_id: int, points: Any, *, reason: str, expires_on: date | None = None,
    actor: str | None = None,
) -> dict[str, Any]:
    """A manual correction or goodwill gesture (audited). Positive: a new lot, expiring after the
    programme's expiry days unless ``expires_on`` is given. Negative: taken first-expiring first,
    never more than the balance."""
    require("loyalty.write")
    if isinstance(points, bool) or not isinstance(points, int):
        try:
            points = int(str(points))
        except ValueError:
            raise InvalidInput("points must be a whole number", field="points") from None
    if points == 0:
        raise InvalidInput("points must not be zero", field="points")
    if not (reason or "").strip():
        raise InvalidInput("an adjustment needs a reason", field="reason")
    if expires_on is not None and (points < 0 or expires_on <= _today()):
        raise InvalidInput("expires_on is for added points and must be after today", field="expires_on")
    who = _actor(actor)

    def work(session: Session) -> None:
        _customer(session, customer_id)
        account = lock_account(session, customer_id)
        _expire_account(session, account, _today(), who)
        if points > 0:
            until = expires_on or _today() + timedelta(days=programme(session).expiry_days)
            posted = [_post(session, account, "adjust", points, actor=who, expires_on=until, note=reason.strip())]
        else:
            posted = _consume(session, account, -points, "adjust", actor=who, note=reason.strip())
        audit.record(session, "loyalty.adjust", target_type="customer", target_id=customer_id, actor=who,
                     details={"points": points, "reason": reason.strip(), "entry_ids": [e.id for e in posted],
                              "balance": account.balance})

    store.run_write(work)
    return account_view(store, customer_id)


def expire_points(store: Store, as_of: date | None = None, *, actor: str | None = None) -> dict[str, Any]:
    """Post expire entries for every lot whose expiry date is on or before ``as_of`` (default
    today), one customer per unit of work (the account locked)."""
    require("loyalty.write")
    day = as_of or _today()
    who = _actor(actor)
    with store.read() as session:
        customers = list(session.scalars(
            select(LoyaltyEntry.customer_id).where(LoyaltyEntry.points > 0, LoyaltyEntry.remaining > 0,
                                                   LoyaltyEntry.expires_on <= day)
            .distinct().order_by(LoyaltyEntry.customer_id)
        ))
    total = 0
    touched = 0
    for customer_id in customers:
        expired = store.run_write(lambda s, c=customer_id: _expire_account(s, lock_account(s, c), day, who))
        total += expired
        touched += 1 if expired else 0
    return {"as_of": day, "accounts": touched, "points_expired": total}


# --------------------------------------------------------------------------- checks


def ledger_mismatches(store: Store) -> list[dict[str, Any]]:
    """Accounts whose balance differs from the sum of their entries or of their lots' remaining
    points (empty when the books are right)."""
    require("loyalty.read")
    with store.read() as session:
        sums: dict[int, int] = {}
        lots: dict[int, int] = {}
        for e in session.scalars(select(LoyaltyEntry)):
            sums[e.customer_id] = sums.get(e.customer_id, 0) + e.points
            if e.points > 0:
                lots[e.customer_id] = lots.get(e.customer_id, 0) + e.remaining
        accounts = {a.customer_id: a.balance for a in session.scalars(select(LoyaltyAccount))}
    bad = []
    for cid in sorted(set(sums) | set(accounts)):
        balance = accounts.get(cid, 0)
        if not balance == sums.get(cid, 0) == lots.get(cid, 0):
            bad.append({"customer_id": cid, "balance": balance, "ledger": sums.get(cid, 0),
                        "lots": lots.get(cid, 0)})
    return bad
