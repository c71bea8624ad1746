"""Model-quality measures and the forecast baselines on small data with answers worked by hand."""

from __future__ import annotations

import math
from datetime import date, timedelta

import polars as pl
import pytest

from pipelines.ml.baselines import moving_average, seasonal_naive
from pipelines.ml.metrics import (
    bias,
    catalogue_coverage,
    coverage,
    mase,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
    seasonal_naive_mae,
    wape,
)


def test_forecast_errors_follow_the_metric_definitions() -> None:
    actual, forecast = [10, 0, 5, 5], [8, 1, 5, 8]
    assert wape(actual, forecast) == pytest.approx((2 + 1 + 0 + 3) / 20)
    assert bias(actual, forecast) == pytest.approx((22 - 20) / 20)
    assert coverage(actual, p10=[9, 0, 6, 4], p90=[11, 1, 7, 6]) == pytest.approx(3 / 4)
    history = [1, 2, 3, 4, 5, 6, 7, 3, 2, 3, 4, 5, 6, 7]  # seasonal errors |3-1|, 0, 0, ... -> mean 2/7
    assert seasonal_naive_mae(history) == pytest.approx(2 / 7)
    assert mase(actual, forecast, history) == pytest.approx((6 / 4) / (2 / 7))


def test_undefined_measures_are_nan_not_zero() -> None:
    assert math.isnan(wape([0, 0], [1, 2]))
    assert math.isnan(mase([1], [1], history=[1, 2, 3]))  # too little history for a weekly scale
    assert math.isnan(recall_at_k(["a"], []))
    with pytest.raises(ValueError, match="differ in shape"):
        wape([1, 2], [1])


def test_ranking_measures_with_binary_relevance() -> None:
    recommended, bought = ["a", "b", "c", "d"], {"b", "d", "z"}
    assert precision_at_k(recommended, bought, k=4) == pytest.approx(2 / 4)
    assert recall_at_k(recommended, bought, k=4) == pytest.approx(2 / 3)
    gain = 1 / math.log2(3) + 1 / math.log2(5)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(recommended, bought, k=4) == pytest.approx(gain / ideal)
    assert ndcg_at_k(["b", "d", "z"], bought, k=4) == pytest.approx(1.0)
    assert catalogue_coverage({1: ["a", "b"], 2: ["b", "x"]}, catalogue={"a", "b", "c", "d"}) == pytest.approx(0.5)


def _weekly_history(weeks: int) -> pl.DataFrame:
    start = date(2026, 1, 5)  # a Monday
    pattern = [1, 2, 3, 4, 5, 9, 0]  # Monday .. Sunday
    return pl.DataFrame({"product_id": [7] * (7 * weeks),
                         "day": [start + timedelta(days=d) for d in range(7 * weeks)],
                         "units": [pattern[d % 7] for d in range(7 * weeks)]})


def test_seasonal_naive_repeats_last_week_and_moving_average_the_last_28_days() -> None:
    history = _weekly_history(weeks=5)
    naive = seasonal_naive(history, ["product_id"], horizon=10)
    assert naive["day"][0] == date(2026, 2, 9) and naive.height == 10
    assert naive["forecast"].to_list() == [1, 2, 3, 4, 5, 9, 0, 1, 2, 3]
    assert set(naive["model"]) == {"seasonal_naive"}
    average = moving_average(history, ["product_id"], horizon=3)
    assert average["forecast"].to_list() == pytest.approx([24 / 7] * 3)  # 4 weeks of 24 units over 28 days
    assert set(average["model"]) == {"moving_average_28"}
    # a perfectly weekly series: the seasonal naive makes no error, the average does
    actual = _weekly_history(weeks=7)["units"].to_list()[35:45]
    assert wape(actual, naive["forecast"].to_list()) == 0.0
    assert wape(actual, moving_average(history, ["product_id"], horizon=10)["forecast"].to_list()) > 0.4
