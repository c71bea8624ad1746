"""Demand over time: weekly and yearly seasonality, trend, holiday peaks and promotions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from ops_store.simulate.config import SimConfig


@dataclass(frozen=True)
class Calendar:
    dates: list[date]
    weekday: np.ndarray  # 0 = Monday
    weight: np.ndarray  # relative demand per day (mean about 1)
    holiday: np.ndarray  # holiday multiplier alone (1 = none)
    promo_pct: np.ndarray  # (merchants, days): order discount in percent while a promotion runs


def _black_friday(year: int) -> date:
    first = date(year, 11, 1)
    thursdays = [first + timedelta(days=i) for i in range(30) if (first + timedelta(days=i)).weekday() == 3]
    return thursdays[3] + timedelta(days=1)


def holiday_factor(day: date) -> float:
    bf = _black_friday(day.year)
    if day == bf:
        return 2.6
    if bf < day <= bf + timedelta(days=3):  # the weekend and Cyber Monday
        return 1.9
    if day.month == 12 and day.day <= 20:
        return 1.35
    if day.month == 12 and 24 <= day.day <= 26:
        return 0.6
    if day.month == 1 and day.day == 1:
        return 0.5
    if day.month == 2 and 10 <= day.day <= 14:
        return 1.2
    return 1.0


def build_calendar(cfg: SimConfig, rng: np.random.Generator) -> Calendar:
    dates = [cfg.start + timedelta(days=i) for i in range(cfg.days)]
    weekday = np.array([d.weekday() for d in dates], dtype=np.int64)
    doy = np.array([d.timetuple().tm_yday for d in dates], dtype=np.float64)
    yearly = 1.0 + 0.12 * np.cos(2 * np.pi * (doy - 350) / 365.25)  # high in winter, low in summer
    trend = 1.0 + 0.35 * np.arange(cfg.days) / 365.0  # the shop grows 35% a year
    holiday = np.array([holiday_factor(d) for d in dates])
    weekly = np.asarray(cfg.weekday_factors)[weekday]
    promo = np.zeros((cfg.n_merchants, cfg.days))
    bf_days = np.array([holiday_factor(d) >= 1.9 for d in dates])
    promo[:, bf_days] = 20.0  # every merchant runs a Black Friday sale
    for m in range(cfg.n_merchants):  # and one short promotion a quarter of its own
        for start in range(int(rng.integers(0, 60)), cfg.days, 91):
            promo[m, start:start + 5] = np.maximum(promo[m, start:start + 5], float(rng.choice([10.0, 15.0])))
    boost = 1.0 + 0.15 * (promo > 0).mean(axis=0)
    weight = weekly * yearly * trend * holiday * boost
    return Calendar(dates, weekday, weight / weight.mean(), holiday, promo)
