"""Ground truth for checking analyses: planted affinities, true campaign uplift, customer types
and tastes, demand lost to stock-outs, price changes and the simulation's settings
(landing/ground_truth/)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl

from ops_store.simulate.calendar import Calendar
from ops_store.simulate.campaigns import SimCampaign, true_uplift
from ops_store.simulate.catalog import CARRIERS, CATEGORIES, Catalog
from ops_store.simulate.config import DAY, SimConfig
from ops_store.simulate.crm import LATE_TICKET_RATE, TICKET_RATE
from ops_store.simulate.customers import SECOND_FAVOURITE_SHARE, TASTE_BETA, Customers
from ops_store.simulate.engine import History
from ops_store.simulate.fulfilment import DECLINE_RATE, LATE_RETURN_FACTOR, UNPAID_TRANSFER_RATE


def write_truth(root: Path, cfg: SimConfig, cal: Calendar, cat: Catalog, cust: Customers,
                campaigns: list[SimCampaign], hist: History) -> list[str]:
    root.mkdir(parents=True, exist_ok=True)
    o, ln = hist.orders, hist.lines
    live = ~(o["declined"] | o["unpaid"])
    live_line = live[ln["order"]]
    n_orders = np.bincount(o["merchant"][live], minlength=len(cat.merchant_code))
    has = np.zeros(cat.n, dtype=np.int64)
    np.add.at(has, ln["product"][live_line], 1)
    pairs = np.flatnonzero(cat.partner >= 0)
    lines_o, lines_p = ln["order"][live_line].astype(np.int64), ln["product"][live_line]
    key_set = np.sort(lines_o * cat.n + lines_p)
    by_product = np.argsort(lines_p, kind="stable")
    bounds = np.searchsorted(lines_p[by_product], np.arange(cat.n + 1))
    rows = []
    for a in pairs.tolist():
        b = int(cat.partner[a])
        orders_a = lines_o[by_product[bounds[a]:bounds[a + 1]]]
        wanted = orders_a * cat.n + b
        at = np.minimum(np.searchsorted(key_set, wanted), max(len(key_set) - 1, 0))
        both = int((key_set[at] == wanted).sum()) if len(key_set) else 0
        n_m = max(int(n_orders[cat.merchant[a]]), 1)
        lift = (both / n_m) / max((has[a] / n_m) * (has[b] / n_m), 1e-12) if has[a] and has[b] else None
        rows.append({"merchant": cat.merchant_code[cat.merchant[a]], "sku_a": cat.sku[a], "sku_b": cat.sku[b],
                     "planted_probability": float(cat.partner_prob[a]), "orders_with_a": int(has[a]),
                     "orders_with_b": int(has[b]), "orders_with_both": int(both), "merchant_orders": n_m,
                     "observed_lift": lift})
    pl.DataFrame(rows, schema={"merchant": pl.Utf8, "sku_a": pl.Utf8, "sku_b": pl.Utf8,
                               "planted_probability": pl.Float64, "orders_with_a": pl.Int64,
                               "orders_with_b": pl.Int64, "orders_with_both": pl.Int64,
                               "merchant_orders": pl.Int64, "observed_lift": pl.Float64}
                 ).write_parquet(root / "affinities.parquet")

    day = o["placed_t"] // DAY
    uplift = []
    for c in campaigns:
        in_window = live & (day >= c.start) & (day <= c.end)
        buyers = np.unique(o["customer"][in_window])
        bought = np.isin(c.members, buyers)
        realised_t = float(bought[c.target].mean()) if c.target.any() else 0.0
        realised_c = float(bought[~c.target].mean()) if (~c.target).any() else 0.0
        uplift.append({"campaign": c.code, "starts_on": (cfg.start + timedelta(days=c.start)).isoformat(),
                       "ends_on": (cfg.start + timedelta(days=c.end)).isoformat(),
                       "targets": int(c.target.sum()), "controls": int((~c.target).sum()),
                       "relative_rate_uplift": c.uplift, **true_uplift(c, cust, cal),
                       "realised_conversion_target": realised_t, "realised_conversion_control": realised_c})
    (root / "campaign_uplift.json").write_text(json.dumps(uplift, indent=2))

    pl.DataFrame({
        "customer_ref": [cust.ref(i) for i in range(cust.n)],
        "acquired_on": [cfg.start + timedelta(days=int(d)) for d in cust.acquired.tolist()],
        "churned_from": [cfg.start + timedelta(days=int(d)) for d in cust.churn.tolist()],
        "repeat_rate_per_day": cust.rate, "one_off": cust.rate == 0,
        "favourite_categories": [[CATEGORIES[c][0] for c in row if c >= 0] for row in cust.favourite.tolist()],
        "taste_strength": cust.taste,
    }, schema_overrides={"favourite_categories": pl.List(pl.Utf8)}).write_parquet(root / "customers.parquet")
    lost = hist.book.lost if hist.book else []
    lost_day = np.concatenate([np.full(len(p), d) for d, p, _ in lost]) if lost else np.zeros(0, np.int64)
    lost_p = np.concatenate([p for _, p, _ in lost]) if lost else np.zeros(0, np.int64)
    lost_q = np.concatenate([q for _, _, q in lost]) if lost else np.zeros(0, np.int64)
    pl.DataFrame({"date": [cfg.start + timedelta(days=int(d)) for d in lost_day.tolist()],
                  "sku": [cat.sku[p] for p in lost_p.tolist()], "quantity": lost_q},
                 schema={"date": pl.Date, "sku": pl.Utf8, "quantity": pl.Int64}).write_parquet(
        root / "lost_demand.parquet")
    changed = np.flatnonzero(cat.change_day < cfg.days)
    pl.DataFrame({"sku": [cat.sku[p] for p in changed.tolist()],
                  "changed_on": [cfg.start + timedelta(days=int(d)) for d in cat.change_day[changed].tolist()],
                  "old_price": cat.base_price[changed] / 100,
                  "new_price": cat.price_on(changed, cfg.days - 1) / 100}).write_parquet(root / "price_changes.parquet")
    settings = {
        "seed": cfg.seed, "orders_requested": cfg.orders, "days": cfg.days, "start": cfg.start.isoformat(),
        "end": cfg.end.isoformat(), "weekday_factors_mon_to_sun": list(cfg.weekday_factors),
        "return_rate_by_category": {c[0]: c[4] for c in CATEGORIES}, "late_return_factor": LATE_RETURN_FACTOR,
        "carrier_delay_rate": {c[0]: c[2] for c in CARRIERS}, "ticket_rate": TICKET_RATE,
        "late_ticket_rate": LATE_TICKET_RATE, "card_decline_rate": DECLINE_RATE[0],
        "e_wallet_decline_rate": DECLINE_RATE[1], "unpaid_transfer_rate": UNPAID_TRANSFER_RATE,
        "one_off_share": cfg.one_off_share, "taste_strength_beta": list(TASTE_BETA),
        "second_favourite_category_share": SECOND_FAVOURITE_SHARE,
        "daily_demand_weight": [round(float(w), 4) for w in cal.weight],
    }
    (root / "settings.json").write_text(json.dumps(settings, indent=2))
    return ["affinities.parquet", "campaign_uplift.json", "customers.parquet", "lost_demand.parquet",
            "price_changes.parquet", "settings.json"]
