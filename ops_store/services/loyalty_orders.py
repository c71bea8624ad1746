"""Loyalty hooks that run inside the orders' and returns' units of work (locks: order, payment,
stock, then the loyalty account): redeeming points at placement, earning them on completion,
giving them back on cancellation and reversing them on return."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ops_store.errors import InvalidInput
from ops_store.models import LoyaltyAccount, LoyaltyEntry, LoyaltyTier, Order
from ops_store.security import audit
from ops_store.services.loyalty_points import (
    CENT,
    _consume,
    _expire_account,
    _post,
    _today,
    lock_account,
    programme,
)


@dataclass(frozen=True)
class Redemption:
    points: int
    value: Decimal


def quote_redemption(session: Session, customer_id: int, points: int, *, limit: Decimal, actor: str) -> Redemption:
    """At placement, before totals: lock the account, expire stale lots, check the balance and the
    limit (the goods subtotal left after the coupon). The points are taken by ``redeem_for_order``
    once the order row exists, in the same unit of work (the account stays locked)."""
    rules = programme(session)
    account = lock_account(session, customer_id)
    _expire_account(session, account, _today(), actor)
    if points > account.balance:
        raise InvalidInput(f"points: only {account.balance} points are available; {points} requested",
                           field="points", details={"balance": account.balance, "requested": points})
    value = (points * rules.point_value).quantize(CENT, rounding=ROUND_DOWN)
    if value > limit:
        most = int((limit / rules.point_value).to_integral_value(rounding=ROUND_DOWN))
        raise InvalidInput(f"points: {points} points are worth {value}, more than the {limit} of goods left to pay; "
                           f"at most {most} points can be redeemed on this order", field="points",
                           details={"max_points": most, "value": value, "limit": limit})
    return Redemption(points, value)


def redeem_for_order(session: Session, order: Order, *, actor: str) -> None:
    if order.points_redeemed:
        account = lock_account(session, order.customer_id)
        _consume(session, account, order.points_redeemed, "redeem", actor=actor, order_id=order.id,
                 note=f"order {order.id}")


def earn_for_order(session: Session, order: Order, *, actor: str, on: date | None = None) -> int:
    """When an order becomes completed: floor(net paid goods x points per unit x tier multiplier),
    a lot that expires ``expiry_days`` later. Once per order."""
    if session.scalar(select(LoyaltyEntry.id).where(LoyaltyEntry.order_id == order.id, LoyaltyEntry.kind == "earn")):
        return 0
    rules = programme(session)
    account = lock_account(session, order.customer_id)
    multiplier = Decimal("1")
    if account.tier is not None:
        tier = session.get(LoyaltyTier, account.tier)
        multiplier = tier.points_multiplier if tier is not None else multiplier
    net_goods = order.subtotal - order.discount
    points = int((net_goods * rules.points_per_unit * multiplier).to_integral_value(rounding=ROUND_DOWN))
    if points <= 0:
        return 0
    day = on or _today()
    _post(session, account, "earn", points, actor=actor, order_id=order.id,
          expires_on=day + timedelta(days=rules.expiry_days),
          note=f"order {order.id}: {net_goods} x {rules.points_per_unit} x {multiplier} ({account.tier or 'no tier'})")
    return points


def _give_back(session: Session, account: LoyaltyAccount, order: Order, *, keep: int, why: str, actor: str) -> int:
    """Restore the points the order redeemed as lots with their old expiry, less ``keep`` points
    (held back, first-expiring first). Returns the points restored."""
    redeemed = list(session.scalars(
        select(LoyaltyEntry).where(LoyaltyEntry.order_id == order.id, LoyaltyEntry.kind == "redeem")
        .order_by(LoyaltyEntry.expires_on.is_(None), LoyaltyEntry.expires_on, LoyaltyEntry.id)
    ))
    restored = 0
    for entry in redeemed:
        amount = -entry.points
        held = min(keep, amount)
        keep -= held
        if amount - held:
            _post(session, account, "reverse", amount - held, actor=actor, order_id=order.id,
                  expires_on=entry.expires_on, note=f"points redeemed on order {order.id} given back: {why}")
            restored += amount - held
    _expire_account(session, account, _today(), actor)  # a restored lot may be past its date already
    return restored


def give_back_for_cancel(session: Session, order: Order, *, actor: str) -> int:
    """The order was cancelled: the points it redeemed come back (as the lots they came from)."""
    if not order.points_redeemed:
        return 0
    account = lock_account(session, order.customer_id)
    return _give_back(session, account, order, keep=0, why="order cancelled", actor=actor)


def reverse_for_return(session: Session, order: Order, *, actor: str) -> dict[str, int]:
    """The order came back: take back what remains of the points it earned. Points of that earn
    already spent cannot be taken (the balance never goes negative): they are first kept from the
    points the order redeemed (which are otherwise given back, since the refund repays only the
    money paid), and whatever is still short is recorded as a clawback note and in the audit log."""
    has_earn = session.scalar(
        select(LoyaltyEntry.id).where(LoyaltyEntry.order_id == order.id, LoyaltyEntry.kind == "earn")
    )
    if has_earn is None and not order.points_redeemed:
        return {"reversed": 0, "given_back": 0, "clawback": 0}
    account = lock_account(session, order.customer_id)
    _expire_account(session, account, _today(), actor)  # what has expired is gone, not clawed back
    earn = session.get(LoyaltyEntry, has_earn, populate_existing=True) if has_earn is not None else None
    earned = earn.points if earn is not None else 0
    taken = earn.remaining if earn is not None else 0
    spent = earned - taken - _expired_from(session, earn)
    covered = min(spent, order.points_redeemed)
    clawback = spent - covered
    if earn is not None and taken:
        earn.remaining = 0
        note = f"order {order.id} returned: earned {earned}, reversed {taken}"
        if covered:
            note += f", {covered} kept from the points it redeemed"
        if clawback:
            note += f", clawback {clawback} not recoverable (already spent)"
        _post(session, account, "reverse", -taken, actor=actor, order_id=order.id, expires_on=earn.expires_on,
              note=note)
    given_back = _give_back(session, account, order, keep=covered, why="order returned", actor=actor)
    if clawback:
        audit.record(session, "loyalty.clawback", target_type="customer", target_id=order.customer_id, actor=actor,
                     details={"order_id": order.id, "earned": earned, "reversed": taken,
                              "kept_from_redeemed": covered, "not_recovered": clawback})
    return {"reversed": taken + covered, "given_back": given_back, "clawback": clawback}


def _expired_from(session: Session, earn: LoyaltyEntry | None) -> int:
    """Points of the order's earn lot that expired. Expire entries carry their lot's order; before
    a return the earn is the order's only lot (points given back come after cancel or return)."""
    if earn is None:
        return 0
    return -sum(session.scalars(select(LoyaltyEntry.points).where(
        LoyaltyEntry.order_id == earn.order_id, LoyaltyEntry.kind == "expire",
    )))
