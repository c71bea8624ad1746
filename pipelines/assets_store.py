"""One Dagster asset per store table (raw/<table>), loaded a group at a time in one step, with
two checks per table computed right after its load: keys unique, and rows matching the store.
Both are blocking: a failure stops the snapshot from being published."""


from collections.abc import Iterator

import dagster as dg
from dagster import AssetExecutionContext

from pipelines.extract import WATERMARK_LOG, StoreSource, ensure_meta, load_table
from pipelines.landing_load import ensure_landing_tables
from pipelines.reconcile import CheckOutcome, keys_unique, rows_match_store
from pipelines.resources import StoreResource, WarehouseResource
from pipelines.store_tables import TableSpec, specs_by_group

RAW_GROUP = "raw_store"


class IngestConfig(dg.Config):
    """full_refresh: reload every selected table whole instead of what changed since last time."""

    full_refresh: bool = False


def raw_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", table])


def check_result(spec: TableSpec, name: str, outcome: CheckOutcome) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(asset_key=raw_key(spec.name), check_name=name, passed=outcome.passed,
                               description=outcome.description, metadata=outcome.metadata)


def _group_asset(group: str, specs: list[TableSpec]) -> dg.AssetsDefinition:
    asset_specs = [dg.AssetSpec(raw_key(s.name), group_name=RAW_GROUP, kinds={"duckdb"},
                                description=f"Store table {s.name} ({s.kind} load), key {', '.join(s.key)}.",
                                metadata={"load_kind": s.kind, "columns": list(s.column_names)})
                   for s in specs]
    check_specs = [dg.AssetCheckSpec(name, asset=raw_key(s.name), blocking=True, description=text)
                   for s in specs for name, text in (
                       ("keys_unique", "No key appears twice."),
                       ("rows_match_store", "The same keys as the store, up to the last load's watermark."))]

    @dg.multi_asset(name=f"load_{group}", specs=asset_specs, check_specs=check_specs, can_subset=True,
                    description=f"Load the store's {group} tables into the warehouse (incremental unless "
                                "full_refresh).")
    def load(context: AssetExecutionContext, config: IngestConfig, store: StoreResource,
             warehouse: WarehouseResource) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        selected = context.selected_asset_keys
        settings = warehouse.settings()
        loading = [f"raw.{s.name}" for s in specs if raw_key(s.name) in selected]
        with warehouse.writer(hold=loading, share=[WATERMARK_LOG]) as con:
            ensure_meta(con)
            ensure_landing_tables(con)  # dbt's landing sources exist before any file has landed
            source = StoreSource.attach(con, store.store_url())
            for spec in specs:
                if raw_key(spec.name) not in selected:
                    continue
                result = load_table(con, source, spec, full=config.full_refresh,
                                    overlap_s=settings.ingest_overlap_s, id_overlap=settings.ingest_id_overlap)
                context.log.info(f"raw.{spec.name}: {result.mode} load, {result.rows_read} rows read, "
                                 f"{result.rows_total} in the table ({result.seconds:.2f}s)")
                yield dg.MaterializeResult(asset_key=raw_key(spec.name), metadata={
                    "mode": result.mode, "rows_read": result.rows_read,
                    "dagster/row_count": result.rows_total, "watermark": result.watermark or "",
                    "seconds": round(result.seconds, 3)})
                matched = rows_match_store(con, source, spec)
                yield check_result(spec, "keys_unique", keys_unique(con, spec, result, matched.passed))
                yield check_result(spec, "rows_match_store", matched)

    return load


def store_assets() -> list[dg.AssetsDefinition]:
    return [_group_asset(group, specs) for group, specs in specs_by_group().items()]


def all_raw_store_keys() -> list[dg.AssetKey]:
    return [raw_key(s.name) for specs in specs_by_group().values() for s in specs]
