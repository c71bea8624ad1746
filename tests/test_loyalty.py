"""Loyalty points and tiers, on SQLite and PostgreSQL.

After every scenario the books must agree: for each account, balance == sum of its entries ==
sum of what is left of its lots, and never below zero (``assert_books``)."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from ops_store.cli.loyalty import loyalty_app
from ops_store.db import Store
from ops_store.errors import DomainError, InvalidInput
from ops_store.models import AuditEntry, Customer, LoyaltyAccount, LoyaltyEntry, TierChange
from ops_store.security.access import PermissionDenied, Principal, acting_as
from ops_store.services import catalog, loyalty, orders, returns, shipping, stock
from ops_store.types import utcnow
from tests.factories import make_shop, order_doc

D = Decimal


# --------------------------------------------------------------------------- helpers


def customer_id(store: Store, ref: str) -> int:
    with store.read() as s:
        cid = s.scalar(select(Customer.id).where(Customer.customer_ref == ref))
    assert cid is not None, f"no customer {ref}"
    return cid


def place(store: Store, ref: str, lines: list[tuple[str, int]], **kw: Any) -> dict[str, Any]:
    return orders.place_order(store, order_doc(ref, lines, **kw))


def deliver(store: Store, order_id: int) -> None:
    orders.allocate_order(store, order_id)
    shipping.ship_order(store, order_id)
    for parcel in orders.get_order(store, order_id)["shipments"]:
        shipping.record_tracking_event(store, parcel["tracking_number"], "delivered")


def completed(store: Store, ref: str, lines: list[tuple[str, int]], **kw: Any) -> dict[str, Any]:
    view = place(store, ref, lines, **kw)
    deliver(store, view["order_id"])
    return orders.complete_order(store, view["order_id"])


def return_all(store: Store, order_id: int) -> dict[str, Any]:
    for line in orders.get_order(store, order_id)["lines"]:
        r = returns.request_return(store, order_id, sku=line["sku"], qty=line["qty"], reason="changed mind")
        returns.approve_return(store, r["return_id"])
        returns.receive_return(store, r["return_id"], qty=line["qty"], condition="as new", disposition="restock")
    return orders.get_order(store, order_id)


def own_skus(store: Store, n: int) -> list[str]:
    """n products of their own, in stock, so concurrent orders do not queue on the same stock rows
    (and a race is decided by the loyalty account or coupon lock alone)."""
    skus = [f"RACE-{i}" for i in range(n)]
    for sku in skus:
        catalog.add_product(store, "M1", sku, f"Race item {sku}", "15.00", "5.00")
        stock.receive_stock(store, sku, "W1", 5)
    return skus


def balance(store: Store, cid: int) -> int:
    return loyalty.account_view(store, cid)["balance"]


def entries(store: Store, cid: int) -> list[dict[str, Any]]:
    return list(reversed(loyalty.account_view(store, cid)["entries"]))


def assert_books(store: Store) -> None:
    """balance == ledger sum == lots' remaining, never negative, for every account."""
    assert loyalty.ledger_mismatches(store) == []
    with store.read() as s:
        ledger = dict(s.execute(select(LoyaltyEntry.customer_id, func.sum(LoyaltyEntry.points))
                                .group_by(LoyaltyEntry.customer_id)).all())
        for account in s.scalars(select(LoyaltyAccount)):
            assert account.balance >= 0
            assert account.balance == (ledger.get(account.customer_id) or 0)


def today():  # type: ignore[no-untyped-def]
    return utcnow().date()


# --------------------------------------------------------------------------- earning


