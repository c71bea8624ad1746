"""Marketing campaigns with a held-out control group.

A campaign's audience is split at random, reproducibly (a seed), into a target group that may
be contacted and a control group that never is, so uplift can be measured (METRICS: campaign
uplift). The input checks and the merchant check here are shared with
``ops_store.services.coupons``. See docs/loyalty-and-marketing.md.
"""

from __future__ import annotations

import random
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ops_store.db import Store
from ops_store.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from ops_store.models import Campaign, CampaignMember, Coupon, CouponRedemption, Customer, Merchant, Order
from ops_store.security.access import PermissionDenied, merchant_scope, require
from ops_store.services.common import merchant_by_code, parse_decimal, parse_positive_int
from ops_store.types import utcnow

CHANNELS = ("email", "sms", "push", "ads", "social")
CENT = Decimal("0.01")


# --------------------------------------------------------------------------- input helpers


def _date(value: Any, field: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise InvalidInput(f"{field} must be a date YYYY-MM-DD", field=field) from None


def _code(value: Any, field: str, *, max_length: int) -> str:
    text = str(value or "").strip().upper()
    if not text or len(text) > max_length or any(c.isspace() for c in text):
        raise InvalidInput(f"{field} must be 1-{max_length} characters without spaces", field=field)
    return text


def _exists(store: Store, model: Any, code: str) -> bool:
    """After an IntegrityError: did a concurrent writer create this code (else it was another constraint)?"""
    with store.read() as session:
        return session.scalar(select(model.id).where(model.code == code)) is not None


def _merchant(session: Session, code: str | None, permission: str) -> Merchant | None:
    """The merchant named (if any), after checking the caller may act for it. A caller bound to a
    merchant may not write programme-wide (merchant-less) campaigns or coupons."""
    merchant = merchant_by_code(session, code) if code else None
    require(permission, merchant_id=merchant.id if merchant else None)
    if merchant is None and merchant_scope() is not None and permission.endswith(".write"):
        raise PermissionDenied("a merchant account may only create campaigns and coupons for its own merchant",
                               field="merchant")
    return merchant


def _campaign(session: Session, code: str, *, lock: bool = False) -> Campaign:
    query = select(Campaign).where(Campaign.code == str(code).strip().upper())
    if lock:
        query = query.with_for_update()
    campaign = session.scalar(query)
    if campaign is None:
        raise NotFound(f"campaign {code!r} does not exist", field="campaign")
    return campaign


def _campaign_for(session: Session, code: str, permission: str, *, lock: bool = False) -> Campaign:
    campaign = _campaign(session, code, lock=lock)
    require(permission, merchant_id=campaign.merchant_id)
    if permission.endswith(".write") and campaign.merchant_id is None and merchant_scope() is not None:
        raise PermissionDenied("this campaign is programme-wide; a merchant account may not change it",
                               field="campaign")
    return campaign


# --------------------------------------------------------------------------- campaigns


def create_campaign(
    store: Store, code: str, name: str, *, channel: str, starts_on: Any, ends_on: Any, budget: Any,
    merchant: str | None = None, target_segment: str | None = None, control_share: Any = "0.1",
) -> dict[str, Any]:
    require("marketing.write")
    code = _code(code, "code", max_length=32)
    if not (name or "").strip():
        raise InvalidInput("a campaign needs a name", field="name")
    if channel not in CHANNELS:
        raise InvalidInput(f"channel must be one of {', '.join(CHANNELS)}", field="channel")
    start, end = _date(starts_on, "starts_on"), _date(ends_on, "ends_on")
    if end < start:
        raise InvalidInput("ends_on must not be before starts_on", field="ends_on")
    amount = parse_decimal(budget, "budget")
    share = parse_decimal(control_share, "control_share", places=3)
    if share >= 1:
        raise InvalidInput("control_share must be at least 0 and below 1 (0.1 = 10% held out)",
                           field="control_share")

    def work(session: Session) -> None:
        owner = _merchant(session, merchant, "marketing.write")
        if session.scalar(select(Campaign.id).where(Campaign.code == code)) is not None:
            raise AlreadyExists(f"campaign {code!r} already exists", field="code")
        session.add(Campaign(
            code=code, name=name.strip()[:200], merchant_id=owner.id if owner else None, channel=channel,
            starts_on=start, ends_on=end, budget=amount, spend=Decimal("0"),
            target_segment=(target_segment or "").strip()[:50] or None, control_share=share,
        ))

    try:
        store.run_write(work)
    except IntegrityError:
        if not _exists(store, Campaign, code):
            raise
        raise AlreadyExists(f"campaign {code!r} already exists", field="code") from None
    return campaign_view(store, code)


def record_spend(store: Store, campaign: str, amount: Any) -> dict[str, Any]:
    """Add spend (media, sends) to the campaign. Overspend is recorded as it happened and flagged."""
    require("marketing.write")
    value = parse_decimal(amount, "amount")
    if value <= 0:
        raise InvalidInput("spend must be positive", field="amount")

    def work(session: Session) -> None:
        row = _campaign_for(session, campaign, "marketing.write", lock=True)
        row.spend += value
        row.updated_at = utcnow()

    store.run_write(work)
    return campaign_view(store, campaign)


def _split(customer_ids: list[int], share: Decimal, seed: int) -> tuple[list[int], list[int]]:
    """Shuffle (seeded) and hold out round(n x share) customers as control; the rest are targets."""
    ids = sorted(customer_ids)
    random.Random(seed).shuffle(ids)
    n_control = int((len(ids) * share).to_integral_value(rounding=ROUND_HALF_UP))
    return sorted(ids[n_control:]), sorted(ids[:n_control])


def assign_audience(store: Store, campaign: str, customer_ids: list[Any], seed: int) -> dict[str, Any]:
    """Split customers into target and control by the campaign's control share, at random but
    reproducibly (the same customers and seed give the same groups). Customers already assigned
    keep their group; only the new ones are split."""
    require("marketing.write")
    ids = sorted({parse_positive_int(c, "customer_ids") for c in customer_ids})
    if not ids:
        raise InvalidInput("give at least one customer", field="customer_ids")

    def work(session: Session) -> dict[str, Any]:
        row = _campaign_for(session, campaign, "marketing.write", lock=True)
        known = set(session.scalars(select(Customer.id).where(Customer.id.in_(ids))))
        missing = [c for c in ids if c not in known]
        if missing:
            raise NotFound(f"customer(s) {', '.join(map(str, missing[:10]))} do not exist", field="customer_ids",
                           details={"missing": missing})
        already = set(session.scalars(select(CampaignMember.customer_id).where(
            CampaignMember.campaign_id == row.id, CampaignMember.customer_id.in_(ids))))
        new = [c for c in ids if c not in already]
        target, control = _split(new, row.control_share, seed)
        for grp, members in (("target", target), ("control", control)):
            session.add_all(CampaignMember(campaign_id=row.id, customer_id=c, grp=grp) for c in members)
        session.flush()
        return {"campaign": row.code, "seed": seed, "assigned": len(new), "target": len(target),
                "control": len(control), "already_assigned": len(already)}

    return store.run_write(work)


def mark_contacted(
    store: Store, campaign: str, customer_ids: list[Any], *, at: datetime | None = None,
) -> dict[str, Any]:
    """Record that target members were contacted. Control members are never contacted: a call
    naming any of them is refused as a whole."""
    require("marketing.write")
    ids = sorted({parse_positive_int(c, "customer_ids") for c in customer_ids})
    if not ids:
        raise InvalidInput("give at least one customer", field="customer_ids")
    when = at or utcnow()

    def work(session: Session) -> dict[str, Any]:
        row = _campaign_for(session, campaign, "marketing.write", lock=True)
        members = {m.customer_id: m for m in session.scalars(select(CampaignMember).where(
            CampaignMember.campaign_id == row.id, CampaignMember.customer_id.in_(ids)))}
        missing = [c for c in ids if c not in members]
        if missing:
            raise NotFound(f"customer(s) {', '.join(map(str, missing[:10]))} are not in campaign {row.code}'s "
                           "audience; assign them first", field="customer_ids", details={"missing": missing})
        control = [c for c in ids if members[c].grp == "control"]
        if control:
            raise Conflict(f"customer(s) {', '.join(map(str, control[:10]))} are in the control group of "
                           f"campaign {row.code} and must never be contacted", field="customer_ids",
                           details={"control": control})
        fresh = [members[c] for c in ids if members[c].contacted_at is None]
        for m in fresh:
            m.contacted_at = when
        return {"campaign": row.code, "contacted": len(fresh), "already_contacted": len(ids) - len(fresh)}

    return store.run_write(work)


def campaign_view(store: Store, campaign: str) -> dict[str, Any]:
    """The campaign with its audience (target, control, contacted), coupons, redemptions and the
    orders attributed to it (not cancelled)."""
    require("marketing.read")
    with store.read() as session:
        row = _campaign_for(session, campaign, "marketing.read")
        merchant = session.get(Merchant, row.merchant_id) if row.merchant_id else None
        groups = dict(session.execute(
            select(CampaignMember.grp, func.count()).where(CampaignMember.campaign_id == row.id)
            .group_by(CampaignMember.grp)).all())
        contacted = session.scalar(select(func.count()).select_from(CampaignMember).where(
            CampaignMember.campaign_id == row.id, CampaignMember.contacted_at.is_not(None)))
        coupons = list(session.scalars(select(Coupon.code).where(Coupon.campaign_id == row.id).order_by(Coupon.code)))
        redemptions = session.scalar(
            select(func.count()).select_from(CouponRedemption).join(Coupon, Coupon.id == CouponRedemption.coupon_id)
            .where(Coupon.campaign_id == row.id))
        attributed = list(session.execute(select(Order.subtotal, Order.discount).where(
            Order.campaign_id == row.id, Order.status != "cancelled")))
        revenue = sum((s - d for s, d in attributed), Decimal("0.00"))
        return {
            "code": row.code, "name": row.name, "merchant": merchant.code if merchant else None,
            "channel": row.channel, "starts_on": row.starts_on, "ends_on": row.ends_on,
            "target_segment": row.target_segment, "control_share": row.control_share, "budget": row.budget,
            "spend": row.spend, "over_budget": row.spend > row.budget,
            "members": {"target": groups.get("target", 0), "control": groups.get("control", 0),
                        "contacted": contacted},
            "coupons": coupons, "redemptions": redemptions, "attributed_orders": len(attributed),
            "attributed_revenue": revenue,
            "roas": (revenue / row.spend).quantize(CENT, rounding=ROUND_HALF_UP) if row.spend else None,
        }


def list_campaigns(store: Store, *, merchant: str | None = None) -> list[dict[str, Any]]:
    require("marketing.read")
    with store.read() as session:
        query = select(Campaign, Merchant.code).outerjoin(Merchant, Merchant.id == Campaign.merchant_id)
        if merchant:
            query = query.where(Merchant.code == merchant)
        scope = merchant_scope()
        if scope is not None:
            query = query.where((Campaign.merchant_id == scope) | Campaign.merchant_id.is_(None))
        return [
            {"code": c.code, "name": c.name, "merchant": m, "channel": c.channel, "starts_on": c.starts_on,
             "ends_on": c.ends_on, "budget": c.budget, "spend": c.spend}
            for c, m in session.execute(query.order_by(Campaign.starts_on.desc(), Campaign.code))
        ]
