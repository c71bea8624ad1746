"""The published snapshot: the last asset of every build. It runs only after everything it
depends on (and every blocking check on those) succeeded in the same run."""


import dagster as dg
from dagster import AssetExecutionContext

from pipelines.publish import publish
from pipelines.resources import WarehouseResource

SNAPSHOT_KEY = dg.AssetKey(["published", "warehouse_snapshot"])


def snapshot_asset(upstream: list[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.asset(key=SNAPSHOT_KEY, group_name="publish", deps=upstream, kinds={"duckdb"},
              description="A consistent read-only copy of the warehouse for dashboards and reports "
                          "(snapshots/current.duckdb), or the published version of the DuckLake.")
    def warehouse_snapshot(context: AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        published = publish(warehouse.settings())
        context.log.info(f"published {published.ref}")
        return dg.MaterializeResult(metadata=published.metadata())

    return warehouse_snapshot
