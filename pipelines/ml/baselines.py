"""The simple forecasts every demand model is judged against (issue: `seasonal_naive` and
`moving_average_28`), for many series at once.

Input: daily history, one row per series and day (columns: the series keys, `day`, `units`),
with no gaps (a day without sales is a row with 0). Output: one row per series and forecast day
for `horizon` days after the last history day, with `forecast` and the baseline's `model` name."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

SEASONAL_NAIVE = "seasonal_naive"
MOVING_AVERAGE_28 = "moving_average_28"


def _future_days(history: pl.DataFrame, keys: list[str], horizon: int) -> pl.DataFrame:
    last = history["day"].max()
    days = pl.DataFrame({"day": [last + timedelta(days=d) for d in range(1, horizon + 1)]})
    return history.select(keys).unique(maintain_order=True).join(days, how="cross")


def seasonal_naive(history: pl.DataFrame, keys: list[str], horizon: int = 28, period: int = 7) -> pl.DataFrame:
    """Each future day takes the units of the same weekday in the last `period` days of history."""
    last = history["day"].max()
    season = (history.filter(pl.col("day") > last - timedelta(days=period))
              .with_columns((pl.col("day").dt.weekday()).alias("_weekday"))
              .select([*keys, "_weekday", pl.col("units").cast(pl.Float64).alias("forecast")]))
    future = _future_days(history, keys, horizon).with_columns(pl.col("day").dt.weekday().alias("_weekday"))
    return (future.join(season, on=[*keys, "_weekday"], how="left")
            .with_columns(pl.col("forecast").fill_null(0.0), pl.lit(SEASONAL_NAIVE).alias("model"))
            .drop("_weekday").sort([*keys, "day"]))


def moving_average(history: pl.DataFrame, keys: list[str], horizon: int = 28, window: int = 28) -> pl.DataFrame:
    """Every future day takes the mean daily units of the last `window` days of history."""
    last = history["day"].max()
    level = (history.filter(pl.col("day") > last - timedelta(days=window))
             .group_by(keys).agg((pl.col("units").sum() / window).cast(pl.Float64).alias("forecast")))
    return (_future_days(history, keys, horizon).join(level, on=keys, how="left")
            .with_columns(pl.col("forecast").fill_null(0.0),
                          pl.lit(MOVING_AVERAGE_28 if window == 28 else f"moving_average_{window}").alias("model"))
            .sort([*keys, "day"]))
