"""Model-quality measures exactly as ../shared/METRICS.md defines them ("Model quality").

Forecasts: WAPE, MASE (against the in-sample seasonal naive of period 7), bias and P10-P90
coverage. Recommendations: precision@k, recall@k, NDCG@k with binary relevance over each
customer's held-out purchases, and catalogue coverage. Undefined values (nothing to divide by)
are NaN, never a silent 0."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

NAN = float("nan")


def _arrays(*values: ArrayLike) -> list[np.ndarray]:
    arrays = [np.asarray(v, dtype=float) for v in values]
    if len({a.shape for a in arrays}) > 1:
        raise ValueError(f"arrays differ in shape: {[a.shape for a in arrays]}")
    return arrays


def wape(actual: ArrayLike, forecast: ArrayLike) -> float:
    """sum |actual - forecast| / sum |actual|."""
    a, f = _arrays(actual, forecast)
    total = np.abs(a).sum()
    return float(np.abs(a - f).sum() / total) if total else NAN


def bias(actual: ArrayLike, forecast: ArrayLike) -> float:
    """sum (forecast - actual) / sum actual: above 0 over-forecasts."""
    a, f = _arrays(actual, forecast)
    total = a.sum()
    return float((f - a).sum() / total) if total else NAN


def coverage(actual: ArrayLike, p10: ArrayLike, p90: ArrayLike) -> float:
    """Share of actuals inside [P10, P90]."""
    a, lo, hi = _arrays(actual, p10, p90)
    if not a.size:
        return NAN
    return float(((a >= lo) & (a <= hi)).mean())


def seasonal_naive_mae(history: ArrayLike, period: int = 7) -> float:
    """Mean absolute error of the in-sample seasonal naive: each day forecast by the day one
    period earlier (MASE's scale)."""
    h = np.asarray(history, dtype=float)
    if h.size <= period:
        return NAN
    return float(np.abs(h[period:] - h[:-period]).mean())


def seasonal_naive_mae_pooled(history: np.ndarray, period: int = 7) -> float:
    """MASE's scale over many series at once (rows = series, columns = days; NaN = unknown):
    the mean absolute error of the in-sample seasonal naive over every known pair of days."""
    h = np.asarray(history, dtype=float)
    if h.ndim != 2 or h.shape[1] <= period:
        return NAN
    diff = np.abs(h[:, period:] - h[:, :-period])
    known = ~np.isnan(diff)
    return float(diff[known].mean()) if known.any() else NAN


def mase(actual: ArrayLike, forecast: ArrayLike, history: ArrayLike, period: int = 7) -> float:
    """Mean absolute error / the in-sample seasonal naive's mean absolute error."""
    a, f = _arrays(actual, forecast)
    scale = seasonal_naive_mae(history, period)
    if not a.size or not scale or math.isnan(scale):
        return NAN
    return float(np.abs(a - f).mean() / scale)


def precision_at_k(recommended: Sequence[object], relevant: Iterable[object], k: int = 10) -> float:
    """Hits among the first k recommendations / k."""
    wanted = set(relevant)
    return sum(1 for item in recommended[:k] if item in wanted) / k


def recall_at_k(recommended: Sequence[object], relevant: Iterable[object], k: int = 10) -> float:
    """Hits among the first k recommendations / the customer's held-out purchases."""
    wanted = set(relevant)
    if not wanted:
        return NAN
    return sum(1 for item in recommended[:k] if item in wanted) / len(wanted)


def ndcg_at_k(recommended: Sequence[object], relevant: Iterable[object], k: int = 10) -> float:
    """Discounted cumulative gain of the first k (binary relevance, 1/log2(rank + 1)) over the
    best possible for this customer."""
    wanted = set(relevant)
    if not wanted:
        return NAN
    gain = sum(1 / math.log2(rank + 2) for rank, item in enumerate(recommended[:k]) if item in wanted)
    ideal = sum(1 / math.log2(rank + 2) for rank in range(min(k, len(wanted))))
    return gain / ideal


def catalogue_coverage(recommendations: Mapping[object, Sequence[object]], catalogue: Iterable[object]) -> float:
    """Share of the active catalogue recommended to at least one customer."""
    active = set(catalogue)
    if not active:
        return NAN
    shown = {item for items in recommendations.values() for item in items}
    return len(shown & active) / len(active)
