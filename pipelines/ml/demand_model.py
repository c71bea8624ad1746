"""The demand forecast: one global gradient-boosting model per quantile (P10, P50, P90) across
every product and warehouse, trained on many past origins at once ("direct" multi-horizon: the
horizon is a feature), and the rolling-origin backtest that judges it against the baselines.

Targets are the day's units divided by the series' level (its recent mean shrunk towards its
category's), with the level as sample weight, so the loss is the plain quantile loss in units
while slow and fast movers share one model. Censored days are never targets.

Each quantile q is fitted as the (1 - q) quantile of the negated target. scikit-learn's pinball
gradient counts a row exactly on the prediction as under-predicted, and boosting starts from the
target's q-quantile: on intermittent demand that is exactly 0, the target's minimum, so every row
looks under-predicted alike, the trees find nothing to split on, each leaf's quantile of residuals
is 0 again and the model predicts 0 for every series, however fast it sells. Negated, the zeros
are the target's maximum, where a tie is harmless."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import polars as pl
from joblib import Parallel, delayed
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from pipelines.ml import baselines, metrics
from pipelines.ml.demand_panel import FEATURES, KEYS, Context, Panel, TooLittleHistory, context, origin_features
from pipelines.ml.weighted_bins import apply_edges, fit_edges

MODEL = "gbm_quantile"
QUANTILES = (0.1, 0.5, 0.9)
HORIZON = 28
MIN_HISTORY = 28  # days before the first training origin


BACKTEST_SCHEMA = {"model": pl.String, "origin_on": pl.Date, "horizon_days": pl.Int64, "series": pl.Int64,
                   "days_scored": pl.Int64, "actual_units": pl.Float64, "forecast_units": pl.Float64,
                   "abs_error_units": pl.Float64, "wape": pl.Float64, "mase": pl.Float64, "bias": pl.Float64,
                   "coverage": pl.Float64}
ERRORS_SCHEMA = {"product_id": pl.Int64, "warehouse_id": pl.Int64, "error_sd": pl.Float64, "error_days": pl.Int64}
FORECAST_SCHEMA = {"product_id": pl.Int64, "warehouse_id": pl.Int64, "forecast_on": pl.Date, "p10": pl.Float64,
                   "p50": pl.Float64, "p90": pl.Float64, "model": pl.String}


@dataclass(frozen=True)
class ForecastConfig:
    horizon: int = HORIZON
    origins: int = 3  # backtest origins, each `horizon` days apart, the last one `horizon` before the end
    max_rows: int = 150_000  # training rows; origins are thinned (and then rows sampled) to fit
    seed: int = 42
    max_iter: int = 150
    learning_rate: float = 0.08
    half_life_days: float = 90.0  # training origins weigh half as much every 90 days back (0: all the same)
    max_leaf_nodes: int = 31
    min_samples_leaf: int = 40
    l2_regularization: float = 1.0
    # OpenMP threads per fit. The trees' threads busy-wait: with anything else running (dbt, the
    # other model assets, a test worker) two threads on two cores ran 12x slower than one.
    threads: int = 1
    # Worker processes fitting the quantiles and backtest origins side by side (1: in this process).
    jobs: int = 2


@dataclass
class DemandModel:
    """Three fitted quantile models and how they were trained."""

    config: ForecastConfig
    models: dict[float, HistGradientBoostingRegressor]
    trained_to: date  # the last day whose units were a target
    training_rows: int
    features: list[str] = field(default_factory=lambda: list(FEATURES))
    negated: bool = False  # models[q] is the (1 - q) quantile of -target (False: models saved before)
    edges: list[np.ndarray] | None = None  # each feature's bin edges, applied before the trees (None: raw)

    def features_for_trees(self, X: np.ndarray) -> np.ndarray:
        return X if self.edges is None else apply_edges(X, self.edges)


def training_set(ctx: Context, end: int, config: ForecastConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X, scaled target, weight) from origins whose whole horizon ends before day index `end`."""
    last_origin = end - config.horizon
    candidates = list(range(MIN_HISTORY, last_origin + 1))
    if not candidates:
        raise TooLittleHistory(f"too little history: {end} days, a forecast needs at least "
                         f"{MIN_HISTORY + config.horizon}")
    per_origin = max(1, int((ctx.panel.born < last_origin).sum())) * config.horizon
    stride = max(1, math.ceil(len(candidates) * per_origin / config.max_rows))
    origins = candidates[::-1][::stride]  # newest first, so the latest behaviour is always in
    parts = []
    for t in origins:
        X, series, target = origin_features(ctx, t, config.horizon)
        y = ctx.panel.units[series, target]
        keep = ~np.isnan(y)
        level = np.exp(X[:, FEATURES.index("level")])
        # recent behaviour counts more: weights halve every `half_life_days` before the newest origin
        recency = 0.5 ** ((last_origin - t) / config.half_life_days) if config.half_life_days else 1.0
        parts.append((X[keep], y[keep] / level[keep], level[keep] * recency))
    X = np.vstack([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    w = np.concatenate([p[2] for p in parts])
    if len(y) > config.max_rows:
        pick = np.sort(np.random.default_rng(config.seed).choice(len(y), config.max_rows, replace=False))
        X, y, w = X[pick], y[pick], w[pick]
    return X, y, w


def fit(panel: Panel, config: ForecastConfig | None = None, end: int | None = None,
        ctx: Context | None = None) -> DemandModel:
    """Train on every target day before day index `end` (default: the whole panel)."""
    config = config or ForecastConfig()
    return fit_at(panel, [panel.n_days if end is None else end], config, ctx)[0]


def fit_at(panel: Panel, ends: list[int], config: ForecastConfig, ctx: Context | None = None) -> list[DemandModel]:
    """One model per day index in `ends`, each trained on the target days before it. The fits (three
    quantiles per end) run side by side in `config.jobs` worker processes."""
    ctx = ctx or context(panel)
    sets = []
    for end in ends:
        X, y, w = training_set(ctx, end, config)
        X[:, np.isnan(X).all(axis=0)] = 0.0  # a feature this shop never has (no prices seen): constant
        edges = fit_edges(X, w)  # binned here once: scikit-learn's weighted binning is 100x slower
        sets.append((apply_edges(X, edges), y, w, edges))
    tasks = [(i, q) for i in range(len(sets)) for q in QUANTILES]
    jobs = max(1, min(config.jobs, len(tasks)))
    fitted = Parallel(n_jobs=jobs, backend="loky" if jobs > 1 else "sequential")(
        delayed(_fit_quantile)(sets[i][0], sets[i][1], sets[i][2], q, config) for i, q in tasks)
    models: list[dict[float, HistGradientBoostingRegressor]] = [{} for _ in sets]
    for (i, q), model in zip(tasks, fitted, strict=True):
        models[i][q] = model
    return [DemandModel(config, models[i], panel.day(end - 1), len(sets[i][1]), negated=True, edges=sets[i][3])
            for i, end in enumerate(ends)]


def _fit_quantile(X: np.ndarray, y: np.ndarray, w: np.ndarray, q: float,
                  config: ForecastConfig) -> HistGradientBoostingRegressor:
    # negated target, mirrored quantile: see the module docstring (a mostly-zero target otherwise
    # leaves the model at 0)
    model = HistGradientBoostingRegressor(
        loss="quantile", quantile=1 - q, max_iter=config.max_iter, learning_rate=config.learning_rate,
        max_leaf_nodes=config.max_leaf_nodes, min_samples_leaf=config.min_samples_leaf,
        l2_regularization=config.l2_regularization, early_stopping=False, random_state=config.seed)
    with threadpool_limits(limits=config.threads, user_api="openmp"):
        return model.fit(X, -y, sample_weight=w)


def min_history_days(config: ForecastConfig) -> int:
    """Days of history the backtest (one origin at least) and the final fit need."""
    return MIN_HISTORY + 2 * config.horizon


def predict(model: DemandModel, panel: Panel, origin: int | None = None,
            ctx: Context | None = None) -> pl.DataFrame:
    """P10/P50/P90 per series for the horizon days from day index `origin` (default: the day after
    the panel), never below zero and never crossing."""
    ctx = ctx or context(panel)
    t = panel.n_days if origin is None else origin
    X, series, target = origin_features(ctx, t, model.config.horizon)
    level = np.exp(X[:, FEATURES.index("level")])
    sign = -1.0 if model.negated else 1.0
    binned = model.features_for_trees(X)
    with threadpool_limits(limits=model.config.threads, user_api="openmp"):
        raw = np.column_stack([sign * model.models[q].predict(binned) * level for q in QUANTILES])
    p10, p50, p90 = np.sort(np.maximum(raw, 0.0), axis=1).T
    keys = panel.series.select(KEYS)[series]
    return keys.with_columns(
        pl.Series("day", [panel.day(int(d)) for d in target], dtype=pl.Date),
        pl.Series("p10", p10), pl.Series("p50", p50), pl.Series("p90", p90), pl.lit(MODEL).alias("model"))


def _long_frame(panel: Panel, origin: int, start: int, end: int) -> pl.DataFrame:
    """Units of days [start, end) of every series that began before day index `origin`, one row
    per series and day (NaN where censored or before the series began)."""
    live = np.flatnonzero(panel.born < origin)
    keys = panel.series.select(KEYS)[live]
    days = [panel.day(d) for d in range(start, end)]
    return pl.DataFrame({
        "product_id": np.repeat(keys["product_id"].to_numpy(), len(days)),
        "warehouse_id": np.repeat(keys["warehouse_id"].to_numpy(), len(days)),
        "day": pl.Series(days * len(live), dtype=pl.Date),
        "units": panel.units[live, start:end].reshape(-1),
    })


def history_frame(panel: Panel, end: int) -> pl.DataFrame:
    """The history before day index `end` as the baselines see it (censored days as 0)."""
    return _long_frame(panel, end, 0, end).with_columns(pl.col("units").fill_nan(0.0))


def backtest(panel: Panel, config: ForecastConfig | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rolling origins: the model retrained before each origin, the baselines from the same
    history. Returns (accuracy per model and origin, the model's daily errors for safety stock).
    Censored days are left out of every score (no one knows their demand)."""
    accuracy, errors, _ = _backtest(panel, config or ForecastConfig(), final_fit=False)
    return accuracy, errors


def train(panel: Panel, config: ForecastConfig | None = None) -> tuple[pl.DataFrame, pl.DataFrame, DemandModel]:
    """The backtest and the final model on all history, their fits side by side: (accuracy,
    errors, model)."""
    accuracy, errors, model = _backtest(panel, config or ForecastConfig(), final_fit=True)
    assert model is not None
    return accuracy, errors, model


def _backtest(panel: Panel, config: ForecastConfig,
              final_fit: bool) -> tuple[pl.DataFrame, pl.DataFrame, DemandModel | None]:
    ctx = context(panel)
    origins = [panel.n_days - k * config.horizon for k in range(config.origins, 0, -1)]
    origins = [t for t in origins if t - config.horizon >= MIN_HISTORY]
    if not origins:
        raise TooLittleHistory(f"too little history for a backtest: {panel.n_days} days, needs at least "
                         f"{MIN_HISTORY + 2 * config.horizon}")
    fitted = fit_at(panel, origins + [panel.n_days] * final_fit, config, ctx)
    rows, errors = [], []
    for t, model in zip(origins, fitted, strict=False):
        forecast = predict(model, panel, origin=t, ctx=ctx)
        history = history_frame(panel, t)
        scale = metrics.seasonal_naive_mae_pooled(panel.units[:, :t], period=7)
        candidates = {
            MODEL: forecast,
            baselines.SEASONAL_NAIVE: baselines.seasonal_naive(history, KEYS, config.horizon)
            .rename({"forecast": "p50"}),
            baselines.MOVING_AVERAGE_28: baselines.moving_average(history, KEYS, config.horizon)
            .rename({"forecast": "p50"}),
        }
        actual = _actuals(panel, t, config.horizon)
        for name, frame in candidates.items():
            scored = actual.join(frame, on=[*KEYS, "day"], how="inner")
            a, f = scored["units"].to_numpy(), scored["p50"].to_numpy()
            has_band = "p10" in frame.columns
            rows.append({
                "model": name, "origin_on": panel.day(t), "horizon_days": config.horizon,
                "series": scored.select(KEYS).n_unique(), "days_scored": len(a),
                "actual_units": float(a.sum()), "forecast_units": float(f.sum()),
                "abs_error_units": float(np.abs(a - f).sum()),
                "wape": metrics.wape(a, f), "mase": float(np.abs(a - f).mean() / scale) if scale else math.nan,
                "bias": metrics.bias(a, f),
                "coverage": metrics.coverage(a, scored["p10"], scored["p90"]) if has_band else None,
            })
            if name == MODEL:
                errors.append(scored.select(*KEYS, (pl.col("p50") - pl.col("units")).alias("error")))
    return (pl.DataFrame(rows, schema=BACKTEST_SCHEMA), pl.concat(errors),
            fitted[-1] if final_fit else None)


def summarise(accuracy: pl.DataFrame) -> pl.DataFrame:
    """All origins pooled, per model: WAPE and bias from the summed units, MASE and coverage
    weighted by the days scored; and each model's WAPE improvement over each baseline."""
    pooled = accuracy.group_by("model", maintain_order=True).agg(
        (pl.col("abs_error_units").sum() / pl.col("actual_units").sum()).alias("wape"),
        ((pl.col("mase") * pl.col("days_scored")).sum() / pl.col("days_scored").sum()).alias("mase"),
        ((pl.col("forecast_units").sum() - pl.col("actual_units").sum()) / pl.col("actual_units").sum()).alias("bias"),
        pl.when(pl.col("coverage").is_not_null().any())
        .then((pl.col("coverage") * pl.col("days_scored")).sum() / pl.col("days_scored").sum()).alias("coverage"),
        pl.col("origin_on").n_unique().alias("origins"), pl.col("days_scored").sum())
    wape = dict(zip(pooled["model"], pooled["wape"], strict=True))
    return pooled.with_columns(*[
        (1 - pl.col("wape") / wape[b]).alias(f"wape_gain_vs_{b}") for b in
        (baselines.SEASONAL_NAIVE, baselines.MOVING_AVERAGE_28) if wape.get(b)])


def _actuals(panel: Panel, t: int, horizon: int) -> pl.DataFrame:
    """The known (not censored) units of the horizon from origin t."""
    return _long_frame(panel, t, t, min(t + horizon, panel.n_days)).filter(pl.col("units").is_not_nan())


def error_spread(errors: pl.DataFrame, panel: Panel, min_days: int = 28) -> pl.DataFrame:
    """Standard deviation of the daily forecast error per series (METRICS safety stock), shrunk
    towards the category's spread when a series has few scored days."""
    per = errors.group_by(KEYS).agg(pl.col("error").std(ddof=1).alias("sd"), pl.len().alias("n"))
    cats = panel.series.select(*KEYS, "category")
    per = cats.join(per, on=KEYS, how="left").with_columns(pl.col("n").fill_null(0))
    cat_sd = per.group_by("category").agg(
        ((pl.col("sd").fill_null(0) ** 2 * pl.col("n")).sum() / pl.col("n").sum().clip(1)).sqrt().alias("cat_sd"))
    overall = float(np.nanstd(errors["error"].to_numpy(), ddof=1)) if len(errors) > 1 else 0.0
    return (per.join(cat_sd, on="category", how="left")
            .with_columns(pl.col("cat_sd").fill_null(overall).fill_nan(overall))
            .with_columns(((pl.col("sd").fill_null(0).fill_nan(0) * pl.col("n") + pl.col("cat_sd") * min_days)
                           / (pl.col("n") + min_days)).alias("error_sd"))
            .select(*KEYS, "error_sd", pl.col("n").alias("error_days")))
