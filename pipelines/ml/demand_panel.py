"""Daily demand history as a dense panel (series x day) and the features a forecast made at an
origin day may use: everything before the origin, plus what is known ahead for the target day
(calendar, the merchant's planned campaigns).

A series is one product in one warehouse. Censored days (out of stock, nothing sold: lost demand,
not zero demand) and days before a series began are NaN, so neither is learned from. Every window
statistic is taken over the days that are known; a series with too little history leans on its
category's behaviour (the features say how much history there is, and the target is scaled by a
level shrunk towards the category's)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

KEYS = ["product_id", "warehouse_id"]
WINDOWS = (7, 14, 28, 56, 112)
SHRINK_DAYS = 14.0  # pseudo-days of category behaviour mixed into a series' level
MIN_LEVEL = 0.02  # units per day: the smallest scale a target is divided by

FEATURES = [
    "horizon", "weekday", "day_of_month", "month", "is_campaign_day",
    *[f"mean_{w}" for w in WINDOWS], "weekday_mean_4w", "weekday_ratio", "cat_weekday_ratio",
    "cat_mean_28", "cat_trend", "known_days_28", "zero_share_28", "days_since_sale", "age_days",
    "level", "trend", "price_ratio", "discount_share_28", "competitor_price_index",
]

RELATIVE = [*[f"mean_{w}" for w in WINDOWS], "weekday_mean_4w", "cat_mean_28"]


class TooLittleHistory(ValueError):
    """The shop's history is too short to train or backtest (the message says how much is needed)."""


@dataclass
class Panel:
    """Dense arrays over series (rows) and consecutive days (columns)."""

    series: pl.DataFrame  # KEYS + category + merchant_id, in row order
    first_day: date
    units: np.ndarray  # float, NaN where censored or before the series began
    born: np.ndarray  # int, the day index each series began
    campaign: np.ndarray  # bool, the merchant runs a campaign that day (known ahead)
    price_ratio: np.ndarray  # average sale price / list price, NaN without sales
    discount: np.ndarray  # discount share of gross sales, NaN without sales
    competitor: np.ndarray  # competitor price index, carried forward
    category: np.ndarray  # int code per series

    @property
    def n_days(self) -> int:
        return self.units.shape[1]

    def day(self, index: int) -> date:
        return self.first_day + timedelta(days=int(index))


def build_panel(history: pl.DataFrame) -> Panel:
    """history: one row per series and day (demand_daily mart columns: product_id, warehouse_id,
    merchant_id, category, day, units, is_censored, avg_unit_price, list_price, discount_share,
    is_campaign_day, competitor_price_index). Days may run past a series' first day only."""
    if history.is_empty():
        raise TooLittleHistory("no demand history yet: no orders in marts.demand_daily")
    first, last = history["day"].min(), history["day"].max()
    n_days = (last - first).days + 1
    series = (history.group_by(KEYS).agg(pl.col("category").first(), pl.col("merchant_id").first(),
                                         pl.col("day").min().alias("born_on"))
              .sort(KEYS).with_row_index("row"))
    frame = history.join(series.select([*KEYS, "row"]), on=KEYS).with_columns(
        ((pl.col("day") - pl.lit(first)).dt.total_days()).alias("col"))
    rows, cols = frame["row"].to_numpy(), frame["col"].to_numpy()
    shape = (len(series), n_days)

    def dense(values: pl.Series | np.ndarray, fill: float = np.nan) -> np.ndarray:
        out = np.full(shape, fill)
        out[rows, cols] = np.asarray(values, dtype=float)
        return out

    units = dense(frame["units"].fill_null(0.0))
    units[rows[frame["is_censored"].fill_null(False).to_numpy()],
          cols[frame["is_censored"].fill_null(False).to_numpy()]] = np.nan
    ratio = (frame["avg_unit_price"].cast(pl.Float64) / frame["list_price"].cast(pl.Float64)).fill_nan(None)
    competitor = _carry_forward(dense(frame["competitor_price_index"].cast(pl.Float64).fill_null(np.nan)))
    categories = series["category"].fill_null("").to_numpy()
    _, category = np.unique(categories, return_inverse=True)
    return Panel(series=series.drop("row"), first_day=first, units=units,
                 born=np.array([(d - first).days for d in series["born_on"]]),
                 campaign=dense(frame["is_campaign_day"].fill_null(False).cast(pl.Float64), 0.0) > 0,
                 price_ratio=dense(ratio.fill_null(np.nan)),
                 discount=np.where(units > 0, dense(frame["discount_share"].fill_null(0.0)), np.nan),
                 competitor=competitor, category=category)


