"""The published snapshot: the last asset of every build. It runs only after everything it
depends on (and every blocking check on those) succeeded in the same run."""


import dagster as dg
from dagster import AssetExecutionContext

from pipelines.publish import publish_snapshot
from pipelines.resources import WarehouseResource

SNAPSHOT_KEY = dg.AssetKey(["published", "warehouse_snapshot"])


def snapshot_asset(upstream: list[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.asset(key=SNAPSHOT_KEY, group_name="publish", deps=upstream, kinds={"duckdb"},
              description="A consistent read-only copy of the warehouse for dashboards and reports "
                          "(snapshots/current.duckdb).")
    def warehouse_snapshot(context: AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        path = publish_snapshot(warehouse.settings())
        context.log.info(f"published {path}")
        return dg.MaterializeResult(metadata={"path": str(path), "bytes": path.stat().st_size})

    return warehouse_snapshot
