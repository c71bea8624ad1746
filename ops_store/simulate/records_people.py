"""Frames for people: customers (personal data encrypted, blind indexes), addresses, consents,
campaigns with their members and coupons, loyalty accounts and entries."""

from __future__ import annotations

import json

import numpy as np

from ops_store.simulate.campaigns import CONTROL_SHARE, SimCampaign
from ops_store.simulate.catalog import CATEGORIES, Catalog
from ops_store.simulate.config import DAY
from ops_store.simulate.customers import COUNTRIES, Customers, pii_rows
from ops_store.simulate.frame import Frame
from ops_store.simulate.money import WELCOME_PCT, Money

ACTOR = "simulator"


def customer_frames(cust: Customers, cat: Catalog, cipher, seed: int, tick) -> list[Frame]:  # type: ignore[no-untyped-def]
    n = cust.n
    pii = []
    for i, row in enumerate(pii_rows(cust, cipher, seed)):
        pii.append(row)
        if i % 5000 == 4999:
            tick(5000)
    tick(n % 5000)
    cols = list(zip(*pii, strict=True)) if pii else [[]] * 6
    created = cust.acquired * DAY
    favourite = [json.dumps([CATEGORIES[int(cat.category[np.flatnonzero(cat.merchant == m)[0]])][0]])
                 for m in range(len(cat.merchant_code))]
    customers = (Frame("customers").add("customer_ref", [cust.ref(i) for i in range(n)])
                 .add("name_enc", list(cols[0])).add("email_enc", list(cols[1])).add("phone_enc", list(cols[2]))
                 .add("email_bidx", list(cols[3])).add("phone_bidx", list(cols[4])).add("region", cust.region)
                 .add("country", np.array([c[0] for c in COUNTRIES], dtype=object)[cust.country].tolist())
                 .add("preferred_categories", [favourite[m] for m in cust.merchant.tolist()])
                 .add("erased_at", None).add("created_at", created, "t").add("updated_at", created, "t"))
    idx = np.arange(n)
    addresses = (Frame("customer_addresses").add("customer_id", idx, "ref:customers").add("kind", "shipping")
                 .add("street_enc", list(cols[5])).add("city", cust.region)
                 .add("postal_code", [f"{10000 + (i * 7919) % 89999}" for i in range(n)])
                 .add("region", cust.region)
                 .add("country", np.array([c[0] for c in COUNTRIES], dtype=object)[cust.country].tolist())
                 .add("is_default", True).add("created_at", created, "t").add("updated_at", created, "t"))
    rng = np.random.default_rng(seed + 11)
    email_ok = rng.random(n) < 0.7
    sms_ok = rng.random(n) < 0.3
    consents = (Frame("customer_consents").add("customer_id", np.r_[idx, idx], "ref:customers")
                .add("channel", ["email"] * n + ["sms"] * n).add("granted", np.r_[email_ok, sms_ok].tolist())
                .add("source", "checkout").add("recorded_at", np.r_[created, created], "t"))
    return [customers, addresses, consents]


def marketing_frames(campaigns: list[SimCampaign], money: Money, days: int) -> list[Frame]:
    nc = len(campaigns)
    members = np.concatenate([c.members for c in campaigns]) if nc else np.zeros(0, np.int64)
    which = np.concatenate([np.full(len(c.members), i) for i, c in enumerate(campaigns)]) if nc \
        else np.zeros(0, np.int64)
    target = np.concatenate([c.target for c in campaigns]) if nc else np.zeros(0, bool)
    start = np.array([c.start for c in campaigns], dtype=np.int64)
    n_target = np.array([int(c.target.sum()) for c in campaigns], dtype=np.int64)
    camp = (Frame("campaigns").add("code", [c.code for c in campaigns])
            .add("name", [f"Come back for {c.coupon_pct}% off" for c in campaigns]).add("merchant_id", None)
            .add("channel", "email").add("starts_on", start, "day")
            .add("ends_on", np.array([c.end for c in campaigns], dtype=np.int64), "day")
            .add("budget", n_target * 10, "cents").add("spend", n_target * 5, "cents")
            .add("target_segment", "past buyers").add("control_share", int(CONTROL_SHARE * 1000), "dec:3")
            .add("created_at", (start - 7) * DAY, "t").add("updated_at", start * DAY, "t"))
    contacted = np.where(target, start[which] * DAY + 9 * 3600, -1)
    member = (Frame("campaign_members").add("campaign_id", which, "ref:campaigns")
              .add("customer_id", members, "ref:customers").add("grp", np.where(target, "target", "control").tolist())
              .add("contacted_at", [None if v < 0 else v for v in contacted.tolist()], "t_opt")
              .add("created_at", (start[which] - 1) * DAY, "t"))
    uses = np.bincount(money.coupon[money.coupon >= 0], minlength=nc + 1)
    codes = ["SIM-WELCOME10"] + [f"{c.code}-{c.coupon_pct}" for c in campaigns]
    coupons = (Frame("coupons").add("code", codes).add("campaign_id", np.arange(-1, nc), "ref:campaigns")
               .add("merchant_id", None).add("kind", "percent")
               .add("value", np.r_[WELCOME_PCT, [c.coupon_pct for c in campaigns]].astype(np.int64) * 100, "cents")
               .add("min_spend", 0, "cents").add("valid_from", np.r_[0, start].astype(np.int64), "day")
               .add("valid_to", np.r_[days + 365, [c.end for c in campaigns]].astype(np.int64), "day")
               .add("max_uses", None).add("max_uses_per_customer", [1] + [None] * nc).add("uses", uses)
               .add("active", True).add("created_at", np.r_[0, (start - 7) * DAY].astype(np.int64), "t")
               .add("updated_at", np.r_[0, start * DAY].astype(np.int64), "t"))
    return [camp, member, coupons]


def loyalty_frames(money: Money, n_customers: int) -> list[Frame]:
    ly = money.loyalty
    order = np.arange(len(ly["t"]))
    balance = np.bincount(ly["customer"], weights=ly["points"], minlength=n_customers).astype(np.int64)
    has = np.flatnonzero(np.bincount(ly["customer"], minlength=n_customers) > 0)
    last = np.zeros(n_customers, dtype=np.int64)
    np.maximum.at(last, ly["customer"], ly["t"])
    kinds = np.where(ly["kind"] == 0, "earn", "redeem").tolist()
    entries = (Frame("loyalty_entries").add("customer_id", ly["customer"][order], "ref:customers").add("kind", kinds)
               .add("points", ly["points"]).add("remaining", ly["remaining"])
               .add("order_id", ly["order"], "ref:orders")
               .add("expires_on", [None if e < 0 else e for e in ly["expires"].tolist()], "day_opt")
               .add("note", None).add("actor", ACTOR).add("created_at", ly["t"], "t"))
    accounts = (Frame("loyalty_accounts", has_id=False).add("customer_id", has, "ref:customers")
                .add("balance", balance[has]).add("tier", "bronze").add("updated_at", last[has], "t"))
    return [accounts, entries]
