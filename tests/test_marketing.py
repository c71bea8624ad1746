"""Campaigns with a control group, and coupons applied to orders, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from ops_store.cli.marketing import campaign_app, coupon_app
from ops_store.db import Store
from ops_store.errors import AlreadyExists, Conflict, DomainError, InvalidInput, NotFound
from ops_store.models import Campaign, CampaignMember, Coupon, CouponRedemption, Order
from ops_store.security.access import PermissionDenied, Principal, acting_as
from ops_store.services import campaigns, catalog, coupons, loyalty, orders
from ops_store.types import utcnow
from tests.factories import make_shop
from tests.test_loyalty import assert_books, balance, customer_id, own_skus, place

D = Decimal


def today():  # type: ignore[no-untyped-def]
    return utcnow().date()


def days(n: int) -> str:
    return (today() + timedelta(days=n)).isoformat()


def campaign(store: Store, code: str = "SPRING", **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"channel": "email", "starts_on": days(-1), "ends_on": days(30), "budget": "1000.00",
                            "control_share": "0", **kw}
    return campaigns.create_campaign(store, code, "Spring sale", **args)


def coupon(store: Store, code: str = "SAVE10", **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"kind": "percent", "value": "10", "valid_from": days(-1), "valid_to": days(30), **kw}
    return coupons.create_coupon(store, code, **args)


def customers(store: Store, n: int) -> list[int]:
    """n customers, each made by placing (and cancelling) one order."""
    ids = []
    for i in range(n):
        view = place(store, f"CU-{i}", [("SKU-1", 1)], customer=f"C-{i}")
        orders.cancel_order(store, view["order_id"])
        ids.append(customer_id(store, f"C-{i}"))
    return ids


def members(store: Store, code: str) -> dict[int, str]:
    with store.read() as s:
        return {m.customer_id: m.grp for m in s.scalars(
            select(CampaignMember).join(Campaign, Campaign.id == CampaignMember.campaign_id)
            .where(Campaign.code == code))}


# --------------------------------------------------------------------------- campaigns


def test_audience_is_split_reproducibly_and_control_is_never_contacted(shop) -> None:
    store = shop.store
    campaign(store, target_segment="At risk", control_share="0.2")
    ids = customers(store, 10)
    split = campaigns.assign_audience(store, "spring", ids, seed=7)
    assert (split["assigned"], split["target"], split["control"]) == (10, 8, 2)
    groups = members(store, "SPRING")
    # the same customers and seed give the same split (in another campaign too), whatever their order
    campaign(store, "AUTUMN", control_share="0.2")
    campaigns.assign_audience(store, "AUTUMN", list(reversed(ids)), seed=7)
    assert members(store, "AUTUMN") == groups
    campaign(store, "WINTER", control_share="0.2")
    campaigns.assign_audience(store, "WINTER", ids, seed=8)
    assert members(store, "WINTER") != groups
    # assigning again keeps everyone's group
    again = campaigns.assign_audience(store, "SPRING", ids, seed=99)
    assert (again["assigned"], again["already_assigned"]) == (0, 10)

    control = [c for c, g in groups.items() if g == "control"]
    target = [c for c, g in groups.items() if g == "target"]
    with pytest.raises(Conflict) as err:
        campaigns.mark_contacted(store, "SPRING", [target[0], control[0]])
    assert err.value.field == "customer_ids" and err.value.details == {"control": [control[0]]}
    assert campaigns.campaign_view(store, "SPRING")["members"]["contacted"] == 0  # refused as a whole
    done = campaigns.mark_contacted(store, "SPRING", target)
    assert done["contacted"] == 8
    assert campaigns.mark_contacted(store, "SPRING", target[:2])["already_contacted"] == 2
    with store.read() as s:
        assert all(m.contacted_at is None for m in s.scalars(select(CampaignMember).where(
            CampaignMember.grp == "control")))
        assert len(control) == 2
    with pytest.raises(NotFound):
        campaigns.mark_contacted(store, "SPRING", [999])
    view = campaigns.campaign_view(store, "SPRING")
    assert view["members"] == {"target": 8, "control": 2, "contacted": 8}
    assert view["target_segment"] == "At risk"


def test_campaign_input_and_spend(shop) -> None:
    store = shop.store
    with pytest.raises(InvalidInput) as err:
        campaign(store, channel="fax")
    assert err.value.field == "channel"
    with pytest.raises(InvalidInput) as err:
        campaign(store, starts_on=days(5), ends_on=days(1))
    assert err.value.field == "ends_on"
    with pytest.raises(InvalidInput) as err:
        campaign(store, control_share="1")
    assert err.value.field == "control_share"
    with pytest.raises(NotFound) as err:
        campaign(store, merchant="NOPE")
    assert err.value.field == "merchant"
    view = campaign(store, merchant="M1", budget="100")
    assert (view["code"], view["merchant"], view["spend"]) == ("SPRING", "M1", D("0.00"))
    with pytest.raises(AlreadyExists):
        campaign(store)
    campaigns.record_spend(store, "SPRING", "60.00")
    view = campaigns.record_spend(store, "SPRING", "45.50")
    assert view["spend"] == D("105.50") and view["over_budget"] is True
    with pytest.raises(InvalidInput):
        campaigns.record_spend(store, "SPRING", "-1")
    # a merchant works on its own campaigns only; analysts read
    catalog.add_merchant(store, "M2", "Shop Two", currency="USD")
    with acting_as(Principal("user:m2", "merchant", merchant_id=2)):
        with pytest.raises(PermissionDenied):
            campaigns.record_spend(store, "SPRING", "1")
        with pytest.raises(PermissionDenied):
            campaign(store, "GLOBAL")
        assert campaign(store, "M2SALE", merchant="M2")["merchant"] == "M2"
    with acting_as(Principal("user:ann", "analyst")):
        assert campaigns.campaign_view(store, "SPRING")["spend"] == D("105.50")
        with pytest.raises(PermissionDenied):
            campaigns.record_spend(store, "SPRING", "1")


# --------------------------------------------------------------------------- coupons at placement


def test_coupon_discounts_the_order_and_records_the_campaign(shop) -> None:
    store = shop.store
    campaign(store)
    coupon(store, "save10", campaign="SPRING")
    view = place(store, "O-1", [("SKU-2", 2)], coupon="Save10")  # 30.00, 10% off
    assert (view["coupon"], view["campaign"]) == ("SAVE10", "SPRING")
    assert view["discount"] == D("3.00") and view["total"] == D("27.00") + D("4.90")
    with store.read() as s:
        order = s.get(Order, view["order_id"])
        assert order.coupon_id is not None and order.campaign_id is not None
        redemption = s.scalar(select(CouponRedemption).where(CouponRedemption.order_id == order.id))
        assert redemption.discount == D("3.00")
    # channel discount first, then the coupon on what is left, then points on what is left after that
    coupon(store, "FIVE", kind="fixed", value="5.00")
    loyalty.adjust_points(store, customer_id(store, "C-1"), 5000, reason="test")
    with pytest.raises(InvalidInput) as err:
        place(store, "O-2", [("SKU-2", 1)], discount="2.00", coupon="FIVE", points=801)
    assert err.value.field == "points" and err.value.details["max_points"] == 800
    both = place(store, "O-2", [("SKU-2", 1)], discount="2.00", coupon="FIVE", points=800)
    assert both["discount"] == D("15.00") and both["total"] == D("4.90")
    # free shipping
    coupon(store, "SHIPFREE", kind="free_shipping")
    free = place(store, "O-3", [("SKU-1", 1)], coupon="SHIPFREE")
    assert (free["shipping"], free["discount"], free["total"]) == (D("0.00"), D("0.00"), D("9.99"))
    shown = coupons.coupon_view(store, "SHIPFREE")
    assert (shown["uses"], shown["discount_given"]) == (1, D("4.90"))
    view = campaigns.campaign_view(store, "SPRING")
    assert (view["redemptions"], view["attributed_orders"], view["attributed_revenue"]) == (1, 1, D("27.00"))
    assert_books(store)


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"min_spend": "50.00"}, "min_spend"),
        ({"valid_from": 1, "valid_to": 10}, "not_yet_valid"),  # days from today, resolved when the test runs
        ({"valid_from": -10, "valid_to": -1}, "expired"),
        ({"merchant": "M2"}, "merchant_mismatch"),
    ],
)
def test_coupon_conditions_are_checked_naming_coupon_and_reason(shop, kw: dict[str, Any], reason: str) -> None:
    store = shop.store
    catalog.add_merchant(store, "M2", "Shop Two", currency="USD")
    # dates are computed now, not at collection: a run that crosses midnight must not shift them
    coupon(store, "C1", **{k: days(v) if k.startswith("valid_") else v for k, v in kw.items()})
    with pytest.raises(InvalidInput) as err:
        place(store, "Q-1", [("SKU-2", 2)], coupon="C1")  # 30.00
    assert err.value.field == "coupon"
    assert err.value.details["reason"] == reason
    assert orders.list_orders(store) == []
    assert coupons.coupon_view(store, "C1")["uses"] == 0


def test_coupon_dates_follow_the_order_time_and_unknown_codes_are_refused(shop) -> None:
    store = shop.store
    coupon(store, "LATE", valid_from=days(-10), valid_to=days(-5))
    placed = place(store, "D-1", [("SKU-1", 1)], coupon="LATE", placed_at=(utcnow() - timedelta(days=7)).isoformat())
    assert placed["coupon"] == "LATE"
    with pytest.raises(NotFound) as err:
        place(store, "D-2", [("SKU-1", 1)], coupon="NOPE")
    assert err.value.field == "coupon"
    with pytest.raises(InvalidInput) as err:
        place(store, "D-3", [("SKU-1", 1)], coupon="")
    assert err.value.field == "coupon"


def test_coupon_input_is_validated(shop) -> None:
    store = shop.store
    for kw, field in (({"kind": "bogo"}, "kind"), ({"value": "0"}, "value"), ({"value": "101"}, "value"),
                      ({"kind": "fixed", "value": "0"}, "value"), ({"valid_to": days(-5)}, "valid_to"),
                      ({"max_uses": 0}, "max_uses"), ({"min_spend": "abc"}, "min_spend"),
                      ({"campaign": "NOPE"}, "campaign")):
        with pytest.raises(DomainError) as err:
            coupon(store, "BAD", **kw)
        assert err.value.field == field, kw
    with pytest.raises(InvalidInput) as err:
        coupon(store, "HAS SPACE")
    assert err.value.field == "code"
    # a coupon of a merchant's campaign belongs to that merchant
    catalog.add_merchant(store, "M2", "Shop Two", currency="USD")
    campaign(store, merchant="M2")
    assert coupon(store, "M2ONLY", campaign="SPRING")["merchant"] == "M2"
    with pytest.raises(InvalidInput) as err:
        coupon(store, "MIXED", campaign="SPRING", merchant="M1")
    assert err.value.field == "merchant"


def _race(store: Store, n: int, doc: Any) -> tuple[list[dict[str, Any]], list[Exception]]:
    start = threading.Barrier(n)
    outcomes: list[Any] = [None] * n

    def buy(i: int) -> None:
        start.wait(timeout=60)
        try:
            outcomes[i] = place(store, **doc(i))
        except DomainError as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=buy, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return [o for o in outcomes if isinstance(o, dict)], [o for o in outcomes if not isinstance(o, dict)]


def test_coupon_use_limit_holds_exactly_under_concurrency(shop) -> None:
    store = shop.store
    coupon(store, "FIRST3", max_uses=3)
    skus = own_skus(store, 10)
    placed, refused = _race(store, 10, lambda i: {"ref": f"U-{i}", "lines": [(skus[i], 1)], "customer": f"C-{i}",
                                                  "coupon": "FIRST3"})
    assert len(placed) == 3
    assert all(isinstance(e, InvalidInput) and e.field == "coupon" and e.details["reason"] == "used_up"
               for e in refused), refused
    assert coupons.coupon_view(store, "FIRST3")["uses"] == 3
    assert coupons.coupon_view(store, "FIRST3")["redemptions"] == 3


def test_coupon_per_customer_limit_holds_exactly_under_concurrency(shop) -> None:
    store = shop.store
    coupon(store, "TWICE", max_uses_per_customer=2)
    skus = own_skus(store, 10)
    placed, refused = _race(store, 10, lambda i: {"ref": f"P-{i}", "lines": [(skus[i], 1)], "customer": "C-1",
                                                  "coupon": "TWICE"})
    assert len(placed) == 2
    assert all(isinstance(e, InvalidInput) and e.details["reason"] == "customer_limit" for e in refused), refused
    # another customer still may
    assert place(store, "P-other", [("SKU-1", 1)], customer="C-2", coupon="TWICE")["coupon"] == "TWICE"
    shown = coupons.coupon_view(store, "TWICE")
    assert (shown["uses"], shown["customers"]) == (3, 2)


def test_cancelling_releases_the_coupon_use(shop) -> None:
    store = shop.store
    coupon(store, "ONCE", max_uses=1)
    first = place(store, "Z-1", [("SKU-1", 1)], coupon="ONCE")
    with pytest.raises(InvalidInput):
        place(store, "Z-2", [("SKU-1", 1)], coupon="ONCE")
    orders.cancel_order(store, first["order_id"])
    assert coupons.coupon_view(store, "ONCE")["uses"] == 0
    assert place(store, "Z-3", [("SKU-1", 1)], coupon="ONCE")["coupon"] == "ONCE"
    # a declined payment cancels and releases too
    coupon(store, "ONCE2", max_uses=1)
    gone = place(store, "Z-5", [("SKU-1", 1)], coupon="ONCE2", token="tok_decline")
    assert gone["status"] == "cancelled" and gone["coupon"] == "ONCE2"  # attribution kept
    assert coupons.coupon_view(store, "ONCE2")["uses"] == 0
    with store.read() as s:
        assert s.scalar(select(Coupon.uses).where(Coupon.code == "ONCE")) == 1


def test_documents_without_the_new_fields_hash_as_before(shop) -> None:
    from ops_store.services.order_document import parse_order_document
    from tests.factories import order_doc

    doc = parse_order_document(order_doc("H-1", [("SKU-1", 1)]))
    body = doc.model_dump(mode="json")
    del body["coupon"], body["points"]
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    import hashlib

    assert doc.payload_hash() == hashlib.sha256(canonical.encode()).hexdigest()
    assert parse_order_document(order_doc("H-1", [("SKU-1", 1)], coupon="X")).payload_hash() != doc.payload_hash()


def test_loyalty_and_coupon_together_keep_the_books(store: Store) -> None:
    make_shop(store, stock_w1=40)
    coupon(store, "TEN", kind="fixed", value="10.00", max_uses=5)
    place(store, "G-0", [("SKU-1", 1)], customer="C-1")
    cid = customer_id(store, "C-1")
    loyalty.adjust_points(store, cid, 300, reason="bonus")
    view = place(store, "G-1", [("SKU-3", 1)], customer="C-1", coupon="TEN", points=300)  # 40 - 10 - 3
    assert view["discount"] == D("13.00")
    orders.cancel_order(store, view["order_id"])
    assert balance(store, cid) == 300
    assert coupons.coupon_view(store, "TEN")["uses"] == 0
    assert_books(store)


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def cli(cli_invoke):  # type: ignore[no-untyped-def]
    return cli_invoke


def test_cli_campaigns_and_coupons(shop, cli, tmp_path) -> None:
    store = shop.store
    ids = customers(store, 5)
    made = cli(campaign_app, "create", "summer", "--name", "Summer", "--channel", "sms", "--starts-on", days(0),
               "--ends-on", days(10), "--budget", "250", "--control-share", "0.4", "--merchant", "M1")
    assert (made["code"], made["channel"], made["control_share"]) == ("SUMMER", "sms", "0.400")
    assert cli(campaign_app, "create", "X", "--name", "X", "--channel", "fax", "--starts-on", days(0),
               "--ends-on", days(1), "--budget", "1", ok=False)["error"]["field"] == "channel"
    listing = tmp_path / "ids.txt"
    listing.write_text("\n".join(map(str, ids[2:])) + "\n")
    split = cli(campaign_app, "assign", "SUMMER", "--customer", str(ids[0]), "--customer", str(ids[1]),
                "--customers-file", str(listing), "--seed", "3")
    assert (split["target"], split["control"]) == (3, 2)
    assert cli(campaign_app, "spend", "SUMMER", "--amount", "80.00")["spend"] == "80.00"
    with store.read() as s:
        target = [m.customer_id for m in s.scalars(select(CampaignMember).where(CampaignMember.grp == "target"))]
        control = [m.customer_id for m in s.scalars(select(CampaignMember).where(CampaignMember.grp == "control"))]
    assert cli(campaign_app, "contacted", "SUMMER", "--customer", str(target[0]))["contacted"] == 1
    assert cli(campaign_app, "contacted", "SUMMER", "--customer", str(control[0]), ok=False)["error"]["code"] == \
        "conflict"
    assert [c["code"] for c in cli(campaign_app, "list")] == ["SUMMER"]
    made = cli(coupon_app, "create", "sms5", "--kind", "fixed", "--value", "5", "--valid-from", days(0),
               "--valid-to", days(10), "--campaign", "SUMMER", "--max-uses", "100", "--max-uses-per-customer", "1")
    assert (made["code"], made["merchant"], made["max_uses"]) == ("SMS5", "M1", 100)
    place(store, "CL-1", [("SKU-2", 1)], coupon="SMS5")
    assert cli(coupon_app, "show", "SMS5")["uses"] == 1
    shown = cli(campaign_app, "show", "SUMMER")
    assert shown["members"] == {"target": 3, "control": 2, "contacted": 1}
    assert (shown["redemptions"], shown["attributed_revenue"]) == (1, "10.00")
    assert cli(coupon_app, "show", "NOPE", ok=False)["error"]["code"] == "not_found"
