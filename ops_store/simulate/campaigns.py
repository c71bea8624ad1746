"""Campaigns with contacted (target) and held-out (control) members. Contact multiplies a target
member's repeat-purchase rate by (1 + uplift) inside the window; control members are untouched."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ops_store.simulate.calendar import Calendar
from ops_store.simulate.customers import Customers

CONTROL_SHARE = 0.2
WINDOW_DAYS = 14


@dataclass
class SimCampaign:
    code: str
    start: int
    end: int  # last day inside the window
    members: np.ndarray
    target: np.ndarray  # bool per member
    uplift: float  # relative rise of the repeat rate for targets
    coupon_pct: int


def build_campaigns(days: int, cust: Customers, rng: np.random.Generator) -> list[SimCampaign]:
    out = []
    for i, start in enumerate(range(30, days - WINDOW_DAYS - 1, 45)):
        known = np.flatnonzero(cust.acquired < start)
        if len(known) < 20:
            continue
        size = min(len(known), max(20, int(len(known) * 0.3)), 20_000)
        members = np.sort(rng.choice(known, size=size, replace=False))
        target = rng.random(size) >= CONTROL_SHARE
        out.append(SimCampaign(f"SIM-CMP-{i + 1:03d}", start, start + WINDOW_DAYS - 1, members, target,
                               float(rng.choice([0.3, 0.5, 0.8])), int(rng.choice([10, 15]))))
    return out


def factor_on(day: int, campaigns: list[SimCampaign], n_customers: int) -> np.ndarray:
    factor = np.ones(n_customers)
    for c in campaigns:
        if c.start <= day <= c.end:
            factor[c.members[c.target]] *= 1.0 + c.uplift
    return factor


def true_uplift(c: SimCampaign, cust: Customers, cal: Calendar) -> dict[str, float]:
    """Expected conversion (at least one order in the window) of each group from the rates."""
    days = np.arange(c.start, c.end + 1)
    alive = (cust.acquired[c.members][:, None] < days[None, :]) & (cust.churn[c.members][:, None] > days[None, :])
    exposure = (alive * cal.weight[days][None, :]).sum(axis=1) * cust.rate[c.members]
    p_base = 1 - np.exp(-exposure)
    p_contacted = 1 - np.exp(-exposure * (1 + c.uplift))
    t, k = c.target, ~c.target
    return {
        "expected_conversion_target": float(p_contacted[t].mean()) if t.any() else 0.0,
        "expected_conversion_target_without_contact": float(p_base[t].mean()) if t.any() else 0.0,
        "expected_conversion_control": float(p_base[k].mean()) if k.any() else 0.0,
        "true_conversion_uplift": float((p_contacted[t] - p_base[t]).mean()) if t.any() else 0.0,
    }
