"""The Dagster code location: `dagster dev -m pipelines.definitions` (or `ecom pipeline dev`).

Built when Dagster asks for it, not at import (ARCHITECTURE: nothing happens at import)."""

from __future__ import annotations

import dagster as dg

from pipelines.assets_landing import competitor_prices, events_asset
from pipelines.assets_publish import snapshot_asset
from pipelines.assets_store import all_raw_store_keys, store_assets
from pipelines.checks import freshness_checks, reconcile_checks
from pipelines.jobs import jobs, schedules
from pipelines.resources import default_resources
from pipelines.sensors import competitor_price_files_sensor, low_stock_alerts_sensor


def build_definitions() -> dg.Definitions:
    freshness = freshness_checks()
    assets = [*store_assets(), events_asset(), competitor_prices, snapshot_asset(all_raw_store_keys())]
    return dg.Definitions(
        assets=assets,
        asset_checks=[*reconcile_checks(), *freshness],
        jobs=jobs,
        schedules=schedules,
        sensors=[competitor_price_files_sensor, low_stock_alerts_sensor,
                 dg.build_sensor_for_freshness_checks(freshness_checks=freshness, minimum_interval_seconds=300,
                                                      default_status=dg.DefaultSensorStatus.RUNNING)],
        resources=default_resources(),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
