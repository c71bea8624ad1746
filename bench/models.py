"""Training and scoring time of every model on a simulated shop's warehouse, beside the baselines
measured in the same run on the same data.

Steps: a warehouse with the marts built (``--reuse DIR`` from `bench/marts.py --keep DIR`, or
made here from ``--orders``), then each model's training and scoring functions called the way
the Dagster assets call them, timed one after the other (so the figures do not fight over the 2
cores):

- demand forecast: training as the asset does it (the rolling-origin backtest, 3 origins x 3
  quantile models, and the final fit, side by side in the forecast's worker processes), scoring
  28 days; baseline: seasonal naive and the 28-day moving average over the same panel.
- recommendations: item-neighbour fit and top-10 for every customer; "frequently bought
  together"; baseline: popularity top-10 for every customer.
- customer segments (features, k-means with k by silhouette) and churn (three datasets, train,
  evaluate, retrain, score); baseline: the recency-only logistic regression inside train_churn.

Ratio = model time / baseline time. Accuracy figures against the baselines are printed too.

    .venv/bin/python bench/marts.py --orders 1000000 --keep /tmp/marts1m
    .venv/bin/python bench/models.py --reuse /tmp/marts1m
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def timed(figures: dict[str, float], name: str, fn: Callable[[], Any]) -> Any:
    began = time.perf_counter()
    out = fn()
    figures[name] = time.perf_counter() - began
    print(f"  {name:<40}{figures[name]:>9.2f} s", flush=True)
    return out


def bench_forecast(settings: Any, figures: dict[str, float], config: Any = None) -> None:
    from pipelines.assets_forecast import HISTORY_SQL
    from pipelines.ml import baselines
    from pipelines.ml.demand_model import ForecastConfig, history_frame, predict, summarise, train
    from pipelines.ml.demand_panel import KEYS, build_panel
    from pipelines.ml_store import read_frames

    history = timed(figures, "forecast: read demand_daily", lambda: read_frames(settings, {"h": HISTORY_SQL})["h"])
    panel = timed(figures, "forecast: panel", lambda: build_panel(history))
    print(f"  ({panel.units.shape[0]:,} series x {panel.n_days} days)")
    config = config or ForecastConfig()
    accuracy, _, model = timed(figures, FORECAST_TRAIN, lambda: train(panel, config))
    timed(figures, "forecast: score 28 days", lambda: predict(model, panel))
    frame = history_frame(panel, panel.n_days)
    timed(figures, "forecast baseline: both baselines", lambda: (baselines.seasonal_naive(frame, KEYS),
                                                                 baselines.moving_average(frame, KEYS)))
    for row in summarise(accuracy).to_dicts():
        cov = "-" if row["coverage"] is None else f"{row['coverage']:.3f}"
        print(f"    {row['model']:<20} WAPE {row['wape']:.3f}  MASE {row['mase']:.3f}  bias {row['bias']:+.3f}  "
              f"coverage {cov}")


def bench_recommendations(settings: Any, figures: dict[str, float]) -> None:
    import polars as pl

    from pipelines.assets_recommend import INPUTS, compare_with_popularity, interactions, repeat_products
    from pipelines.ml.recommend import (
        MODEL_ITEM,
        MODEL_POPULAR,
        fit_item_neighbours,
        frequently_bought_together,
        popular_for_customers,
        recommend_for_customers,
    )
    from pipelines.ml_store import read_frames

    data = timed(figures, "recommend: read inputs", lambda: read_frames(settings, INPUTS))
    purchases, views, products = data["purchases"], data["views"], data["products"]
    weights = interactions(purchases, views)
    allowed = products.filter(pl.col("is_active") & (pl.col("available") > 0))["product_id"].to_list()
    bought = purchases.select("customer_id", "product_id").unique()
    customers = weights["customer_id"].n_unique()
    print(f"  ({purchases.height:,} purchases, {views.height:,} views, {customers:,} customers)")
    model = timed(figures, "recommend: item neighbours fit", lambda: fit_item_neighbours(weights))
    timed(figures, "recommend: top 10 for every customer",
          lambda: recommend_for_customers(model, weights, allowed=allowed, recent=bought,
                                          repeat_products=repeat_products(purchases)))
    timed(figures, "recommend: frequently bought together",
          lambda: frequently_bought_together(purchases.select("order_id", "product_id")))
    timed(figures, "recommend baseline: popularity top 10",
          lambda: popular_for_customers(weights, allowed=allowed, recent=bought))
    # accuracy on the time split the training asset uses (the last 28 days held out)
    scores = {r["model"]: r for r in compare_with_popularity(purchases, views, products)[2]}
    for name, r in scores.items():
        print(f"    {name:<20} precision@10 {r['precision_at_10']:.3f}  recall@10 {r['recall_at_10']:.3f}  "
              f"NDCG@10 {r['ndcg_at_10']:.3f}  coverage {r['catalogue_coverage']:.3f}")
    print(f"    NDCG@10 item neighbours / popularity = "
          f"{scores[MODEL_ITEM]['ndcg_at_10'] / scores[MODEL_POPULAR]['ndcg_at_10']:.2f} (goal 1.5)")


def bench_customers(settings: Any, figures: dict[str, float]) -> None:
    from pipelines.assets_customers import INPUTS, as_of_day, train_churn_at
    from pipelines.ml import churn, segments
    from pipelines.ml_store import read_frames

    data = timed(figures, "customers: read inputs", lambda: read_frames(settings, INPUTS))
    orders, lines = data["orders"], data["lines"]
    as_of = as_of_day(orders)
    features = timed(figures, "segments: features", lambda: segments.customer_features(orders, as_of, lines))
    seg = timed(figures, "segments: k-means + silhouette", lambda: segments.segment_customers(
        features, categories=segments.category_revenue(orders, as_of, lines)))
    print(f"  ({features.height:,} customers, k = {seg.k})")
    final, report, _, _ = timed(figures, "churn: train, evaluate, retrain", lambda: train_churn_at(orders, as_of))
    timed(figures, "churn: score every customer",
          lambda: churn.score_churn(final, churn.churn_dataset(orders, as_of, label_end=as_of)))
    print(f"    churn ROC AUC {report['model']['roc_auc']:.3f} vs recency alone {report['baseline']['roc_auc']:.3f}; "
          f"Brier {report['model']['brier']:.3f} vs {report['baseline']['brier']:.3f}")


FORECAST_TRAIN = "forecast: backtest (3 origins) + final fit"
FORECAST_MODEL = (FORECAST_TRAIN, "forecast: score 28 days")
FORECAST_BASELINE = "forecast baseline: both baselines"
RECOMMEND_MODEL = ("recommend: item neighbours fit", "recommend: top 10 for every customer")
RECOMMEND_BASELINE = "recommend baseline: popularity top 10"


def run_models(settings: Any, forecast: Any = None) -> dict[str, float]:
    """Every model's training and scoring, one after the other; seconds per step (``forecast``:
    a ForecastConfig other than the product's)."""
    figures: dict[str, float] = {}
    bench_forecast(settings, figures, forecast)
    bench_recommendations(settings, figures)
    bench_customers(settings, figures)
    return figures


