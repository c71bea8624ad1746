"""Coupons applied to orders.

Coupons are checked and redeemed inside the order's unit of work with the coupon row locked, so
their limits hold under concurrent orders; the order records the coupon and its campaign
(attribution). See docs/loyalty-and-marketing.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ops_store.db import Store
from ops_store.errors import AlreadyExists, InvalidInput, NotFound
from ops_store.models import Campaign, Coupon, CouponRedemption, Merchant, Order
from ops_store.security.access import require
from ops_store.services.campaigns import CENT, _campaign_for, _code, _date, _exists, _merchant
from ops_store.services.common import parse_decimal, parse_positive_int
from ops_store.types import utcnow

COUPON_KINDS = ("percent", "fixed", "free_shipping")


def _optional_limit(value: Any, field: str) -> int | None:
    return None if value is None else parse_positive_int(value, field)


def create_coupon(
    store: Store, code: str, *, kind: str, value: Any = "0", valid_from: Any, valid_to: Any,
    campaign: str | None = None, merchant: str | None = None, min_spend: Any = "0", max_uses: Any = None,
    max_uses_per_customer: Any = None,
) -> dict[str, Any]:
    """A coupon code (case-insensitive, kept upper case): ``percent`` (value 10.00 = 10% off the
    goods), ``fixed`` (an amount off the goods) or ``free_shipping``. A campaign's coupon belongs to
    the campaign's merchant, if it has one."""
    require("marketing.write")
    code = _code(code, "code", max_length=40)
    if kind not in COUPON_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(COUPON_KINDS)}", field="kind")
    amount = parse_decimal(value, "value")
    if kind == "percent" and not (0 < amount <= 100):
        raise InvalidInput("a percent coupon's value is between 0 and 100 (10.00 = 10% off)", field="value")
    if kind == "fixed" and amount <= 0:
        raise InvalidInput("a fixed coupon's value must be positive", field="value")
    if kind == "free_shipping":
        amount = Decimal("0.00")
    start, end = _date(valid_from, "valid_from"), _date(valid_to, "valid_to")
    if end < start:
        raise InvalidInput("valid_to must not be before valid_from", field="valid_to")
    floor = parse_decimal(min_spend, "min_spend")
    uses, per_customer = _optional_limit(max_uses, "max_uses"), _optional_limit(max_uses_per_customer,
                                                                                 "max_uses_per_customer")

    def work(session: Session) -> None:
        owner = _merchant(session, merchant, "marketing.write")
        campaign_row = _campaign_for(session, campaign, "marketing.write") if campaign else None
        if campaign_row is not None and campaign_row.merchant_id is not None:
            if owner is not None and owner.id != campaign_row.merchant_id:
                raise InvalidInput(f"campaign {campaign_row.code} belongs to another merchant", field="merchant")
            owner_id: int | None = campaign_row.merchant_id
        else:
            owner_id = owner.id if owner else None
        if session.scalar(select(Coupon.id).where(Coupon.code == code)) is not None:
            raise AlreadyExists(f"coupon {code!r} already exists", field="code")
        session.add(Coupon(
            code=code, campaign_id=campaign_row.id if campaign_row else None, merchant_id=owner_id, kind=kind,
            value=amount, min_spend=floor, valid_from=start, valid_to=end, max_uses=uses,
            max_uses_per_customer=per_customer, uses=0, active=True,
        ))

    try:
        store.run_write(work)
    except IntegrityError:
        if not _exists(store, Coupon, code):
            raise
        raise AlreadyExists(f"coupon {code!r} already exists", field="code") from None
    return coupon_view(store, code)


def coupon_view(store: Store, code: str) -> dict[str, Any]:
    require("marketing.read")
    with store.read() as session:
        coupon = session.scalar(select(Coupon).where(Coupon.code == str(code).strip().upper()))
        if coupon is None:
            raise NotFound(f"coupon {code!r} does not exist", field="coupon")
        require("marketing.read", merchant_id=coupon.merchant_id)
        campaign = session.get(Campaign, coupon.campaign_id) if coupon.campaign_id else None
        merchant = session.get(Merchant, coupon.merchant_id) if coupon.merchant_id else None
        redeemed = session.execute(select(func.count(), func.count(func.distinct(CouponRedemption.customer_id)))
                                   .where(CouponRedemption.coupon_id == coupon.id)).one()
        discounts = session.scalars(select(CouponRedemption.discount).where(CouponRedemption.coupon_id == coupon.id))
        return {
            "code": coupon.code, "kind": coupon.kind, "value": coupon.value, "min_spend": coupon.min_spend,
            "campaign": campaign.code if campaign else None, "merchant": merchant.code if merchant else None,
            "valid_from": coupon.valid_from, "valid_to": coupon.valid_to, "active": coupon.active,
            "max_uses": coupon.max_uses, "max_uses_per_customer": coupon.max_uses_per_customer,
            "uses": coupon.uses, "redemptions": redeemed[0], "customers": redeemed[1],
            "discount_given": sum(discounts, Decimal("0.00")),
        }