def test_points_are_earned_on_completion_with_the_tier_multiplier(store: Store) -> None:
    make_shop(store, stock_w1=40)
    first = place(store, "E-1", [("SKU-3", 2)], customer="C-1")  # 80.00
    cid = customer_id(store, "C-1")
    assert balance(store, cid) == 0  # placing earns nothing
    deliver(store, first["order_id"])
    assert balance(store, cid) == 0  # nor delivering
    orders.complete_order(store, first["order_id"])
    earn = entries(store, cid)[-1]
    assert (earn["kind"], earn["points"], earn["remaining"], earn["order_id"]) == ("earn", 80, 80, first["order_id"])
    assert earn["expires_on"] == today() + timedelta(days=365)

    # net paid goods: subtotal - discount, rounded down
    second = completed(store, "E-2", [("SKU-1", 1)], customer="C-1", discount="0.50")  # 9.99 - 0.50 = 9.49
    assert entries(store, cid)[-1]["points"] == 9
    assert balance(store, cid) == 89

    # 13 x 40.00 = 520 placed in the last 12 months: silver, x1.25 on the next earn
    big = place(store, "E-3", [("SKU-3", 13)], customer="C-1")
    moved = loyalty.recompute_tier(store, cid)
    assert (moved["from"], moved["tier"], moved["changed"]) == ("bronze", "silver", True)
    assert moved["spend_12m"] == D("80.00") + D("9.49") + D("520.00")
    deliver(store, big["order_id"])
    orders.complete_order(store, big["order_id"])
    assert entries(store, cid)[-1]["points"] == 650  # 520 x 1.25
    assert balance(store, cid) == 89 + 650
    # completing twice is refused by the state machine; points are earned once per order
    with pytest.raises(DomainError):
        orders.complete_order(store, second["order_id"])
    assert balance(store, cid) == 739
    assert_books(store)


# --------------------------------------------------------------------------- redeeming


def test_redeeming_at_placement_reduces_the_total_and_the_balance(shop) -> None:
    store = shop.store
    completed(store, "R-1", [("SKU-3", 2)], customer="C-1")  # earns 80
    cid = customer_id(store, "C-1")
    view = place(store, "R-2", [("SKU-2", 2)], customer="C-1", points=50)  # 30.00 goods
    assert view["points_redeemed"] == 50
    assert view["discount"] == D("0.50")
    assert view["total"] == D("30.00") - D("0.50") + D("4.90")
    assert view["payment"]["amount"] == view["total"]
    assert sum(line["discount"] for line in view["lines"]) == D("0.50")
    assert balance(store, cid) == 30
    redeem = entries(store, cid)[-1]
    assert (redeem["kind"], redeem["points"], redeem["order_id"]) == ("redeem", -50, view["order_id"])
    # the points' value is not earned on: (30.00 - 0.50) -> 29 points
    deliver(store, view["order_id"])
    orders.complete_order(store, view["order_id"])
    assert balance(store, cid) == 30 + 29
    # a replay of the same document redeems nothing more
    again = place(store, "R-2", [("SKU-2", 2)], customer="C-1", points=50)
    assert again["replayed"] is True
    assert balance(store, cid) == 59
    assert_books(store)


def test_redeeming_more_than_the_balance_or_the_goods_is_refused_naming_points(shop) -> None:
    store = shop.store
    completed(store, "B-1", [("SKU-3", 2)], customer="C-1")  # earns 80
    cid = customer_id(store, "C-1")
    before = orders.list_orders(store)
    with pytest.raises(InvalidInput) as err:
        place(store, "B-2", [("SKU-2", 1)], customer="C-1", points=81)
    assert err.value.field == "points"
    assert "80" in err.value.message
    assert orders.list_orders(store) == before  # nothing was placed
    assert balance(store, cid) == 80

    # worth more than the goods left to pay: refused with the most that can be redeemed
    loyalty.adjust_points(store, cid, 5000, reason="goodwill")
    with pytest.raises(InvalidInput) as err:
        place(store, "B-3", [("SKU-1", 1)], customer="C-1", points=1000)  # 10.00 > 9.99
    assert err.value.field == "points"
    assert err.value.details["max_points"] == 999
    view = place(store, "B-4", [("SKU-1", 1)], customer="C-1", points=999)
    assert view["discount"] == D("9.99")
    assert view["total"] == D("4.90")
    # a customer with no account has no points
    with pytest.raises(InvalidInput) as err:
        place(store, "B-5", [("SKU-1", 1)], customer="C-NEW", points=1)
    assert err.value.field == "points"
    # the document refuses a non-positive or non-integer number
    for bad in (0, -5, "10", 1.5):
        with pytest.raises(InvalidInput) as err:
            place(store, "B-6", [("SKU-1", 1)], customer="C-1", points=bad)
        assert err.value.field == "points"
    assert balance(store, cid) == 80 + 5000 - 999
    assert_books(store)