def summary(figures: dict[str, float]) -> dict[str, float]:
    """The ratios printed at the end, and the train + score total (reads left out)."""
    model = sum(figures[k] for k in FORECAST_MODEL)
    rec = sum(figures[k] for k in RECOMMEND_MODEL)
    return {"forecast_s": model, "forecast_baseline_s": figures[FORECAST_BASELINE],
            "forecast_ratio": model / figures[FORECAST_BASELINE], "recommend_s": rec,
            "recommend_baseline_s": figures[RECOMMEND_BASELINE],
            "recommend_ratio": rec / figures[RECOMMEND_BASELINE],
            "train_and_score_s": sum(v for k, v in figures.items() if "read" not in k)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--reuse", type=Path, help="a data dir from `bench/marts.py --keep DIR`")
    args = parser.parse_args()
    data_dir = (args.reuse or Path(tempfile.mkdtemp(prefix="ecom_bench_models_"))).resolve()
    os.environ["ECOM_DATA_DIR"] = str(data_dir)
    os.environ.pop("ECOM_WAREHOUSE_PATH", None)
    try:
        if not args.reuse:
            from bench.marts import build_shop, time_build

            print(f"building a {args.orders:,}-order shop and its marts in {data_dir} ...", flush=True)
            build_shop(data_dir, args.orders)
            time_build(data_dir)
        from pipelines.settings import PipelineSettings

        figures = run_models(PipelineSettings())
    finally:
        if not args.reuse:
            shutil.rmtree(data_dir, ignore_errors=True)
    totals = summary(figures)
    print(f"ratio forecast (backtest + fit + score) / both baselines = {totals['forecast_ratio']:.1f}")
    print(f"ratio item neighbours (fit + top 10) / popularity top 10 = {totals['recommend_ratio']:.1f}")
    print(f"all models, train and score: {totals['train_and_score_s']:.1f} s")


if __name__ == "__main__":
    main()
