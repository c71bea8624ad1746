"""Feedback: product reviews (with a checked verified-purchase flag) and survey answers (NPS, CSAT).

Permissions as in ``ops_store.services.tickets``: ``crm.write`` to record, ``crm.read`` to list;
a review is tied to its product's merchant, a survey answer to its order's or ticket's merchant.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from ops_store.db import Store
from ops_store.errors import AlreadyExists, InvalidInput
from ops_store.models import Customer, Merchant, Order, OrderLine, Product, Review, SurveyResponse
from ops_store.security import access
from ops_store.services.common import get_or_404, product_by_sku
from ops_store.services.crm_common import (
    authorize,
    choice,
    customer_order,
    customer_ticket,
    int_in_range,
    linked_merchant,
    live_customer,
)
from ops_store.services.crm_common import text as clean_text

# Orders whose goods reached the customer: only these make a review a verified purchase.
RECEIVED_STATUSES = ("delivered", "completed")
SCORE_RANGES: dict[str, tuple[int, int]] = {"nps": (0, 10), "csat": (1, 5)}


def _received(session: Session, customer_id: int, product_id: int) -> bool:
    """Whether the customer has a delivered or completed order containing the product."""
    found = session.scalar(
        select(Order.id).join(OrderLine, OrderLine.order_id == Order.id)
        .where(Order.customer_id == customer_id, OrderLine.product_id == product_id,
               Order.status.in_(RECEIVED_STATUSES))
        .limit(1)
    )
    return found is not None


def add_review(
    store: Store, customer_id: int, sku: str, rating: int, text: str | None = None, order_id: int | None = None,
    *, merchant: str | None = None,
) -> dict[str, Any]:
    """A customer's review of a product (one per customer and product). ``verified_purchase`` is
    worked out here: true only when the customer has a delivered or completed order with it."""
    access.require("crm.write")
    score = int_in_range(rating, "rating", 1, 5)
    body = clean_text(text, "text", 10_000, required=False)

    def work(session: Session) -> int:
        # The customer's row lock serialises two reviews from the same customer.
        live_customer(session, customer_id, lock=True)
        product = product_by_sku(session, sku, merchant)
        authorize("crm.write", product.merchant_id)
        order = customer_order(session, customer_id, order_id)
        if order is not None and session.scalar(
            select(OrderLine.id).where(OrderLine.order_id == order.id, OrderLine.product_id == product.id).limit(1)
        ) is None:
            raise InvalidInput(f"order {order.id} does not contain SKU {sku!r}", field="order_id")
        existing = session.scalar(
            select(Review.id).where(Review.customer_id == customer_id, Review.product_id == product.id)
        )
        if existing is not None:
            raise AlreadyExists(f"customer {customer_id} already reviewed SKU {sku!r} (review {existing})",
                                field="sku", details={"review_id": existing})
        review = Review(
            customer_id=customer_id, product_id=product.id, order_id=order_id, rating=score, text=body,
            verified_purchase=_received(session, customer_id, product.id),
        )
        session.add(review)
        session.flush()
        return review.id

    review_id = store.run_write(work)
    with store.read() as session:
        row = session.execute(_reviews_query().where(Review.id == review_id)).one()
        return _review_dict(*row)


def _reviews_query() -> Any:
    return (
        select(Review, Product.sku, Merchant.code, Customer.customer_ref)
        .join(Product, Product.id == Review.product_id)
        .join(Merchant, Merchant.id == Product.merchant_id)
        .join(Customer, Customer.id == Review.customer_id)
    )


def _review_dict(r: Review, sku: str, merchant: str, customer_ref: str) -> dict[str, Any]:
    return {
        "review_id": r.id, "sku": sku, "merchant": merchant, "customer_id": r.customer_id,
        "customer_ref": customer_ref, "order_id": r.order_id, "rating": r.rating, "text": r.text,
        "verified_purchase": r.verified_purchase, "created_at": r.created_at,
    }


def average(per_rating: dict[int, tuple[int, int]]) -> Decimal | None:
    """The mean rating to two decimals (half up) from {rating: (count, ...)}, None without ratings."""
    count = sum(c for c, *_ in per_rating.values())
    if not count:
        return None
    total = sum(rating * c for rating, (c, *_) in per_rating.items())
    return (Decimal(total) / count).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def list_reviews(store: Store, sku: str | None = None, *, merchant: str | None = None, limit: int = 200,
                 customer_id: int | None = None) -> dict[str, Any]:
    """Reviews (of one SKU, or all; of one customer with ``customer_id``), newest first, with the
    count, average rating and the count of each rating over every matching review. A merchant sees
    only reviews of its own products."""
    access.require("crm.read")
    scope = access.merchant_scope()
    with store.read() as session:
        query = _reviews_query()
        if sku is not None:
            query = query.where(Review.product_id == product_by_sku(session, sku, merchant).id)
        elif merchant is not None:
            query = query.where(Merchant.code == merchant)
        if customer_id is not None:
            query = query.where(Review.customer_id == customer_id)
        if scope is not None:
            query = query.where(Product.merchant_id == scope)
        per_rating = {
            rating: (int(count), int(verified or 0))
            for rating, count, verified in session.execute(
                query.with_only_columns(
                    Review.rating, func.count(Review.id), func.sum(case((Review.verified_purchase, 1), else_=0))
                ).group_by(Review.rating)
            )
        }
        rows = session.execute(query.order_by(Review.created_at.desc(), Review.id.desc()).limit(limit))
        return {
            "sku": sku, "count": sum(c for c, _ in per_rating.values()), "average_rating": average(per_rating),
            "verified_count": sum(v for _, v in per_rating.values()),
            "ratings": {str(n): per_rating.get(n, (0, 0))[0] for n in range(1, 6)},
            "reviews": [_review_dict(*row) for row in rows],
        }


def add_survey_response(
    store: Store, customer_id: int, kind: str, score: int, comment: str | None = None, order_id: int | None = None,
    ticket_id: int | None = None,
) -> dict[str, Any]:
    """A survey answer: NPS (0-10, how likely to recommend) or CSAT (1-5, how satisfied)."""
    access.require("crm.write")
    kind = choice(kind, "kind", tuple(SCORE_RANGES))
    low, high = SCORE_RANGES[kind]
    value = int_in_range(score, "score", low, high)
    note = clean_text(comment, "comment", 10_000, required=False)

    def work(session: Session) -> int:
        live_customer(session, customer_id)
        order = customer_order(session, customer_id, order_id)
        ticket = customer_ticket(session, customer_id, ticket_id)
        authorize("crm.write", linked_merchant(order, ticket))
        answer = SurveyResponse(customer_id=customer_id, kind=kind, score=value, comment=note, order_id=order_id,
                                ticket_id=ticket_id)
        session.add(answer)
        session.flush()
        return answer.id

    answer_id = store.run_write(work)
    with store.read() as session:
        a = get_or_404(session, SurveyResponse, answer_id, "survey response")
        return {
            "survey_response_id": a.id, "customer_id": a.customer_id, "kind": a.kind, "score": a.score,
            "comment": a.comment, "order_id": a.order_id, "ticket_id": a.ticket_id, "created_at": a.created_at,
        }
