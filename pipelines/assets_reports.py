"""Merchant reports as partitioned assets: one partition per merchant and week (or day), so a
missed week is a backfill of its partitions. They read the published snapshot (the daily full
build publishes at 02:00 UTC; the report schedules run after it) and write under
``$ECOM_DATA_DIR/reports/<merchant>/``; the mail goes through the store's outbox."""

from collections.abc import Iterator
from datetime import date

import dagster as dg
from dagster import AssetExecutionContext

from ops_store.services import catalog
from pipelines.assets_publish import SNAPSHOT_KEY
from pipelines.reports import alerts
from pipelines.reports.periods import Kind, last_complete, period_of
from pipelines.reports.produce import KIND_NAMES, mail, produce
from pipelines.resources import StoreResource, WarehouseResource
from pipelines.settings import PipelineSettings

REPORTS_GROUP = "reports"
STOCK_NOTICES_KEY = dg.AssetKey(["reports", "stock_alert_notifications"])
MERCHANTS = dg.DynamicPartitionsDefinition(name="merchants")
TIME_DIMENSION = {"week": "week", "day": "day"}
RUNNING = dg.DefaultScheduleStatus.RUNNING


def report_key(kind: Kind) -> dg.AssetKey:
    return dg.AssetKey(["reports", f"merchant_{KIND_NAMES[kind]}_report"])


def report_job_name(kind: Kind) -> str:
    return f"{KIND_NAMES[kind]}_merchant_reports"


def partitions(kind: Kind, settings: PipelineSettings | None = None) -> dg.MultiPartitionsDefinition:
    start = (settings or PipelineSettings()).reports_start
    time = (dg.WeeklyPartitionsDefinition(start_date=start, day_offset=1) if kind == "week"
            else dg.DailyPartitionsDefinition(start_date=start))
    return dg.MultiPartitionsDefinition({"merchant": MERCHANTS, TIME_DIMENSION[kind]: time})


def report_asset(kind: Kind) -> dg.AssetsDefinition:
    @dg.asset(key=report_key(kind), partitions_def=partitions(kind), group_name=REPORTS_GROUP, deps=[SNAPSHOT_KEY],
              kinds={"pdf", "html"},
              description=f"Each merchant's {KIND_NAMES[kind]} report (HTML and PDF under reports/<merchant>/), "
                          "mailed to the merchant when mail is configured.")
    def merchant_report(context: AssetExecutionContext, store: StoreResource,
                        warehouse: WarehouseResource) -> dg.MaterializeResult:
        keys = context.partition_key.keys_by_dimension  # type: ignore[attr-defined]
        period = period_of(kind, date.fromisoformat(keys[TIME_DIMENSION[kind]]))
        with store.open() as st:
            report = produce(st, keys["merchant"], period, warehouse.settings())
            sent = mail(st, report)
        context.log.info(f"wrote {report.pdf} and {report.html}; {sent}")
        now = report.figures.sales["now"]
        return dg.MaterializeResult(metadata={
            "html": dg.MetadataValue.path(str(report.html)), "pdf": dg.MetadataValue.path(str(report.pdf)),
            "net_revenue": now["net_revenue"], "orders": now["orders"],
            "data_through": str(report.figures.data_through), **{f"mail_{k}": str(v) for k, v in sent.items()}})

    return merchant_report


def merchant_codes(store: StoreResource) -> list[str]:
    with store.open() as st:
        return [m["code"] for m in catalog.list_merchants(st)]


def sync_merchant_partitions(instance: dg.DagsterInstance, codes: list[str]) -> list[str]:
    """Add a partition for every merchant not yet known; returns the ones added."""
    known = set(instance.get_dynamic_partitions(MERCHANTS.name or "merchants"))
    new = [c for c in codes if c not in known]
    if new:
        instance.add_dynamic_partitions(MERCHANTS.name or "merchants", new)
    return new


def report_schedule(kind: Kind, job: "dg.UnresolvedAssetJobDefinition", cron: str) -> dg.ScheduleDefinition:
    @dg.schedule(name=report_job_name(kind), job=job, cron_schedule=cron, execution_timezone="UTC",
                 default_status=RUNNING,
                 description=f"Each merchant's {KIND_NAMES[kind]} report for the {kind} just ended.")
    def merchant_reports(context: dg.ScheduleEvaluationContext, store: StoreResource) -> Iterator[dg.RunRequest]:
        period = last_complete(kind, context.scheduled_execution_time.date())
        codes = merchant_codes(store)
        sync_merchant_partitions(context.instance, codes)
        for code in codes:
            key = dg.MultiPartitionKey({"merchant": code, TIME_DIMENSION[kind]: period.key})
            yield dg.RunRequest(run_key=f"{kind}-{code}-{period.key}", partition_key=key)

    return merchant_reports


@dg.sensor(minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Keep a report partition for every merchant in the store (so any merchant's past "
                       "weeks can be backfilled from the UI or `dagster asset backfill`).")
def merchant_partitions_sensor(context: dg.SensorEvaluationContext, store: StoreResource) -> dg.SensorResult:
    codes = merchant_codes(store)
    known = set(context.instance.get_dynamic_partitions(MERCHANTS.name or "merchants"))
    new = [c for c in codes if c not in known]
    if not new:
        return dg.SensorResult(skip_reason=f"all {len(codes)} merchants have report partitions")
    return dg.SensorResult(dynamic_partitions_requests=[MERCHANTS.build_add_request(new)])


@dg.asset(key=STOCK_NOTICES_KEY, group_name=REPORTS_GROUP, deps=[SNAPSHOT_KEY], kinds={"email", "webhook"},
          description="Tell each merchant, once per alert opening, of products at their reorder point (mail "
                      "and/or signed webhook), with the projected stock-out date and the suggested order.")
def stock_alert_notifications(context: AssetExecutionContext, store: StoreResource,
                              warehouse: WarehouseResource) -> dg.MaterializeResult:
    with store.open() as st:
        outcome = alerts.notify(st, warehouse.settings())
    context.log.info(f"stock alert notifications: {outcome}")
    return dg.MaterializeResult(metadata=outcome)
