"""Customer model assets. `train_customer_models` fits the behavioural segments (k-means, k by
silhouette) and the churn classifier (trained at as_of - 180 days, evaluated at as_of - 90 against
recency alone, then retrained at as_of - 90); `score_customer_models` assigns every customer a
segment and a churn probability as of today. The as-of day is the day after the last order day,
like the RFM marts."""

import time
from collections.abc import Iterator
from datetime import date, timedelta

import dagster as dg
import polars as pl
from dagster import AssetExecutionContext

from pipelines.ml import churn, segments
from pipelines.ml_store import delete_model, load_model, model_path, read_frames, replace_tables, save_model
from pipelines.resources import WarehouseResource

GROUP = "ml"
SEGMENT_DESCRIPTIONS_KEY = dg.AssetKey(["ml", "segment_descriptions"])
CHURN_EVALUATION_KEY = dg.AssetKey(["ml", "churn_evaluation"])
CALIBRATION_KEY = dg.AssetKey(["ml", "churn_calibration"])
SEGMENTS_KEY = dg.AssetKey(["ml", "customer_segments"])
CHURN_SCORES_KEY = dg.AssetKey(["ml", "churn_scores"])
SEGMENT_FILE, CHURN_FILE = "customer_segments", "churn"
MIN_SEGMENT_CUSTOMERS = 30
INPUT_DEPS = [dg.AssetKey(["marts", "fct_orders"]), dg.AssetKey(["marts", "fct_order_lines"]),
              dg.AssetKey(["marts", "dim_products"])]
INPUTS = {
    "orders": "SELECT customer_id, order_id, placed_on, is_cancelled, net_revenue, units, channel "
              "FROM marts.fct_orders WHERE customer_id IS NOT NULL",
    "lines": "SELECT l.customer_id, l.order_id, l.placed_on, coalesce(p.category, '') AS category, l.net_revenue, "
             "l.is_cancelled FROM marts.fct_order_lines AS l JOIN marts.dim_products AS p USING (product_id) "
             "WHERE l.customer_id IS NOT NULL",
}
CHURN_EVALUATION_SCHEMA = {"model": pl.String, "train_cutoff_on": pl.Date, "test_cutoff_on": pl.Date,
                           "horizon_days": pl.Int64, "customers": pl.Int64, "churned": pl.Int64,
                           "roc_auc": pl.Float64, "brier": pl.Float64, "log_loss": pl.Float64}
DESCRIPTION_SCHEMA = {"segment_id": pl.Int64, "segment_name": pl.String, "customers": pl.Int64,
                      "share_of_customers": pl.Float64, "median_recency_days": pl.Float64,
                      "median_frequency": pl.Float64, "median_monetary": pl.Float64, "total_monetary": pl.Float64,
                      "avg_order_value": pl.Float64, "favourite_categories": pl.String, "description": pl.String,
                      "as_of_on": pl.Date, "k": pl.Int64}
CHURN_SCORES_SCHEMA = {"customer_id": pl.Int64, "churn_probability": pl.Float64, "risk_band": pl.String,
                       "recency_days": pl.Int64, "frequency": pl.Int64, "monetary": pl.Float64,
                       "orders_per_year": pl.Float64, "orders_last_90": pl.Int64,
                       "mean_days_between_orders": pl.Float64, "days_since_last_vs_mean_gap": pl.Float64}
CALIBRATION_SCHEMA = {"bin": pl.Int64, "mean_predicted": pl.Float64, "observed_rate": pl.Float64,
                      "customers": pl.Int64}


def as_of_day(orders: pl.DataFrame) -> date:
    return orders["placed_on"].max() + timedelta(days=1)


def _train_segments(orders: pl.DataFrame, lines: pl.DataFrame, as_of: date) -> segments.Segmentation | None:
    features = segments.customer_features(orders, as_of, lines)
    if features.height < MIN_SEGMENT_CUSTOMERS:
        return None
    return segments.segment_customers(features, categories=segments.category_revenue(orders, as_of, lines))


