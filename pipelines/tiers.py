"""Refresh tiers: what the 15-minute ingest run rebuilds, and what only the daily builds do.

The intraday tier is what changes within a day and is read within a day: the store tables, the
order, sales, returns, delivery, support and campaign marts. The daily tier is the rest: the
marts that describe history by day, week, month or an as-of day (RFM, segments and their
movement, cohorts, stock positions by day, turnover, sales periods, loyalty tiers by month, the
clickstream's sessions, the competitor price index), the models' training and scoring, and
every mart built on those. dbt models join it by the tag `daily` (dbt/dbt_project.yml); the
model assets belong to it here.

The 15-minute `ingest` job builds the intraday tier and publishes; the daily tier keeps what the
last daily build wrote. The nightly `full_build` rebuilds everything, and `ecom pipeline run` runs
`daily_build` (everything, incremental loads) when the daily tier is due: missing from this
warehouse or left half-built there (pipelines/runner.py), or last built over
ECOM_DAILY_REFRESH_HOURS ago (`daily_due`; 0: every run rebuilds everything)."""

from __future__ import annotations

import time

import dagster as dg

from pipelines.assets_customers import score_customer_models, train_customer_models
from pipelines.assets_forecast import demand_forecast, demand_model
from pipelines.assets_publish import SNAPSHOT_KEY
from pipelines.assets_recommend import score_recommenders, train_recommenders
from pipelines.assets_reports import REPORTS_GROUP

DAILY_TAG = "daily"  # the dbt tag, which dagster-dbt makes the asset tag {"daily": ""}
MODEL_ASSETS = (demand_model, demand_forecast, train_recommenders, score_recommenders, train_customer_models,
                score_customer_models)


def daily_selection() -> dg.AssetSelection:
    """The daily tier: dbt models tagged `daily`, the model assets, and everything built from them
    up to (not including) the published snapshot."""
    roots = dg.AssetSelection.tag(DAILY_TAG, "") | dg.AssetSelection.assets(*MODEL_ASSETS)
    return roots.downstream() - dg.AssetSelection.assets(SNAPSHOT_KEY) - dg.AssetSelection.groups(REPORTS_GROUP)


def daily_due(instance: dg.DagsterInstance, keys: set[dg.AssetKey], hours: float) -> bool:
    """True when an asset of the daily tier (``keys``) was never materialised in this instance, or
    last materialised over ``hours`` ago."""
    oldest = time.time() - hours * 3600
    latest = instance.get_latest_materialization_events(sorted(keys))  # holds only the keys with an event
    return any(latest.get(key) is None or latest[key].timestamp < oldest for key in keys)  # type: ignore[union-attr]
