"""CRM: the communication log, support tickets with response-time targets, reviews and surveys,
their permissions and merchant scoping, and the `ticket`/`comm`/`review`/`survey` commands."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from ops_store.cli.crm import comm_app, review_app, survey_app, ticket_app
from ops_store.db import Store
from ops_store.errors import AlreadyExists, IllegalTransition, InvalidInput, NotFound
from ops_store.models import Customer, Merchant, Ticket, TicketMessage
from ops_store.payments.provider import FakeProvider, register_provider
from ops_store.security.access import PermissionDenied, Principal, acting_as
from ops_store.services import catalog, communications, feedback, orders, shipping, stock, tickets
from tests.factories import order_doc

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.fixture(autouse=True)
def _fresh_payment_provider() -> Iterator[None]:
    """The fake provider remembers idempotency keys by order id; ids restart with every store."""
    register_provider(FakeProvider())
    yield
    register_provider(FakeProvider())


def _order(store: Store, ref: str, lines: list[tuple[str, int]], customer: str = "C-9", **kw: Any) -> tuple[int, int]:
    """Place an order; return (customer id, order id)."""
    view = orders.place_order(store, order_doc(ref, lines, customer=customer, **kw))
    with store.read() as session:
        customer_id = session.scalar(select(Customer.id).where(Customer.customer_ref == view["customer_ref"]))
    return customer_id, view["order_id"]  # type: ignore[return-value]


def _deliver(store: Store, order_id: int) -> None:
    orders.allocate_order(store, order_id)
    shipping.ship_order(store, order_id)
    for parcel in orders.get_order(store, order_id)["shipments"]:
        shipping.record_tracking_event(store, parcel["tracking_number"], "delivered")
    assert orders.get_order(store, order_id)["status"] == "delivered"


def _ticket(store: Store, customer_id: int, priority: str = "normal", at: datetime = T0, **kw: Any) -> int:
    view = tickets.open_ticket(store, customer_id, "delivery", "Where is my parcel?", "It has not arrived.",
                               priority=priority, at=at, **kw)
    return view["ticket_id"]


def _second_merchant(store: Store) -> None:
    catalog.add_merchant(store, "M2", "Shop Two", currency="USD")
    catalog.add_product(store, "M2", "TEE-1", "Tee", "20.00", "8.00")
    stock.receive_stock(store, "TEE-1", "W1", 10)


def _merchant_id(store: Store, code: str) -> int:
    with store.read() as session:
        return session.scalar(select(Merchant.id).where(Merchant.code == code))  # type: ignore[return-value]


def _error(excinfo: pytest.ExceptionInfo[Any], field: str) -> None:
    assert excinfo.value.field == field, excinfo.value.message


# --------------------------------------------------------------------------- tickets


def test_ticket_lifecycle(shop) -> None:
    store = shop.store
    customer_id, order_id = _order(store, "T-1", [("SKU-1", 1)])
    opened = tickets.open_ticket(store, customer_id, "delivery", "Late parcel", "Still waiting.", order_id=order_id,
                                 at=T0)
    tid = opened["ticket_id"]
    assert opened["status"] == "new"
    assert opened["merchant"] == "M1"  # taken from the order
    assert opened["customer_ref"] == "C-9"
    assert opened["created_at"] == T0
    assert opened["first_response_due_at"] == T0 + 8 * H
    assert opened["resolution_due_at"] == T0 + 48 * H
    assert [(m["author_kind"], m["body"]) for m in opened["messages"]] == [("customer", "Still waiting.")]

    assert tickets.assign(store, tid, "ann")["assignee"] == "ann"
    answered = tickets.add_message(store, tid, "agent", "ann", "Checking with the carrier.", at=T0 + H)
    assert answered["status"] == "open"
    assert answered["first_response_at"] == T0 + H
    # A later agent message does not move the first response.
    tickets.add_message(store, tid, "agent", "ann", "Can you confirm the address?", at=T0 + 2 * H)
    assert tickets.set_status(store, tid, "pending", at=T0 + 2 * H)["status"] == "pending"
    # The customer's answer puts a pending ticket back in the queue.
    replied = tickets.add_message(store, tid, "customer", "C-9", "Yes, it is right.", at=T0 + 3 * H)
    assert replied["status"] == "open"
    assert replied["first_response_at"] == T0 + H

    resolved = tickets.resolve(store, tid, at=T0 + 5 * H)
    with pytest.raises(InvalidInput) as excinfo:  # the clock does not run backwards
        tickets.close(store, tid, at=T0 + 4 * H)
    _error(excinfo, "at")
    assert (resolved["status"], resolved["resolved_at"]) == ("resolved", T0 + 5 * H)
    reopened = tickets.reopen(store, tid, at=T0 + 6 * H)
    assert (reopened["status"], reopened["resolved_at"]) == ("open", None)
    tickets.resolve(store, tid, at=T0 + 7 * H)
    closed = tickets.close(store, tid, satisfaction=4, at=T0 + 8 * H)
    assert (closed["status"], closed["satisfaction"], closed["closed_at"]) == ("closed", 4, T0 + 8 * H)
    assert closed["resolved_at"] == T0 + 7 * H
    assert [m["author_kind"] for m in closed["messages"]] == ["customer", "agent", "agent", "customer"]

    with pytest.raises(IllegalTransition) as excinfo:
        tickets.add_message(store, tid, "customer", "C-9", "One more thing")
    _error(excinfo, "status")
    with pytest.raises(IllegalTransition):
        tickets.assign(store, tid, "bob")


def test_customer_reply_reopens_a_resolved_ticket(shop) -> None:
    store = shop.store
    customer_id, _ = _order(store, "T-1", [("SKU-1", 1)])
    tid = _ticket(store, customer_id)
    tickets.resolve(store, tid, at=T0 + H)
    view = tickets.add_message(store, tid, "customer", "C-9", "It is still broken.", at=T0 + 2 * H)
    assert (view["status"], view["resolved_at"]) == ("open", None)


@pytest.mark.parametrize(("path", "target"), [
    ((), "closed"),                          # new -> closed: resolve first
    ((), "new"),                             # nothing goes back to new
    (("open",), "closed"),
    (("pending",), "closed"),
    (("resolved", "closed"), "open"),        # closed is final
    (("resolved", "closed"), "resolved"),
])
def test_illegal_ticket_moves_are_refused(shop, path: tuple[str, ...], target: str) -> None:
    store = shop.store
    customer_id, _ = _order(store, "T-1", [("SKU-1", 1)])
    tid = _ticket(store, customer_id)
    for status in path:
        tickets.set_status(store, tid, status, at=T0 + H)
    before = tickets.ticket_view(store, tid)["status"]
    with pytest.raises(IllegalTransition) as excinfo:
        tickets.set_status(store, tid, target, at=T0 + 2 * H)
    _error(excinfo, "status")
    assert excinfo.value.details == {"ticket_id": tid, "from": before, "to": target}
    assert tickets.ticket_view(store, tid)["status"] == before


def test_reopen_and_close_need_a_resolved_ticket(shop) -> None:
    store = shop.store
    customer_id, _ = _order(store, "T-1", [("SKU-1", 1)])
    tid = _ticket(store, customer_id)
    with pytest.raises(IllegalTransition):
        tickets.reopen(store, tid)
    with pytest.raises(IllegalTransition):
        tickets.close(store, tid, satisfaction=5)
    with pytest.raises(InvalidInput) as excinfo:
        tickets.set_status(store, tid, "escalated")
    _error(excinfo, "status")


@pytest.mark.parametrize(("priority", "first", "resolution"), [
    ("urgent", 1, 8), ("high", 4, 24), ("normal", 8, 48), ("low", 24, 120),
])
def test_due_times_follow_the_priority(shop, priority: str, first: int, resolution: int) -> None:
    store = shop.store
    customer_id, _ = _order(store, "T-1", [("SKU-1", 1)])
    view = tickets.ticket_view(store, _ticket(store, customer_id, priority), as_of=T0)
    assert view["first_response_due_at"] == T0 + first * H
    assert view["resolution_due_at"] == T0 + resolution * H
    assert (view["first_response_target_hours"], view["resolution_target_hours"]) == (first, resolution)


def test_ticket_input_is_checked_and_names_the_field(shop) -> None:
    store = shop.store
    customer_id, order_id = _order(store, "T-1", [("SKU-1", 1)])
    _, other_order = _order(store, "T-2", [("SKU-1", 1)], customer="C-10")
    cases = [
        (dict(priority="asap"), "priority"),
        (dict(subject=" "), "subject"),
        (dict(message=""), "message"),
        (dict(category="x" * 51), "category"),
        (dict(order_id=other_order), "order_id"),  # not this customer's order
    ]
    for override, field in cases:
        args = {"category": "delivery", "subject": "S", "message": "M", "priority": "normal", **override}
        with pytest.raises(InvalidInput) as excinfo:
            tickets.open_ticket(store, customer_id, **args)
        _error(excinfo, field)
    with pytest.raises(NotFound) as excinfo:
        tickets.open_ticket(store, 999, "delivery", "S", "M")
    _error(excinfo, "customer_id")
    with pytest.raises(InvalidInput) as excinfo:
        tickets.open_ticket(store, customer_id, "delivery", "S", "M", at=datetime(2026, 1, 1))  # naive
    _error(excinfo, "at")

    tid = _ticket(store, customer_id)
    for args, field in [
        (("bot", "x", "hello"), "author_kind"), (("agent", "", "hello"), "author"), (("agent", "ann", " "), "body"),
    ]:
        with pytest.raises(InvalidInput) as excinfo:
            tickets.add_message(store, tid, *args)
        _error(excinfo, field)
    with pytest.raises(InvalidInput) as excinfo:
        tickets.add_message(store, tid, "agent", "ann", "too early", at=T0 - H)
    _error(excinfo, "at")
    with pytest.raises(NotFound) as excinfo:
        tickets.ticket_view(store, 999)
    _error(excinfo, "ticket_id")
    assert tickets.ticket_view(store, tid)["status"] == "new"


# --------------------------------------------------------------------------- response-time targets


def test_urgent_ticket_answered_after_two_hours_breaches_first_response(shop) -> None:
    store = shop.store
    customer_id, _ = _order(store, "T-1", [("SKU-1", 1)])
    tid = _ticket(store, customer_id, "urgent")

    waiting = tickets.ticket_view(store, tid, as_of=T0 + timedelta(minutes=59))
    assert (waiting["first_response_breached"], waiting["resolution_breached"]) == (False, False)
    assert waiting["first_response_seconds"] == 59 * 60
    late = tickets.ticket_view(store, tid, as_of=T0 + timedelta(minutes=61))  # still unanswered, over 1 h
    assert late["first_response_breached"] is True

    answered = tickets.add_message(store, tid, "agent", "ann", "On it.", at=T0 + 2 * H)
    assert answered["first_response_seconds"] == 2 * 3600
    assert answered["first_response_breached"] is True
    resolved = tickets.resolve(store, tid, at=T0 + 7 * H)
    assert (resolved["resolution_seconds"], resolved["resolution_breached"]) == (7 * 3600, False)
    # Both clocks have stopped: a later as_of changes nothing.
    much_later = tickets.ticket_view(store, tid, as_of=T0 + 1000 * H)
    assert (much_later["first_response_breached"], much_later["resolution_breached"]) == (True, False)


def test_resolution_breach_and_the_exact_target_is_not_a_breach(shop) -> None:
    store = shop.store
    customer_id, _ = _order(store, "T-1", [("SKU-1", 1)])
    on_target = _ticket(store, customer_id, "high")
    tickets.add_message(store, on_target, "agent", "ann", "Hello", at=T0 + 4 * H)  # exactly the target
    tickets.resolve(store, on_target, at=T0 + 24 * H)
    view = tickets.ticket_view(store, on_target)
    assert (view["first_response_breached"], view["resolution_breached"]) == (False, False)

    over = _ticket(store, customer_id, "high")
    tickets.add_message(store, over, "agent", "ann", "Hello", at=T0 + 3 * H)
    tickets.resolve(store, over, at=T0 + 24 * H + timedelta(seconds=1))
    view = tickets.ticket_view(store, over)
    assert (view["first_response_breached"], view["resolution_breached"]) == (False, True)


def test_resolved_without_a_reply_stops_the_first_response_clock(shop) -> None:
    store = shop.store
    customer_id, _ = _order(store, "T-1", [("SKU-1", 1)])
    tid = _ticket(store, customer_id, "urgent")
    tickets.resolve(store, tid, at=T0 + timedelta(minutes=30))
    view = tickets.ticket_view(store, tid, as_of=T0 + 100 * H)
    assert view["first_response_at"] is None
    assert (view["first_response_seconds"], view["first_response_breached"]) == (30 * 60, False)


def test_list_tickets_filters_by_status_and_breach_at_a_clock(shop) -> None:
    store = shop.store
    customer_id, _ = _order(store, "T-1", [("SKU-1", 1)])
    normal = _ticket(store, customer_id, "normal")                      # first response due T0 + 8 h
    urgent = _ticket(store, customer_id, "urgent")                      # due T0 + 1 h
    tickets.add_message(store, urgent, "agent", "ann", "Hi", at=T0 + timedelta(minutes=20))
    low = _ticket(store, customer_id, "low")                            # due T0 + 24 h
    late = _ticket(store, customer_id, "high")                          # answered after 5 h: breached
    tickets.add_message(store, late, "agent", "ann", "Sorry", at=T0 + 5 * H)
    tickets.resolve(store, late, at=T0 + 6 * H)

    def ids(**kw: Any) -> list[int]:
        return [t["ticket_id"] for t in tickets.list_tickets(store, **kw)]

    assert sorted(ids()) == sorted([normal, urgent, low, late])
    assert ids(status="new") == [normal, low]  # soonest resolution target first
    assert ids(status="resolved") == [late]
    assert ids(breached_only=True, as_of=T0 + 7 * H + 59 * timedelta(minutes=1)) == [late]
    # After 8 h the normal ticket is still unanswered, and the urgent one (answered in time) unresolved.
    assert ids(breached_only=True, as_of=T0 + 8 * H + timedelta(minutes=1)) == [urgent, late, normal]
    assert ids(breached_only=True, as_of=T0 + 25 * H) == [urgent, late, normal, low]
    # Each row's flags agree with the SQL filter.
    for row in tickets.list_tickets(store, as_of=T0 + 9 * H):
        assert (row["first_response_breached"] or row["resolution_breached"]) == (row["ticket_id"] != low)
    with pytest.raises(InvalidInput) as excinfo:
        tickets.list_tickets(store, status="done")
    _error(excinfo, "status")


# --------------------------------------------------------------------------- satisfaction


@pytest.mark.parametrize("bad", [0, 6, -1, True, 4.5, "five"])
def test_satisfaction_on_close_is_1_to_5(shop, bad: Any) -> None:
    store = shop.store
    customer_id, _ = _order(store, "T-1", [("SKU-1", 1)])
    tid = _ticket(store, customer_id)
    tickets.resolve(store, tid, at=T0 + H)
    with pytest.raises(InvalidInput) as excinfo:
        tickets.close(store, tid, satisfaction=bad)
    _error(excinfo, "satisfaction")
    view = tickets.ticket_view(store, tid)
    assert (view["status"], view["satisfaction"]) == ("resolved", None)
    assert tickets.close(store, tid, satisfaction=5)["satisfaction"] == 5


def test_close_without_satisfaction(shop) -> None:
    store = shop.store
    customer_id, _ = _order(store, "T-1", [("SKU-1", 1)])
    tid = _ticket(store, customer_id)
    tickets.resolve(store, tid, at=T0 + H)
    view = tickets.close(store, tid, at=T0 + 2 * H)
    assert (view["status"], view["satisfaction"]) == ("closed", None)


# --------------------------------------------------------------------------- communication log


def test_communication_log(shop) -> None:
    store = shop.store
    customer_id, order_id = _order(store, "T-1", [("SKU-1", 1)])
    tid = _ticket(store, customer_id, order_id=order_id)
    first = communications.log_communication(store, customer_id, "inbound", "call", "Where is it?",
                                             "Asked about delivery", "ann", occurred_at=T0, order_id=order_id,
                                             ticket_id=tid)
    assert first["direction"] == "inbound" and first["occurred_at"] == T0
    communications.log_communication(store, customer_id, "outbound", "email", "Tracking link", None, "ann",
                                     occurred_at=T0 + H)
    listed = communications.list_communications(store, customer_id)
    assert [(c["channel"], c["occurred_at"]) for c in listed] == [("email", T0 + H), ("call", T0)]
    assert listed[1]["ticket_id"] == tid and listed[1]["order_id"] == order_id

    other_id, other_order = _order(store, "T-2", [("SKU-1", 1)], customer="C-10")
    base = dict(direction="inbound", channel="chat", subject="S", summary="x", agent="ann")
    for override, field in [
        (dict(direction="sideways"), "direction"), (dict(channel="fax"), "channel"),
        (dict(subject=None, summary="  "), "subject"), (dict(occurred_at=datetime(2026, 1, 1)), "occurred_at"),
        (dict(order_id=other_order), "order_id"), (dict(agent="a" * 101), "agent"),
    ]:
        with pytest.raises(InvalidInput) as excinfo:
            communications.log_communication(store, customer_id, **{**base, **override})
        _error(excinfo, field)
    with pytest.raises(InvalidInput) as excinfo:
        communications.log_communication(store, other_id, ticket_id=tid, **base)
    _error(excinfo, "ticket_id")
    with pytest.raises(NotFound) as excinfo:
        communications.list_communications(store, 999)
    _error(excinfo, "customer_id")
    assert len(communications.list_communications(store, customer_id)) == 2


# --------------------------------------------------------------------------- reviews and surveys


def test_verified_purchase_only_after_delivery(shop) -> None:
    store = shop.store
    customer_id, order_id = _order(store, "T-1", [("SKU-1", 1), ("SKU-2", 1), ("SKU-3", 1)])
    placed = feedback.add_review(store, customer_id, "SKU-1", 2, "Arrived? Not yet.", order_id=order_id)
    assert placed["verified_purchase"] is False  # placed and paid is not received
    orders.allocate_order(store, order_id)
    shipping.ship_order(store, order_id)
    shipped = feedback.add_review(store, customer_id, "SKU-2", 3, "On its way")
    assert shipped["verified_purchase"] is False
    for parcel in orders.get_order(store, order_id)["shipments"]:
        shipping.record_tracking_event(store, parcel["tracking_number"], "delivered")
    delivered = feedback.add_review(store, customer_id, "SKU-3", 5, "Lovely lamp")
    assert delivered["verified_purchase"] is True
    assert (delivered["sku"], delivered["merchant"], delivered["customer_ref"]) == ("SKU-3", "M1", "C-9")

    # Someone who never received the product is not verified, whatever order they name.
    stranger_id, _ = _order(store, "T-2", [("SKU-1", 1)], customer="C-10")
    assert feedback.add_review(store, stranger_id, "SKU-3", 1, None)["verified_purchase"] is False
    with pytest.raises(InvalidInput) as excinfo:
        feedback.add_review(store, stranger_id, "SKU-2", 1, "mine", order_id=order_id)
    _error(excinfo, "order_id")
    lone_customer, lone_order = _order(store, "T-3", [("SKU-1", 1)], customer="C-11")
    with pytest.raises(InvalidInput) as excinfo:  # the order does not contain the product
        feedback.add_review(store, lone_customer, "SKU-2", 4, None, order_id=lone_order)
    _error(excinfo, "order_id")


def test_completed_order_verifies_and_reviews_are_listed_with_average(shop) -> None:
    store = shop.store
    a, order_a = _order(store, "T-1", [("SKU-1", 1)])
    _deliver(store, order_a)
    orders.complete_order(store, order_a)
    b, _ = _order(store, "T-2", [("SKU-1", 1)], customer="C-10")
    c, _ = _order(store, "T-3", [("SKU-2", 1)], customer="C-11")
    assert feedback.add_review(store, a, "SKU-1", 5, "Great")["verified_purchase"] is True
    feedback.add_review(store, b, "SKU-1", 4, "Good")
    feedback.add_review(store, c, "SKU-1", 4, None)
    feedback.add_review(store, c, "SKU-2", 1, "Chipped")

    mugs = feedback.list_reviews(store, "SKU-1")
    assert (mugs["count"], mugs["average_rating"], mugs["verified_count"]) == (3, Decimal("4.33"), 1)
    assert mugs["ratings"] == {"1": 0, "2": 0, "3": 0, "4": 2, "5": 1}
    assert [r["rating"] for r in mugs["reviews"]] == [4, 4, 5]  # newest first
    everything = feedback.list_reviews(store)
    assert (everything["count"], everything["average_rating"]) == (4, Decimal("3.50"))
    assert feedback.list_reviews(store, "SKU-3") | {"reviews": []} == {
        "sku": "SKU-3", "count": 0, "average_rating": None, "verified_count": 0,
        "ratings": {str(n): 0 for n in range(1, 6)}, "reviews": [],
    }

    with pytest.raises(AlreadyExists) as excinfo:
        feedback.add_review(store, a, "SKU-1", 1, "Changed my mind")
    _error(excinfo, "sku")
    for bad in (0, 6, True, "4.5"):
        with pytest.raises(InvalidInput) as excinfo:
            feedback.add_review(store, a, "SKU-2", bad, None)
        _error(excinfo, "rating")
    with pytest.raises(NotFound) as excinfo:
        feedback.add_review(store, a, "NOPE", 3, None)
    _error(excinfo, "sku")
    assert feedback.list_reviews(store)["count"] == 4


@pytest.mark.parametrize(("kind", "score"), [("nps", -1), ("nps", 11), ("csat", 0), ("csat", 6), ("nps", "x"),
                                             ("csat", True)])
def test_survey_score_ranges_are_refused_naming_the_field(shop, kind: str, score: Any) -> None:
    store = shop.store
    customer_id, _ = _order(store, "T-1", [("SKU-1", 1)])
    with pytest.raises(InvalidInput) as excinfo:
        feedback.add_survey_response(store, customer_id, kind, score)
    _error(excinfo, "score")


def test_survey_answers(shop) -> None:
    store = shop.store
    customer_id, order_id = _order(store, "T-1", [("SKU-1", 1)])
    tid = _ticket(store, customer_id, order_id=order_id)
    for kind, score in [("nps", 0), ("nps", 10), ("csat", 1), ("csat", 5)]:
        answer = feedback.add_survey_response(store, customer_id, kind, score, "ok", order_id=order_id,
                                              ticket_id=tid)
        assert (answer["kind"], answer["score"], answer["ticket_id"]) == (kind, score, tid)
    with pytest.raises(InvalidInput) as excinfo:
        feedback.add_survey_response(store, customer_id, "ces", 3)
    _error(excinfo, "kind")
    other_id, _ = _order(store, "T-2", [("SKU-1", 1)], customer="C-10")
    with pytest.raises(InvalidInput) as excinfo:
        feedback.add_survey_response(store, other_id, "csat", 3, ticket_id=tid)
    _error(excinfo, "ticket_id")


# --------------------------------------------------------------------------- permissions and scoping


def test_merchant_sees_only_its_own_records_and_analyst_cannot_write(shop) -> None:
    store = shop.store
    _second_merchant(store)
    customer_id, m1_order = _order(store, "T-1", [("SKU-1", 1)])
    _, m2_order = _order(store, "T-2", [("TEE-1", 1)], merchant="M2")
    m1_ticket = _ticket(store, customer_id, order_id=m1_order)
    m2_ticket = _ticket(store, customer_id, order_id=m2_order)
    loose_ticket = _ticket(store, customer_id)  # no order: tied to no merchant
    communications.log_communication(store, customer_id, "inbound", "chat", "M1 question", None, "ann",
                                     order_id=m1_order)
    communications.log_communication(store, customer_id, "inbound", "chat", "M2 question", None, "ann",
                                     ticket_id=m2_ticket)
    communications.log_communication(store, customer_id, "outbound", "email", "Newsletter", None, "ann")
    feedback.add_review(store, customer_id, "SKU-1", 5, None)
    feedback.add_review(store, customer_id, "TEE-1", 3, None)

    m2 = Principal("user:m2", "merchant", merchant_id=_merchant_id(store, "M2"))
    with acting_as(m2):
        for other in (m1_ticket, loose_ticket):
            with pytest.raises(PermissionDenied):
                tickets.ticket_view(store, other)
        assert tickets.ticket_view(store, m2_ticket)["merchant"] == "M2"
        assert [t["ticket_id"] for t in tickets.list_tickets(store)] == [m2_ticket]
        assert [t["ticket_id"] for t in tickets.list_tickets(store, breached_only=True, as_of=T0 + 100 * H)] == \
            [m2_ticket]
        assert [c["subject"] for c in communications.list_communications(store, customer_id)] == ["M2 question"]
        reviews = feedback.list_reviews(store)
        assert [r["sku"] for r in reviews["reviews"]] == ["TEE-1"]
        assert (reviews["count"], reviews["average_rating"]) == (1, Decimal("3.00"))
        with pytest.raises(PermissionDenied):  # merchants read CRM, they do not write it
            tickets.add_message(store, m2_ticket, "agent", "m2", "Hello")

    analyst = Principal("user:ann", "analyst")
    with acting_as(analyst):
        assert len(tickets.list_tickets(store)) == 3
        writes = [
            lambda: tickets.open_ticket(store, customer_id, "delivery", "S", "M"),
            lambda: tickets.add_message(store, m1_ticket, "agent", "ann", "Hello"),
            lambda: tickets.set_status(store, m1_ticket, "open"),
            lambda: tickets.assign(store, m1_ticket, "ann"),
            lambda: communications.log_communication(store, customer_id, "inbound", "call", "S", None, "ann"),
            lambda: feedback.add_review(store, customer_id, "SKU-2", 4, None),
            lambda: feedback.add_survey_response(store, customer_id, "nps", 9),
        ]
        for write in writes:
            with pytest.raises(PermissionDenied) as excinfo:
                write()
            _error(excinfo, "permission")

    # Nothing was written by the refused calls.
    with store.read() as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 3
        assert session.scalar(select(func.count()).select_from(TicketMessage)) == 3
    assert tickets.ticket_view(store, m1_ticket)["status"] == "new"

    # A support agent writes; a support agent bound to a merchant only on that merchant's tickets.
    with acting_as(Principal("user:sam", "support")):
        assert tickets.add_message(store, m1_ticket, "agent", "sam", "Hello")["status"] == "open"
    with acting_as(Principal("user:sue", "support", merchant_id=_merchant_id(store, "M2"))):
        assert tickets.add_message(store, m2_ticket, "agent", "sue", "Hi")["status"] == "open"
        for ticket_id in (m1_ticket, loose_ticket):
            with pytest.raises(PermissionDenied):
                tickets.add_message(store, ticket_id, "agent", "sue", "Hi")
        with pytest.raises(PermissionDenied):  # a ticket without an order would be out of its reach
            tickets.open_ticket(store, customer_id, "delivery", "S", "M")
        assert tickets.open_ticket(store, customer_id, "delivery", "S", "M", order_id=m2_order)["merchant"] == "M2"
        with pytest.raises(PermissionDenied):
            feedback.add_review(store, customer_id, "SKU-2", 4, None)


# --------------------------------------------------------------------------- the commands


@pytest.fixture
def invoke(shop, cli_invoke):  # type: ignore[no-untyped-def]
    """Run a CRM sub-app command against the test store; the error body when it must fail."""

    def call(app: Any, *args: str, ok: bool = True, as_json: bool = True) -> Any:
        body = cli_invoke(app, *args, ok=ok, as_json=as_json)
        return body if ok or not as_json else body["error"]

    return call


def test_crm_commands(shop, invoke) -> None:
    store = shop.store
    customer_id, order_id = _order(store, "T-1", [("SKU-1", 1)])
    cid, oid = str(customer_id), str(order_id)
    opened = invoke(ticket_app, "open", "--customer-id", cid, "--category", "delivery", "--subject", "Late",
                    "--message", "Where is it?", "--priority", "urgent", "--order-id", oid,
                    "--at", "2026-03-02T09:00:00+00:00")
    tid = str(opened["ticket_id"])
    assert (opened["status"], opened["merchant"], opened["first_response_due_at"]) == \
        ("new", "M1", "2026-03-02T10:00:00+00:00")
    replied = invoke(ticket_app, "reply", tid, "--body", "Looking", "--author", "ann",
                     "--at", "2026-03-02T11:00:00+00:00")
    assert (replied["status"], replied["first_response_breached"]) == ("open", True)
    assert invoke(ticket_app, "assign", tid, "--to", "ann")["assignee"] == "ann"
    assert invoke(ticket_app, "status", tid, "pending", "--at", "2026-03-02T11:30:00+00:00")["status"] == "pending"
    err = invoke(ticket_app, "status", tid, "closed", ok=False)
    assert (err["code"], err["field"]) == ("illegal_transition", "status")
    invoke(ticket_app, "status", tid, "resolved", "--at", "2026-03-02T12:00:00+00:00")
    err = invoke(ticket_app, "close", tid, "--satisfaction", "9", ok=False)
    assert (err["code"], err["field"]) == ("invalid_input", "satisfaction")
    closed = invoke(ticket_app, "close", tid, "--satisfaction", "5", "--at", "2026-03-02T13:00:00+00:00")
    assert (closed["status"], closed["satisfaction"]) == ("closed", 5)
    shown = invoke(ticket_app, "show", tid)
    assert [m["author_kind"] for m in shown["messages"]] == ["customer", "agent"]
    assert [t["ticket_id"] for t in invoke(ticket_app, "list", "--breached")] == [int(tid)]
    assert invoke(ticket_app, "list", "--status", "new") == []
    err = invoke(ticket_app, "show", tid, "--as-of", "yesterday", ok=False)
    assert err["field"] == "as_of"

    logged = invoke(comm_app, "log", "--customer-id", cid, "--direction", "inbound", "--channel", "call",
                    "--subject", "Call", "--agent", "ann", "--ticket-id", tid)
    assert logged["ticket_id"] == int(tid)
    assert [c["subject"] for c in invoke(comm_app, "list", "--customer-id", cid)] == ["Call"]
    err = invoke(comm_app, "log", "--customer-id", cid, "--direction", "in", "--channel", "call", "--subject", "x",
                 ok=False)
    assert err["field"] == "direction"

    review = invoke(review_app, "add", "--customer-id", cid, "--sku", "SKU-1", "--rating", "4", "--text", "Nice")
    assert (review["rating"], review["verified_purchase"]) == (4, False)
    listed = invoke(review_app, "list", "--sku", "SKU-1")
    assert (listed["count"], listed["average_rating"]) == (1, "4.00")

    answer = invoke(survey_app, "add", "--customer-id", cid, "--kind", "nps", "--score", "9", "--ticket-id", tid)
    assert (answer["kind"], answer["score"]) == ("nps", 9)
    err = invoke(survey_app, "add", "--customer-id", cid, "--kind", "csat", "--score", "7", ok=False)
    assert (err["code"], err["field"]) == ("invalid_input", "score")

    # The same reads for people: tables with the columns that matter.
    assert "Late" in invoke(ticket_app, "list", as_json=False)
    assert "Looking" in invoke(ticket_app, "show", tid, as_json=False)
    assert "Call" in invoke(comm_app, "list", "--customer-id", cid, as_json=False)
    assert "average_rating: 4.00" in invoke(review_app, "list", as_json=False)
