"""One Dagster asset per store table (raw/<table>), with two checks per table computed right after
its load (keys unique, rows matching the store) and the checks across tables (`TABLE_CHECKS`:
money per day, stock never below zero) once the step has loaded its tables. All are blocking: a
failure stops the snapshot from being published, and every check of the step is still reported.

The tables load in steps (`load_steps`): on a warehouse file one step loads them all, since steps
would queue on the file's one writer anyway and each would pay for opening the file and attaching
the store (0.2 s a step at a million orders); on a DuckLake each group of tables is a step of its
own, and the groups load side by side."""


from collections.abc import Callable, Iterator
from dataclasses import dataclass

import dagster as dg
import duckdb
from dagster import AssetExecutionContext

from pipelines.extract import WATERMARK_LOG, StoreSource, ensure_meta, load_table
from pipelines.landing_load import ensure_landing_tables
from pipelines.reconcile import CheckOutcome, keys_unique, no_negative_stock, orders_per_day_match, rows_match_store
from pipelines.resources import StoreResource, WarehouseResource
from pipelines.settings import PipelineSettings
from pipelines.store_tables import TableSpec, specs_by_group, table_specs

RAW_GROUP = "raw_store"


class IngestConfig(dg.Config):
    """full_refresh: reload every selected table whole instead of what changed since last time."""

    full_refresh: bool = False


def raw_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", table])


def check_result(table: str, name: str, outcome: CheckOutcome) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(asset_key=raw_key(table), check_name=name, passed=outcome.passed,
                               description=outcome.description, metadata=outcome.metadata)


@dataclass(frozen=True)
class TableCheck:
    """A check on a table's rows that reads more than that table, computed at the end of the step
    that loads it (the tables it reads load in the same step: same group)."""

    table: str
    name: str
    description: str
    evaluate: Callable[[duckdb.DuckDBPyConnection, StoreResource], CheckOutcome]


def _orders_per_day(con: duckdb.DuckDBPyConnection, store: StoreResource) -> CheckOutcome:
    with store.open() as st:
        return orders_per_day_match(con, st)


TABLE_CHECKS = (
    TableCheck("orders", "orders_reconcile_per_day",
               "Orders and their money per day of placement match the store to the cent.", _orders_per_day),
    TableCheck("stock_movements", "no_negative_stock_check",
               "No product is below zero on hand in any warehouse (ledger and levels).",
               lambda con, _store: no_negative_stock(con)),
)


def _load_step(step: str, specs: list[TableSpec]) -> dg.AssetsDefinition:
    asset_specs = [dg.AssetSpec(raw_key(s.name), group_name=RAW_GROUP, kinds={"duckdb"},
                                description=f"Store table {s.name} ({s.kind} load), key {', '.join(s.key)}.",
                                metadata={"load_kind": s.kind, "columns": list(s.column_names)})
                   for s in specs]
    check_specs = [dg.AssetCheckSpec(name, asset=raw_key(s.name), blocking=True, description=text)
                   for s in specs for name, text in (
                       ("keys_unique", "No key appears twice."),
                       ("rows_match_store", "The same keys as the store, up to the last load's watermark."))]
    tables_checked = [c for c in TABLE_CHECKS if c.table in {s.name for s in specs}]
    check_specs += [dg.AssetCheckSpec(c.name, asset=raw_key(c.table), blocking=True, description=c.description)
                    for c in tables_checked]
    tables = "tables" if step == "store" else f"{step} tables"

    @dg.multi_asset(name=f"load_{step}", specs=asset_specs, check_specs=check_specs, can_subset=True,
                    description=f"Load the store's {tables} into the warehouse (incremental unless "
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
                yield check_result(spec.name, "keys_unique", keys_unique(con, spec, result, matched.passed))
                yield check_result(spec.name, "rows_match_store", matched)
            for check in tables_checked:
                if dg.AssetCheckKey(raw_key(check.table), check.name) in context.selected_asset_check_keys:
                    yield check_result(check.table, check.name, check.evaluate(con, store))

    return load


def load_steps(settings: PipelineSettings | None = None) -> dict[str, list[TableSpec]]:
    """The load steps by name (each the op `load_<name>`) and the tables each loads."""
    if (settings or PipelineSettings()).warehouse_mode == "file":
        return {"store": table_specs()}
    return specs_by_group()


def store_assets() -> list[dg.AssetsDefinition]:
    return [_load_step(step, specs) for step, specs in load_steps().items()]


def all_raw_store_keys() -> list[dg.AssetKey]:
    return [raw_key(s.name) for s in table_specs()]
