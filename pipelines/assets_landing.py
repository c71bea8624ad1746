"""Landing-file assets: clickstream events as daily partitions (a backfill of a date range runs
as one run), competitor price files as dynamic partitions that a sensor adds as files arrive.
Quarantined rows go to meta.quarantine; their count and reasons show in the run's metadata."""


from datetime import date
from pathlib import Path

import dagster as dg
from dagster import AssetExecutionContext

from pipelines.landing_load import LANDING_LOCK, PartitionLoad, load_competitor_file, load_events_days
from pipelines.resources import WarehouseResource
from pipelines.settings import PipelineSettings

LANDING_GROUP = "raw_landing"
EVENTS_KEY = dg.AssetKey(["raw", "events"])
COMPETITOR_KEY = dg.AssetKey(["raw", "competitor_prices"])
competitor_files = dg.DynamicPartitionsDefinition(name="competitor_price_files")


def events_partitions() -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(start_date=PipelineSettings().events_start, timezone="UTC")


def _summary(loads: list[PartitionLoad]) -> dict[str, object]:
    reasons: dict[str, int] = {}
    for load in loads:
        for reason, n in load.reasons.items():
            reasons[reason] = reasons.get(reason, 0) + n
    return {"partitions": len(loads), "files": sum(len(x.files) for x in loads),
            "rows_loaded": sum(x.rows_loaded for x in loads),
            "rows_quarantined": sum(x.rows_quarantined for x in loads),
            "quarantine_reasons": reasons,
            # re-delivered under the same name with other content: the new content replaced the old
            "files_replaced": [f"{x.partition_key}/{name}" if name != x.partition_key else name
                               for x in loads for name in x.replaced][:50],
            "partitions_without_files": [x.partition_key for x in loads if not x.files][:50]}


def _log_replaced(context: AssetExecutionContext, summary: dict[str, object]) -> None:
    for name in summary["files_replaced"]:  # type: ignore[attr-defined]
        context.log.warning(f"{name}: delivered again with other content; the new content replaced what was "
                            "loaded from it before")


def events_asset() -> dg.AssetsDefinition:
    @dg.asset(key=EVENTS_KEY, group_name=LANDING_GROUP, partitions_def=events_partitions(), kinds={"duckdb"},
              backfill_policy=dg.BackfillPolicy.single_run(),
              description="Clickstream events of each day (landing/events/dt=YYYY-MM-DD/*.parquet).")
    def events(context: AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        landing = warehouse.settings().landing_dir
        with warehouse.writer(hold=[LANDING_LOCK]) as con:
            loads = load_events_days(con, landing, [date.fromisoformat(key) for key in context.partition_keys])
        summary = _summary(loads)
        context.log.info(f"events: {summary['rows_loaded']} rows loaded, {summary['rows_quarantined']} quarantined "
                         f"over {summary['partitions']} day(s)")
        _log_replaced(context, summary)
        return dg.MaterializeResult(metadata=summary)

    return events


def competitor_prices_asset() -> dg.AssetsDefinition:
    @dg.asset(key=COMPETITOR_KEY, group_name=LANDING_GROUP, partitions_def=competitor_files, kinds={"duckdb"},
              backfill_policy=dg.BackfillPolicy.single_run(),
              description="Competitor price lists, one partition per file (landing/competitor_prices/*.csv).")
    def competitor_prices(context: AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        folder = warehouse.settings().landing_dir / "competitor_prices"
        with warehouse.writer(hold=[LANDING_LOCK]) as con:
            loads = [load_competitor_file(con, folder / Path(key).name) for key in context.partition_keys]
        summary = _summary(loads)
        _log_replaced(context, summary)
        return dg.MaterializeResult(metadata=summary)

    return competitor_prices


def landing_files(settings: PipelineSettings, kind: str) -> list[Path]:
    """The files waiting in a landing folder, in name order."""
    if kind == "competitor_prices":
        return sorted((settings.landing_dir / "competitor_prices").glob("*.csv"))
    return sorted((settings.landing_dir / "events").glob("dt=*/*.parquet"))


def event_days(settings: PipelineSettings) -> list[str]:
    """The days (YYYY-MM-DD) that have clickstream files waiting, in order."""
    return sorted({p.parent.name.removeprefix("dt=") for p in landing_files(settings, "events")})