def train_churn_at(orders: pl.DataFrame, as_of: date) -> tuple[churn.ChurnModel, dict, date, date]:
    """Raises ValueError (with the reason) when the history or the labels do not allow it."""
    train_cut, test_cut = churn.churn_cutoffs(as_of, first_order_day=orders["placed_on"].min())
    model = churn.train_churn(churn.churn_dataset(orders, train_cut, label_end=as_of))
    report = churn.evaluate_churn(model, churn.churn_dataset(orders, test_cut, label_end=as_of))
    final = churn.train_churn(churn.churn_dataset(orders, test_cut, label_end=as_of))
    return final, report, train_cut, test_cut


@dg.multi_asset(
    name="train_customer_models", group_name=GROUP,
    specs=[dg.AssetSpec(SEGMENT_DESCRIPTIONS_KEY, deps=INPUT_DEPS, kinds={"scikitlearn", "duckdb"},
                        description="Behavioural segments: k-means on standardised log recency, frequency, "
                                    "spend and order value, k chosen by silhouette (3-8); each segment "
                                    "described in plain words."),
           dg.AssetSpec(CHURN_EVALUATION_KEY, deps=INPUT_DEPS, kinds={"scikitlearn", "duckdb"},
                        description="Churn classifier (no order in the next 90 days) evaluated on the last fully "
                                    "observed cut-off against recency alone: ROC AUC, Brier, log loss."),
           dg.AssetSpec(CALIBRATION_KEY, deps=INPUT_DEPS, kinds={"duckdb"},
                        description="The churn model's calibration on that cut-off (10 equal-frequency bins).")])
def train_customer_models(context: AssetExecutionContext,
                          warehouse: WarehouseResource) -> Iterator[dg.MaterializeResult]:
    settings = warehouse.settings()
    data = read_frames(settings, INPUTS)
    orders, lines = data["orders"], data["lines"]
    if orders.is_empty():
        for name in (SEGMENT_FILE, CHURN_FILE):
            delete_model(settings, name)
        replace_tables(settings, {"segment_descriptions": pl.DataFrame(schema=DESCRIPTION_SCHEMA), "churn_evaluation":
                                  pl.DataFrame(schema=CHURN_EVALUATION_SCHEMA),
                                  "churn_calibration": pl.DataFrame(schema=CALIBRATION_SCHEMA)})
        yield dg.MaterializeResult(asset_key=SEGMENT_DESCRIPTIONS_KEY, metadata={"trained": False})
        yield dg.MaterializeResult(asset_key=CHURN_EVALUATION_KEY, metadata={"trained": False})
        yield dg.MaterializeResult(asset_key=CALIBRATION_KEY, metadata={"bins": 0})
        return
    as_of = as_of_day(orders)
    began = time.perf_counter()
    segmentation = _train_segments(orders, lines, as_of)
    segment_s = time.perf_counter() - began
    if segmentation is None:
        delete_model(settings, SEGMENT_FILE)
        descriptions = pl.DataFrame(schema=DESCRIPTION_SCHEMA)
    else:
        save_model(settings, SEGMENT_FILE, segmentation)
        descriptions = segmentation.descriptions.with_columns(
            pl.lit(as_of).alias("as_of_on"), pl.lit(segmentation.k).alias("k")).cast(DESCRIPTION_SCHEMA)
    began = time.perf_counter()
    try:
        final, report, train_cut, test_cut = train_churn_at(orders, as_of)
    except ValueError as short:
        context.log.warning(f"churn model not trained: {short}")
        delete_model(settings, CHURN_FILE)
        evaluation, calibration, churn_meta = (pl.DataFrame(schema=CHURN_EVALUATION_SCHEMA),
                                               pl.DataFrame(schema=CALIBRATION_SCHEMA),
                                               {"trained": False, "reason": str(short)})
    else:
        save_model(settings, CHURN_FILE, final)
        evaluation = pl.DataFrame([
            {"model": name, "train_cutoff_on": train_cut, "test_cutoff_on": test_cut,
             "horizon_days": churn.HORIZON_DAYS, "customers": report["model"]["customers"],
             "churned": report["model"]["positives"], **{m: report[key][m] for m in ("roc_auc", "brier", "log_loss")}}
            for name, key in ((churn.MODEL, "model"), (churn.BASELINE, "baseline"))], schema=CHURN_EVALUATION_SCHEMA)
        calibration = pl.DataFrame(report["calibration"], schema=CALIBRATION_SCHEMA)
        churn_meta = {"trained": True, "train_cutoff_on": str(train_cut), "test_cutoff_on": str(test_cut),
                      "roc_auc": round(report["model"]["roc_auc"], 4),
                      "baseline_roc_auc": round(report["baseline"]["roc_auc"], 4),
                      "brier": round(report["model"]["brier"], 4),
                      "baseline_brier": round(report["baseline"]["brier"], 4),
                      "beats_baseline": report["model"]["roc_auc"] > report["baseline"]["roc_auc"],
                      "calibration": dg.MetadataValue.md(_calibration_markdown(report["calibration"]))}
    churn_meta["train_seconds"] = round(time.perf_counter() - began, 1)
    replace_tables(settings, {"segment_descriptions": descriptions, "churn_evaluation": evaluation,
                              "churn_calibration": calibration})
    yield dg.MaterializeResult(asset_key=SEGMENT_DESCRIPTIONS_KEY, metadata={
        "trained": segmentation is not None, "as_of_on": str(as_of), "train_seconds": round(segment_s, 1),
        **({} if segmentation is None else {
            "k": segmentation.k,
            "silhouette_by_k": {str(k): round(v, 4) for k, v in segmentation.silhouette_by_k.items()},
            "segments": dg.MetadataValue.md("\n".join(f"- **{r['segment_name']}**: {r['description']}"
                                                      for r in descriptions.to_dicts()))})})
    yield dg.MaterializeResult(asset_key=CHURN_EVALUATION_KEY, metadata=churn_meta)
    yield dg.MaterializeResult(asset_key=CALIBRATION_KEY, metadata={"bins": calibration.height})


