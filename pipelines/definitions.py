"""The Dagster code location: `dagster dev -m pipelines.definitions` (or `ecom pipeline dev`).

Built when Dagster asks for it, not at import (ARCHITECTURE: nothing happens at import)."""

from __future__ import annotations

import warnings

import dagster as dg

from pipelines.assets_landing import competitor_prices_asset, events_asset
from pipelines.assets_publish import snapshot_asset
from pipelines.assets_reports import merchant_partitions_sensor, report_asset, stock_alert_notifications
from pipelines.assets_store import all_raw_store_keys, store_assets
from pipelines.checks import freshness_checks
from pipelines.dbt_assets import dbt_models_asset, dbt_resource
from pipelines.jobs import build_jobs, build_schedules
from pipelines.resources import default_resources
from pipelines.run_log import record_failed_runs, record_successful_runs
from pipelines.sensors import competitor_price_files_sensor, low_stock_alerts_sensor
from pipelines.settings import PipelineSettings
from pipelines.tiers import MODEL_ASSETS


def build_definitions() -> dg.Definitions:
    with warnings.catch_warnings():
        # Single-run backfills are "beta" and freshness checks "superseded" by freshness policies;
        # both are what this pipeline means (checks visible in the UI), so say it once, here.
        warnings.simplefilter("ignore", dg.BetaWarning)
        warnings.simplefilter("ignore", dg.SupersessionWarning)
        return _definitions()


def _definitions() -> dg.Definitions:
    freshness = freshness_checks()
    dbt_build = dbt_models_asset()
    ml_assets = list(MODEL_ASSETS)
    models = [k for k in dbt_build.keys if k.path[0] != "raw"]
    assets = [*store_assets(), events_asset(), competitor_prices_asset(), dbt_build, *ml_assets,
              snapshot_asset([*all_raw_store_keys(), *models, *[k for a in ml_assets for k in a.keys]]),
              report_asset("week"), report_asset("day"), stock_alert_notifications]
    jobs = build_jobs()
    return dg.Definitions(
        assets=assets,
        asset_checks=freshness,
        jobs=jobs,
        schedules=build_schedules(jobs),
        sensors=[competitor_price_files_sensor, low_stock_alerts_sensor, merchant_partitions_sensor,
                 record_successful_runs, record_failed_runs,
                 dg.build_sensor_for_freshness_checks(freshness_checks=freshness, minimum_interval_seconds=300,
                                                      default_status=dg.DefaultSensorStatus.RUNNING)],
        resources={**default_resources(), "dbt": dbt_resource()},
        # Runs launched by the UI, the daemon or `ecom pipeline run` (unless in_process): one process
        # per step, ECOM_PIPELINE_MAX_CONCURRENT at a time.
        executor=dg.multiprocess_executor.configured({"max_concurrent": PipelineSettings().max_concurrent}),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