def _carry_forward(values: np.ndarray) -> np.ndarray:
    """Each NaN takes the last known value to its left (per row)."""
    idx = np.where(np.isnan(values), 0, np.arange(values.shape[1]))
    np.maximum.accumulate(idx, axis=1, out=idx)
    out = values[np.arange(values.shape[0])[:, None], idx]
    out[:, 0] = values[:, 0]
    return np.where(np.isnan(values) & (idx == 0), values[:, :1], out)


class Windows:
    """Prefix sums that give the mean of the known days in [t - w, t) for any origin t."""

    def __init__(self, values: np.ndarray) -> None:
        known = ~np.isnan(values)
        zeros = np.zeros((values.shape[0], 1))
        self.total = np.hstack([zeros, np.cumsum(np.where(known, values, 0.0), axis=1)])
        self.count = np.hstack([zeros, np.cumsum(known, axis=1)])

    def sums(self, t: int, w: int) -> tuple[np.ndarray, np.ndarray]:
        lo = max(t - w, 0)
        return self.total[:, t] - self.total[:, lo], self.count[:, t] - self.count[:, lo]

    def mean(self, t: int, w: int) -> np.ndarray:
        total, count = self.sums(t, w)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, total / np.maximum(count, 1), np.nan)


@dataclass
class Context:
    """What is computed once per panel and shared by every origin."""

    panel: Panel
    windows: Windows
    zero: Windows
    category_daily: np.ndarray  # category x day: mean units per known series-day
    category_windows: Windows
    last_sale: np.ndarray  # per series and day: the last day index with a sale (or -1)
    price: Windows
    discount: Windows


def context(panel: Panel) -> Context:
    units = panel.units
    n_cat = int(panel.category.max()) + 1 if len(panel.category) else 0
    known = ~np.isnan(units)
    cat_total = np.zeros((n_cat, panel.n_days))
    cat_count = np.zeros((n_cat, panel.n_days))
    np.add.at(cat_total, panel.category, np.where(known, units, 0.0))
    np.add.at(cat_count, panel.category, known)
    with np.errstate(invalid="ignore", divide="ignore"):
        category_daily = np.where(cat_count > 0, cat_total / np.maximum(cat_count, 1), np.nan)
    sold = np.where(np.nan_to_num(units) > 0, np.arange(panel.n_days), -1)
    return Context(panel, Windows(units), Windows(np.where(known, (units == 0).astype(float), np.nan)),
                   category_daily, Windows(category_daily), np.maximum.accumulate(sold, axis=1),
                   Windows(panel.price_ratio), Windows(panel.discount))