@dg.multi_asset(
    name="score_customer_models", group_name=GROUP,
    specs=[dg.AssetSpec(SEGMENTS_KEY, deps=[SEGMENT_DESCRIPTIONS_KEY, *INPUT_DEPS], kinds={"duckdb"},
                        description="Every customer's behavioural segment as of today."),
           dg.AssetSpec(CHURN_SCORES_KEY, deps=[CHURN_EVALUATION_KEY, *INPUT_DEPS], kinds={"scikitlearn", "duckdb"},
                        description="Every customer's probability of no order in the next 90 days.")])
def score_customer_models(context: AssetExecutionContext,
                          warehouse: WarehouseResource) -> Iterator[dg.MaterializeResult]:
    settings = warehouse.settings()
    data = read_frames(settings, INPUTS)
    orders, lines = data["orders"], data["lines"]
    assigned = pl.DataFrame(schema={"customer_id": pl.Int64, "segment_id": pl.Int64})
    scores = pl.DataFrame(schema=CHURN_SCORES_SCHEMA)
    if not orders.is_empty():
        as_of = as_of_day(orders)
        if model_path(settings, SEGMENT_FILE).exists():
            assigned = load_model(settings, SEGMENT_FILE).assign(segments.customer_features(orders, as_of, lines))
        if model_path(settings, CHURN_FILE).exists():
            scores = churn.score_churn(load_model(settings, CHURN_FILE),
                                       churn.churn_dataset(orders, as_of, label_end=as_of)).cast(CHURN_SCORES_SCHEMA)
    replace_tables(settings, {"customer_segments": assigned, "churn_scores": scores})
    yield dg.MaterializeResult(asset_key=SEGMENTS_KEY, metadata={"customers": assigned.height})
    yield dg.MaterializeResult(asset_key=CHURN_SCORES_KEY, metadata={
        "customers": scores.height,
        **{f"risk_{band}": int((scores["risk_band"] == band).sum()) for band in ("high", "medium", "low")}})


def _calibration_markdown(bins: list[dict]) -> str:
    rows = ["| bin | predicted | observed | customers |", "|---|---|---|---|"]
    rows += [f"| {b['bin']} | {b['mean_predicted']:.3f} | {b['observed_rate']:.3f} | {b['customers']} |" for b in bins]
    return "\n".join(rows)
