"""Asset checks beyond the per-table ones: money per day against the store, stock never below
zero (both blocking: they guard the published snapshot), and freshness per source."""


from datetime import timedelta

import dagster as dg

from pipelines.assets_landing import COMPETITOR_KEY, EVENTS_KEY
from pipelines.assets_store import all_raw_store_keys, raw_key
from pipelines.reconcile import CheckOutcome, no_negative_stock, orders_per_day_match
from pipelines.resources import StoreResource, WarehouseResource

STORE_FRESH_WITHIN = timedelta(hours=1)  # incremental loads run every 15 minutes
COMPETITOR_FRESH_WITHIN = timedelta(days=8)  # price lists arrive about weekly


def _result(outcome: CheckOutcome) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=outcome.passed, description=outcome.description, metadata=outcome.metadata)


@dg.asset_check(asset=raw_key("orders"), blocking=True,
                description="Orders and their money per day of placement match the store to the cent.")
def orders_reconcile_per_day(store: StoreResource, warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.writer() as con, store.open() as st:
        return _result(orders_per_day_match(con, st))


@dg.asset_check(asset=raw_key("stock_movements"), blocking=True, additional_deps=[raw_key("stock_levels")],
                description="No product is below zero on hand in any warehouse (ledger and levels).")
def no_negative_stock_check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.writer() as con:
        return _result(no_negative_stock(con))


def freshness_checks() -> list[dg.AssetChecksDefinition]:
    return [
        *dg.build_last_update_freshness_checks(assets=all_raw_store_keys(), lower_bound_delta=STORE_FRESH_WITHIN),
        *dg.build_time_partition_freshness_checks(assets=[EVENTS_KEY], deadline_cron="0 3 * * *"),
        *dg.build_last_update_freshness_checks(assets=[COMPETITOR_KEY], lower_bound_delta=COMPETITOR_FRESH_WITHIN),
    ]


def reconcile_checks() -> list[dg.AssetChecksDefinition]:
    return [orders_reconcile_per_day, no_negative_stock_check]
