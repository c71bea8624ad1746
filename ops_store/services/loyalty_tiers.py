"""Loyalty tiers: trailing 12-month spend, placing customers in the tier it reaches (recorded as
tier changes), and the tier privileges read at order placement."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ops_store.db import Store
from ops_store.models import LoyaltyAccount, LoyaltyTier, Order, Payment, PaymentTransaction, TierChange
from ops_store.security.access import require
from ops_store.services.loyalty_points import _base_tier, _customer, _today, lock_account
from ops_store.types import utcnow

SPEND_WINDOW_DAYS = 365
TIER_BATCH = 500


def _tiers(session: Session) -> list[LoyaltyTier]:
    """Tiers from the highest threshold down."""
    return list(session.scalars(
        select(LoyaltyTier).order_by(LoyaltyTier.min_spend_12m.desc(), LoyaltyTier.rank.desc())
    ))


def has_free_shipping(session: Session, customer_id: int) -> bool:
    """Whether the customer's tier ships free (a tier privilege applied at placement)."""
    return bool(session.scalar(
        select(LoyaltyTier.free_shipping).join(LoyaltyAccount, LoyaltyAccount.tier == LoyaltyTier.code)
        .where(LoyaltyAccount.customer_id == customer_id)
    ))


def _window(as_of: date) -> tuple[datetime, datetime]:
    start = datetime.combine(as_of - timedelta(days=SPEND_WINDOW_DAYS - 1), time.min, tzinfo=UTC)
    return start, datetime.combine(as_of + timedelta(days=1), time.min, tzinfo=UTC)


def _order_goods(session: Session, order_ids: list[int]) -> dict[int, Decimal]:
    return {o.id: o.subtotal - o.discount for o in session.scalars(select(Order).where(Order.id.in_(order_ids)))}


def spend_12m(session: Session, customer_ids: Iterable[int], as_of: date) -> dict[int, Decimal]:
    """Net revenue (METRICS: goods - discounts - refunds; shipping and tax apart) of each customer's
    orders not cancelled placed in the 365 days up to ``as_of``. Refunds count on the day they were
    paid (in the window), each order's at most its net goods."""
    ids = sorted(set(customer_ids))
    start, end = _window(as_of)
    spend = {cid: Decimal("0.00") for cid in ids}
    for chunk in range(0, len(ids), TIER_BATCH):
        part = ids[chunk:chunk + TIER_BATCH]
        for cid, subtotal, discount in session.execute(
            select(Order.customer_id, Order.subtotal, Order.discount).where(
                Order.customer_id.in_(part), Order.status != "cancelled", Order.placed_at >= start,
                Order.placed_at < end)
        ):
            spend[cid] += subtotal - discount
        refunded: dict[int, Decimal] = {}
        owner: dict[int, int] = {}
        for order_id, cid, amount in session.execute(
            select(Order.id, Order.customer_id, PaymentTransaction.amount)
            .join(Payment, Payment.order_id == Order.id)
            .join(PaymentTransaction, PaymentTransaction.payment_id == Payment.id)
            .where(Order.customer_id.in_(part), Order.status != "cancelled", PaymentTransaction.kind == "refund",
                   PaymentTransaction.outcome == "approved", PaymentTransaction.created_at >= start,
                   PaymentTransaction.created_at < end)
        ):
            refunded[order_id] = refunded.get(order_id, Decimal("0")) + amount
            owner[order_id] = cid
        goods = _order_goods(session, list(refunded))
        for order_id, amount in refunded.items():
            spend[owner[order_id]] -= min(amount, goods[order_id])
    return spend


def _recompute(session: Session, customer_ids: list[int], as_of: date) -> list[dict[str, Any]]:
    """Set each customer's tier from their spend (accounts locked in customer order); the moves."""
    tiers = _tiers(session)
    base = _base_tier(session)
    spend = spend_12m(session, customer_ids, as_of)
    moves = []
    for cid in sorted(spend):
        account = lock_account(session, cid)
        target = next((t.code for t in tiers if spend[cid] >= t.min_spend_12m), base)
        if target != account.tier:
            session.add(TierChange(customer_id=cid, from_tier=account.tier, to_tier=target, spend_12m=spend[cid],
                                   changed_at=utcnow()))
            moves.append({"customer_id": cid, "from": account.tier, "to": target, "spend_12m": spend[cid]})
            account.tier = target
            account.updated_at = utcnow()
    session.flush()
    return moves


def recompute_tier(store: Store, customer_id: int, as_of: date | None = None) -> dict[str, Any]:
    """Place the customer in the tier their trailing 12-month spend reaches; a move is recorded."""
    require("loyalty.write")
    day = as_of or _today()

    def work(session: Session) -> dict[str, Any]:
        _customer(session, customer_id)
        before = lock_account(session, customer_id).tier
        moves = _recompute(session, [customer_id], day)
        account = lock_account(session, customer_id)
        return {"customer_id": customer_id, "as_of": day,
                "spend_12m": spend_12m(session, [customer_id], day)[customer_id],
                "from": before, "tier": account.tier, "changed": bool(moves)}

    return store.run_write(work)


def recompute_tiers(store: Store, as_of: date | None = None) -> dict[str, Any]:
    """Recompute every customer with an order or a loyalty account, in batches (one unit of work each)."""
    require("loyalty.write")
    day = as_of or _today()
    with store.read() as session:
        ids = sorted(set(session.scalars(select(Order.customer_id).distinct()))
                     | set(session.scalars(select(LoyaltyAccount.customer_id))))
    moves: list[dict[str, Any]] = []
    for chunk in range(0, len(ids), TIER_BATCH):
        part = ids[chunk:chunk + TIER_BATCH]
        moves.extend(store.run_write(lambda s, p=part: _recompute(s, p, day)))
    with store.read() as session:
        ranks = dict(session.execute(select(LoyaltyTier.code, LoyaltyTier.rank)).all())
    ups = sum(1 for m in moves if ranks.get(m["to"], 0) > ranks.get(m["from"], 0))
    return {"as_of": day, "customers": len(ids), "changed": len(moves), "up": ups, "down": len(moves) - ups,
            "moves": moves}
