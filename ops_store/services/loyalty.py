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
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ops_store.db import Store
from ops_store.errors import InvalidInput, NotFound
from ops_store.models import (
    Customer,
    LoyaltyAccount,
    LoyaltyEntry,
    LoyaltyProgramme,
    LoyaltyTier,
    Order,
    Payment,
    PaymentTransaction,
    TierChange,
)
from ops_store.security import audit
from ops_store.security.access import PermissionDenied, current, merchant_scope, require
from ops_store.services.ledger import _insert
from ops_store.types import utcnow

PROGRAMME_ID = 1
CENT = Decimal("0.01")
SPEND_WINDOW_DAYS = 365
TIER_BATCH = 500
ENTRY_LIMIT = 200


def _today() -> date:
    return utcnow().date()


def _actor(actor: str | None) -> str:
    return (actor or current().name)[:100]


def programme(session: Session) -> LoyaltyProgramme:
    rules = session.get(LoyaltyProgramme, PROGRAMME_ID)
    if rules is None:
        raise NotFound("the loyalty programme is not set up (run `ecom db upgrade`)", field="programme")
    return rules


def _tiers(session: Session) -> list[LoyaltyTier]:
    """Tiers from the highest threshold down."""
    return list(session.scalars(
        select(LoyaltyTier).order_by(LoyaltyTier.min_spend_12m.desc(), LoyaltyTier.rank.desc())
    ))


def _base_tier(session: Session) -> str | None:
    return session.scalar(
        select(LoyaltyTier.code).where(LoyaltyTier.min_spend_12m <= 0).order_by(LoyaltyTier.rank).limit(1)
    )


def lock_account(session: Session, customer_id: int) -> LoyaltyAccount:
    """The customer's account row, created (in the base tier) if missing, locked FOR UPDATE."""
    now = utcnow()
    session.execute(
        _insert(session, LoyaltyAccount)
        .values(customer_id=customer_id, balance=0, tier=_base_tier(session), updated_at=now)
        .on_conflict_do_nothing()
    )
    account = session.scalar(
        select(LoyaltyAccount).where(LoyaltyAccount.customer_id == customer_id)
        .with_for_update().execution_options(populate_existing=True)
    )
    assert account is not None
    return account


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


def has_free_shipping(session: Session, customer_id: int) -> bool:
    """Whether the customer's tier ships free (a tier privilege applied at placement)."""
    return bool(session.scalar(
        select(LoyaltyTier.free_shipping).join(LoyaltyAccount, LoyaltyAccount.tier == LoyaltyTier.code)
        .where(LoyaltyAccount.customer_id == customer_id)
    ))


# --------------------------------------------------------------------------- hooks in the order's unit of work


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


# --------------------------------------------------------------------------- reads and manual operations


def _customer(session: Session, customer_id: int) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id} does not exist", field="customer_id")
    scope = merchant_scope()
    if scope is not None and session.scalar(
        select(Order.id).where(Order.customer_id == customer_id, Order.merchant_id == scope).limit(1)
    ) is None:
        raise PermissionDenied(f"customer {customer_id} has no orders with your merchant", field="customer_id")
    return customer


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


# --------------------------------------------------------------------------- tiers


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
