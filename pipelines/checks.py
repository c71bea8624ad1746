"""Freshness checks per source (the checks on the loaded rows are computed by the load steps,
pipelines/assets_store.py)."""


from datetime import timedelta

import dagster as dg

from pipelines.assets_landing import COMPETITOR_KEY, EVENTS_KEY
from pipelines.assets_store import all_raw_store_keys

STORE_FRESH_WITHIN = timedelta(hours=1)  # incremental loads run every 15 minutes
COMPETITOR_FRESH_WITHIN = timedelta(days=8)  # price lists arrive about weekly


def freshness_checks() -> list[dg.AssetChecksDefinition]:
    return [
        *dg.build_last_update_freshness_checks(assets=all_raw_store_keys(), lower_bound_delta=STORE_FRESH_WITHIN),
        *dg.build_time_partition_freshness_checks(assets=[EVENTS_KEY], deadline_cron="0 3 * * *"),
        *dg.build_last_update_freshness_checks(assets=[COMPETITOR_KEY], lower_bound_delta=COMPETITOR_FRESH_WITHIN),
    ]