def test_concurrent_redemptions_never_overdraw_and_exactly_the_affordable_succeed(shop) -> None:
    store = shop.store
    place(store, "S-0", [("SKU-1", 1)], customer="C-1")
    cid = customer_id(store, "C-1")
    loyalty.adjust_points(store, cid, 500, reason="launch bonus")
    buyers = 10
    skus = own_skus(store, buyers)
    start = threading.Barrier(buyers)
    outcomes: list[Any] = [None] * buyers

    def buy(i: int) -> None:
        start.wait(timeout=60)
        try:
            outcomes[i] = place(store, f"S-{i + 1}", [(skus[i], 1)], customer="C-1", points=100)
        except DomainError as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=buy, args=(i,)) for i in range(buyers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    placed = [o for o in outcomes if isinstance(o, dict)]
    refused = [o for o in outcomes if not isinstance(o, dict)]
    assert len(placed) == 5
    assert all(isinstance(e, InvalidInput) and e.field == "points" for e in refused), refused
    assert all(o["points_redeemed"] == 100 and o["discount"] == D("1.00") for o in placed)
    assert balance(store, cid) == 0
    assert_books(store)


# --------------------------------------------------------------------------- expiry


def test_points_are_used_and_expire_first_expiring_first(shop) -> None:
    store = shop.store
    completed(store, "X-1", [("SKU-3", 2)], customer="C-1")  # lot C: 80, expires in 365 days
    cid = customer_id(store, "C-1")
    loyalty.adjust_points(store, cid, 100, reason="promo A", expires_on=today() + timedelta(days=10))  # lot A
    loyalty.adjust_points(store, cid, 100, reason="promo B", expires_on=today() + timedelta(days=20))  # lot B
    assert balance(store, cid) == 280
    order = place(store, "X-2", [("SKU-3", 1)], customer="C-1", points=150)
    used = [e for e in entries(store, cid) if e["kind"] == "redeem"]
    assert [(e["points"], e["expires_on"]) for e in used] == [
        (-100, today() + timedelta(days=10)), (-50, today() + timedelta(days=20))]
    assert all(e["order_id"] == order["order_id"] for e in used)
    assert loyalty.account_view(store, cid)["expiring"] == [
        {"expires_on": today() + timedelta(days=20), "points": 50},
        {"expires_on": today() + timedelta(days=365), "points": 80},
    ]

    assert loyalty.expire_points(store, today() + timedelta(days=19))["points_expired"] == 0
    done = loyalty.expire_points(store, today() + timedelta(days=20))
    assert (done["accounts"], done["points_expired"]) == (1, 50)
    assert balance(store, cid) == 80
    assert loyalty.expire_points(store, today() + timedelta(days=20))["points_expired"] == 0  # idempotent
    assert_books(store)
    assert loyalty.expire_points(store, today() + timedelta(days=365))["points_expired"] == 80
    assert balance(store, cid) == 0
    kinds = [e["kind"] for e in entries(store, cid)]
    assert kinds.count("expire") == 2
    assert_books(store)


# --------------------------------------------------------------------------- reversals


def test_a_returned_order_reverses_its_points(shop) -> None:
    store = shop.store
    order = completed(store, "V-1", [("SKU-3", 2)], customer="C-1")
    cid = customer_id(store, "C-1")
    assert balance(store, cid) == 80
    assert return_all(store, order["order_id"])["status"] == "returned"
    reverse = entries(store, cid)[-1]
    assert (reverse["kind"], reverse["points"], reverse["order_id"]) == ("reverse", -80, order["order_id"])
    assert balance(store, cid) == 0
    assert_books(store)


def test_points_already_spent_are_not_clawed_below_zero(shop) -> None:
    store = shop.store
    first = completed(store, "W-1", [("SKU-3", 2)], customer="C-1")  # earns 80
    cid = customer_id(store, "C-1")
    place(store, "W-2", [("SKU-2", 1)], customer="C-1", points=60)  # spends 60 of them
    assert balance(store, cid) == 20
    return_all(store, first["order_id"])
    reverse = entries(store, cid)[-1]
    assert reverse["points"] == -20
    assert "clawback 60" in reverse["note"]
    assert balance(store, cid) == 0
    with store.read() as s:
        audit = s.scalar(select(AuditEntry).where(AuditEntry.action == "loyalty.clawback"))
    assert audit is not None and json.loads(audit.details)["not_recovered"] == 60
    assert_books(store)


def test_a_returned_order_gives_back_its_redeemed_points_less_what_its_earn_owes(shop) -> None:
    store = shop.store
    completed(store, "N-1", [("SKU-3", 2)], customer="C-1")  # lot: 80
    cid = customer_id(store, "C-1")
    second = place(store, "N-2", [("SKU-3", 1)], customer="C-1", points=80)  # 40.00 - 0.80
    deliver(store, second["order_id"])
    orders.complete_order(store, second["order_id"])  # earns 39
    place(store, "N-3", [("SKU-1", 1)], customer="C-1", points=39)  # spends those 39
    assert balance(store, cid) == 0
    return_all(store, second["order_id"])
    # the 39 earned by N-2 are spent: they are kept from the 80 it redeemed, 41 come back
    assert balance(store, cid) == 41
    back = entries(store, cid)[-1]
    assert (back["kind"], back["points"], back["remaining"]) == ("reverse", 41, 41)
    assert back["expires_on"] == today() + timedelta(days=365)
    with store.read() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry)
                        .where(AuditEntry.action == "loyalty.clawback")) == 0
    assert_books(store)