def origin_features(ctx: Context, t: int, horizon: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Feature rows for every series that exists before day index t and each horizon 1..horizon:
    (X [rows x FEATURES], series index per row, target day index per row). Rows are ordered
    series-major, horizon-minor."""
    p = ctx.panel
    live = np.flatnonzero(p.born < t)
    cat = p.category[live]
    means = {w: ctx.windows.mean(t, w)[live] for w in WINDOWS}
    known28 = ctx.windows.sums(t, 28)[1][live]
    cat28 = ctx.category_windows.mean(t, 28)[cat]
    cat_prev = ctx.category_windows.mean(t - 28, 28)[cat] if t > 28 else np.full(len(live), np.nan)
    # the level the target is scaled by: the series' last 56 days shrunk towards its category
    total56, known56 = ctx.windows.sums(t, 56)
    cat_level = np.nan_to_num(ctx.category_windows.mean(t, 56)[cat])
    level = (total56[live] + SHRINK_DAYS * cat_level) / (known56[live] + SHRINK_DAYS)
    level = np.maximum(level, MIN_LEVEL)
    with np.errstate(invalid="ignore", divide="ignore"):
        trend = means[28] / means[112]
        cat_trend = cat28 / cat_prev
    # weekday profile: the mean of the same weekday over the last 4 weeks, per weekday offset
    dow = np.full((len(live), 7), np.nan)
    cat_dow = np.full((len(live), 7), np.nan)
    for offset in range(7):
        picks = [t + offset - 7 * k for k in range(1, 5) if t + offset - 7 * k >= 0]
        if picks:
            with np.errstate(invalid="ignore"):
                dow[:, offset] = _nanmean(p.units[np.ix_(live, picks)])
                cat_dow[:, offset] = _nanmean(ctx.category_daily[np.ix_(cat, picks)])
    with np.errstate(invalid="ignore", divide="ignore"):
        weekday_ratio = dow / means[28][:, None]
        cat_ratio = cat_dow / cat28[:, None]
    static = np.column_stack([
        *[means[w] for w in WINDOWS], known28, ctx.zero.mean(t, 28)[live],
        np.where(ctx.last_sale[live, t - 1] >= 0, t - 1 - ctx.last_sale[live, t - 1], t - p.born[live]),
        t - p.born[live], level, trend, ctx.price.mean(t, 28)[live], ctx.discount.mean(t, 28)[live],
        p.competitor[live, t - 1], cat28, cat_trend])
    h = np.arange(1, horizon + 1)
    target = t + h - 1
    target_days = [p.day(int(d)) for d in target]
    rows = len(live) * horizon
    series_index = np.repeat(live, horizon)
    offsets = np.tile((h - 1) % 7, len(live))
    row_of = np.repeat(np.arange(len(live)), horizon)
    campaign_ahead = np.zeros(rows)
    inside = target < p.n_days
    if inside.any():
        campaign_ahead = p.campaign[np.ix_(live, np.minimum(target, p.n_days - 1))].astype(float)
        campaign_ahead[:, ~inside] = 0.0
        campaign_ahead = campaign_ahead.reshape(-1)
    s = static[row_of]
    columns = {
        "horizon": np.tile(h, len(live)).astype(float),
        "weekday": np.tile([d.weekday() for d in target_days], len(live)).astype(float),
        "day_of_month": np.tile([d.day for d in target_days], len(live)).astype(float),
        "month": np.tile([d.month for d in target_days], len(live)).astype(float),
        "is_campaign_day": campaign_ahead,
        **{f"mean_{w}": s[:, i] for i, w in enumerate(WINDOWS)},
        "weekday_mean_4w": dow[row_of, offsets],
        "weekday_ratio": weekday_ratio[row_of, offsets],
        "cat_weekday_ratio": cat_ratio[row_of, offsets],
        "known_days_28": s[:, 5], "zero_share_28": s[:, 6], "days_since_sale": s[:, 7], "age_days": s[:, 8],
        "level": s[:, 9], "trend": s[:, 10], "price_ratio": s[:, 11], "discount_share_28": s[:, 12],
        "competitor_price_index": s[:, 13], "cat_mean_28": s[:, 14], "cat_trend": s[:, 15],
    }
    # volumes are relative to the series' level (the target is scaled by it too), so one model
    # serves fast and slow movers alike
    for name in RELATIVE:
        columns[name] = columns[name] / columns["level"]
    columns["level"] = np.log(columns["level"])
    X = np.column_stack([columns[name] for name in FEATURES])
    X[~np.isfinite(X)] = np.nan
    return X, series_index, np.tile(target, len(live))


def _nanmean(values: np.ndarray) -> np.ndarray:
    known = ~np.isnan(values)
    total = np.where(known, values, 0.0).sum(axis=1)
    count = known.sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)