# --------------------------------------------------------------------------- inside the order's unit of work


@dataclass(frozen=True)
class CouponQuote:
    coupon_id: int
    campaign_id: int | None
    discount: Decimal  # off the goods
    free_shipping: bool


def _refuse(reason: str, message: str, **details: Any) -> InvalidInput:
    return InvalidInput(f"coupon: {message}", field="coupon", details={"reason": reason, **details})


def quote_coupon(
    session: Session, code: str, *, merchant_id: int, customer_id: int, subtotal: Decimal, payable: Decimal,
    on: date,
) -> CouponQuote:
    """Lock the coupon row and check it for this order: active, valid on ``on``, the merchant's,
    ``subtotal`` (goods before discounts) at least the minimum spend, uses left overall and for the
    customer. The discount applies to ``payable`` (the goods after the channel's discount)."""
    coupon = session.scalar(
        select(Coupon).where(Coupon.code == code.strip().upper()).with_for_update()
        .execution_options(populate_existing=True)
    )
    if coupon is None:
        raise NotFound(f"coupon: {code!r} does not exist", field="coupon", details={"reason": "unknown"})
    if not coupon.active:
        raise _refuse("inactive", f"{coupon.code} is no longer active")
    if on < coupon.valid_from:
        raise _refuse("not_yet_valid", f"{coupon.code} is valid from {coupon.valid_from.isoformat()}",
                      valid_from=coupon.valid_from.isoformat())
    if on > coupon.valid_to:
        raise _refuse("expired", f"{coupon.code} expired on {coupon.valid_to.isoformat()}",
                      valid_to=coupon.valid_to.isoformat())
    if coupon.merchant_id is not None and coupon.merchant_id != merchant_id:
        raise _refuse("merchant_mismatch", f"{coupon.code} is not valid for this merchant")
    if subtotal < coupon.min_spend:
        raise _refuse("min_spend", f"{coupon.code} needs a minimum spend of {coupon.min_spend}; the goods come to "
                      f"{subtotal}", min_spend=str(coupon.min_spend))
    if coupon.max_uses is not None and coupon.uses >= coupon.max_uses:
        raise _refuse("used_up", f"{coupon.code} has been used its {coupon.max_uses} time(s)")
    if coupon.max_uses_per_customer is not None:
        used = session.scalar(select(func.count()).select_from(CouponRedemption).where(
            CouponRedemption.coupon_id == coupon.id, CouponRedemption.customer_id == customer_id))
        if used >= coupon.max_uses_per_customer:
            raise _refuse("customer_limit", f"{coupon.code} can be used {coupon.max_uses_per_customer} time(s) "
                          "per customer and this customer has used it up")
    if coupon.kind == "percent":
        discount = (payable * coupon.value / 100).quantize(CENT, rounding=ROUND_HALF_UP)
    elif coupon.kind == "fixed":
        discount = coupon.value
    else:
        discount = Decimal("0.00")
    return CouponQuote(coupon.id, coupon.campaign_id, min(discount, payable), coupon.kind == "free_shipping")


def redeem_coupon(session: Session, quote: CouponQuote, order: Order, *, value: Decimal) -> None:
    """Record the use on the order (``value``: the discount or the shipping waived); the coupon row
    is still locked from ``quote_coupon``."""
    coupon = session.get(Coupon, quote.coupon_id)
    assert coupon is not None
    coupon.uses += 1
    coupon.updated_at = utcnow()
    session.add(CouponRedemption(coupon_id=coupon.id, order_id=order.id, customer_id=order.customer_id,
                                 discount=value))
    session.flush()


def release_coupon(session: Session, order: Order) -> bool:
    """The order was cancelled: its coupon use is given back (the redemption row goes; the order
    keeps coupon_id and campaign_id for the record)."""
    if order.coupon_id is None:
        return False
    coupon = session.scalar(select(Coupon).where(Coupon.id == order.coupon_id).with_for_update()
                            .execution_options(populate_existing=True))
    redemption = session.scalar(select(CouponRedemption).where(CouponRedemption.order_id == order.id))
    if coupon is None or redemption is None:
        return False
    session.delete(redemption)
    coupon.uses -= 1
    coupon.updated_at = utcnow()
    session.flush()
    return True