def test_cancelling_gives_back_the_redeemed_points_with_their_expiry(shop) -> None:
    store = shop.store
    place(store, "K-0", [("SKU-1", 1)], customer="C-1")
    cid = customer_id(store, "C-1")
    until = today() + timedelta(days=30)
    loyalty.adjust_points(store, cid, 500, reason="goodwill", expires_on=until)
    order = place(store, "K-1", [("SKU-3", 1)], customer="C-1", points=200)
    assert balance(store, cid) == 300
    orders.cancel_order(store, order["order_id"], reason="changed mind")
    assert balance(store, cid) == 500
    back = entries(store, cid)[-1]
    assert (back["kind"], back["points"], back["expires_on"]) == ("reverse", 200, until)
    # a declined payment cancels the order too, and gives the points back
    declined = place(store, "K-2", [("SKU-3", 1)], customer="C-1", points=100, token="tok_decline")
    assert declined["status"] == "cancelled"
    assert balance(store, cid) == 500
    assert_books(store)


# --------------------------------------------------------------------------- tiers


def test_tier_moves_up_and_down_with_trailing_spend_and_are_recorded(store: Store) -> None:
    make_shop(store, stock_w1=100)
    placed_at = utcnow() - timedelta(days=300)
    place(store, "T-1", [("SKU-3", 13)], customer="C-1", placed_at=placed_at.isoformat())  # 520.00
    place(store, "T-2", [("SKU-1", 1)], customer="C-2")
    cid, other = customer_id(store, "C-1"), customer_id(store, "C-2")
    assert loyalty.recompute_tier(store, cid)["tier"] == "silver"
    assert loyalty.recompute_tier(store, cid)["changed"] is False  # nothing new, nothing recorded
    later = today() + timedelta(days=70)  # T-1 is now 370 days old
    down = loyalty.recompute_tier(store, cid, later)
    assert (down["from"], down["tier"], down["spend_12m"]) == ("silver", "bronze", D("0.00"))
    # a cancelled order does not count
    cancelled = place(store, "T-3", [("SKU-3", 40)], customer="C-2")
    orders.cancel_order(store, cancelled["order_id"])
    big = place(store, "T-4", [("SKU-3", 38)], customer="C-2")  # 1520.00
    batch = loyalty.recompute_tiers(store)
    assert (batch["customers"], batch["changed"], batch["up"], batch["down"]) == (2, 2, 2, 0)
    assert loyalty.account_view(store, other)["tier"] == "gold"
    assert loyalty.account_view(store, cid)["tier"] == "silver"  # back within the window as of today
    with store.read() as s:
        moves = [(c.customer_id, c.from_tier, c.to_tier, c.spend_12m)
                 for c in s.scalars(select(TierChange).order_by(TierChange.id))]
    assert moves == [(cid, "bronze", "silver", D("520.00")), (cid, "silver", "bronze", D("0.00")),
                     (cid, "bronze", "silver", D("520.00")), (other, "bronze", "gold", D("1529.99"))]
    view = loyalty.account_view(store, other)
    assert view["free_shipping"] is True and view["points_multiplier"] == D("1.50")
    assert [c["to"] for c in view["tier_changes"]] == ["gold"]
    # gold ships free from the next order on
    free = place(store, "T-5", [("SKU-1", 1)], customer="C-2")
    assert free["shipping"] == D("0.00") and free["total"] == D("9.99")
    # and earns x1.5
    deliver(store, big["order_id"])
    orders.complete_order(store, big["order_id"])
    assert entries(store, other)[-1]["points"] == 2280  # 1520 x 1.5
    assert_books(store)


