"""Weighted quantile bins for the gradient-boosting models, computed once per feature.

scikit-learn (1.9) bins each feature before growing trees; with sample weights it finds each of
the 254 bin edges by its own weighted percentile, every one a full sort of the column. On the
demand model's 150,000 rows that was 110 of 196 seconds of training. Here each column is sorted
once, its weighted CDF cut at all the quantiles at once, and the values replaced by their bin
numbers: a column with at most 255 distinct values is binned by scikit-learn from its distinct
values alone. The same edges are applied again when predicting."""

from __future__ import annotations

import numpy as np

MAX_BINS = 255  # scikit-learn's default (and maximum) for non-missing values


def fit_edges(X: np.ndarray, weight: np.ndarray, max_bins: int = MAX_BINS) -> list[np.ndarray]:
    """Per column, the increasing edges that split its weighted distribution into at most
    `max_bins` bins of about equal weight (every distinct value its own bin when there are few).
    Missing values and zero-weight rows are ignored."""
    edges = []
    for j in range(X.shape[1]):
        keep = ~np.isnan(X[:, j]) & (weight > 0)
        col, w = X[keep, j], weight[keep]
        order = np.argsort(col, kind="stable")
        col, w = col[order], w[order]
        distinct = np.unique(col)
        if len(distinct) <= max_bins:
            edges.append(distinct[:-1])  # value i falls in bin i
            continue
        cdf = np.cumsum(w)
        cuts = np.linspace(0.0, cdf[-1], max_bins + 1)[1:-1]
        edges.append(np.unique(col[np.minimum(np.searchsorted(cdf, cuts), len(col) - 1)]))
    return edges


def apply_edges(X: np.ndarray, edges: list[np.ndarray]) -> np.ndarray:
    """X with each value replaced by its bin number (value <= edges[i] -> bin i); NaN stays NaN."""
    binned = np.empty(X.shape, dtype=np.float64)
    for j, e in enumerate(edges):
        col = X[:, j]
        binned[:, j] = np.searchsorted(e, col, side="left")
        binned[np.isnan(col), j] = np.nan
    return binned