def test_refunds_lower_the_trailing_spend(shop) -> None:
    store = shop.store
    order = completed(store, "F-1", [("SKU-3", 2)], customer="C-1")
    cid = customer_id(store, "C-1")
    r = returns.request_return(store, order["order_id"], sku="SKU-3", qty=1, reason="broken")
    returns.approve_return(store, r["return_id"])
    returns.receive_return(store, r["return_id"], qty=1, condition="broken", disposition="write_off")
    returns.refund_return(store, r["return_id"])
    assert loyalty.recompute_tier(store, cid)["spend_12m"] == D("40.00")


# --------------------------------------------------------------------------- manual adjustments, access


def test_adjustments_are_audited_and_never_overdraw(shop) -> None:
    store = shop.store
    place(store, "A-1", [("SKU-1", 1)], customer="C-1")
    cid = customer_id(store, "C-1")
    loyalty.adjust_points(store, cid, 120, reason="apology for late parcel")
    with pytest.raises(InvalidInput) as err:
        loyalty.adjust_points(store, cid, -121, reason="correction")
    assert err.value.field == "points"
    view = loyalty.adjust_points(store, cid, -20, reason="correction")
    assert view["balance"] == 100
    for bad, field in (({"points": 0}, "points"), ({"reason": " "}, "reason"),
                       ({"expires_on": today()}, "expires_on")):
        kwargs: dict[str, Any] = {"points": 5, "reason": "x", **bad}
        with pytest.raises(InvalidInput) as err:
            loyalty.adjust_points(store, cid, kwargs.pop("points"), **kwargs)
        assert err.value.field == field
    with store.read() as s:
        audits = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "loyalty.adjust")
                                .order_by(AuditEntry.id)))
    assert [json.loads(a.details)["points"] for a in audits] == [120, -20]
    # analysts read but do not adjust; a merchant sees only customers who bought from it
    with acting_as(Principal("user:ann", "analyst")):
        assert loyalty.account_view(store, cid)["balance"] == 100
        with pytest.raises(PermissionDenied):
            loyalty.adjust_points(store, cid, 5, reason="x")
    with acting_as(Principal("user:m2", "merchant", merchant_id=999)), pytest.raises(PermissionDenied):
        loyalty.account_view(store, cid)
    assert_books(store)


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def cli(cli_invoke):  # type: ignore[no-untyped-def]
    return lambda *args, ok=True: cli_invoke(loyalty_app, *args, ok=ok)


def test_cli_shows_adjusts_expires_and_recomputes(shop, cli) -> None:
    store = shop.store
    completed(store, "L-1", [("SKU-3", 2)], customer="C-1")
    cid = str(customer_id(store, "C-1"))
    assert cli("show", cid)["balance"] == 80
    later = (today() + timedelta(days=5)).isoformat()
    view = cli("adjust", cid, "--points", "20", "--reason", "goodwill", "--expires-on", later)
    assert view["balance"] == 100
    assert cli("adjust", cid, "--points", "-500", "--reason", "oops", ok=False)["error"]["field"] == "points"
    assert cli("expire", "--as-of", later)["points_expired"] == 20
    assert cli("expire", "--as-of", "soon", ok=False)["error"]["field"] == "as_of"
    assert cli("tiers", "recompute")["customers"] == 1
    assert cli("tiers", "recompute", "--customer-id", cid)["tier"] == "bronze"
    assert cli("show", "999999", ok=False)["error"]["code"] == "not_found"
    assert_books(store)
