"""Jobs and schedules: ingestion every 15 minutes (the intraday tier, pipelines/tiers.py), a daily
full build (02:00 UTC, published), the daily clickstream partition, and each merchant's daily
(06:00) and weekly (Monday 06:30) report from the snapshot the full build published."""

from __future__ import annotations

import dagster as dg

from pipelines.assets_landing import COMPETITOR_KEY, EVENTS_KEY
from pipelines.assets_publish import SNAPSHOT_KEY
from pipelines.assets_reports import (
    REPORTS_GROUP,
    STOCK_NOTICES_KEY,
    report_job_name,
    report_key,
    report_schedule,
)
from pipelines.assets_store import RAW_GROUP, load_steps
from pipelines.dbt_steps import FULL_REFRESH_TAG
from pipelines.store_tables import GROUPS
from pipelines.tiers import daily_selection

RUNNING = dg.DefaultScheduleStatus.RUNNING
COMPETITOR_JOB = "competitor_prices"
STOCK_REFRESH_JOB = "stock_refresh"


def full_refresh_config() -> dict[str, object]:
    return {"ops": {f"load_{step}": {"config": {"full_refresh": True}} for step in load_steps()}}


def build_jobs() -> list[dg.UnresolvedAssetJobDefinition]:
    store_tables = dg.AssetSelection.groups(RAW_GROUP)
    landing = dg.AssetSelection.assets(EVENTS_KEY, COMPETITOR_KEY)
    build = (store_tables | landing).downstream() - landing  # every unpartitioned asset: tables, models, publish
    reports = dg.AssetSelection.groups(REPORTS_GROUP)
    stock = dg.AssetSelection.assets(*[dg.AssetKey(["raw", t]) for t in GROUPS["stock"]], SNAPSHOT_KEY,
                                     STOCK_NOTICES_KEY)
    return [
        dg.define_asset_job("ingest", selection=build - reports - daily_selection(),
                            description="Incremental load of every store table, the intraday marts rebuilt, "
                                        "then publish (the daily tier keeps its last build)."),
        dg.define_asset_job("daily_build", selection=build - reports,
                            description="Incremental load of every store table, every mart and model output "
                                        "rebuilt (the daily tier too), then publish."),
        dg.define_asset_job("full_build", selection=build - reports, config=full_refresh_config(),
                            tags={FULL_REFRESH_TAG: "true"},
                            description="Every store table reloaded whole, everything downstream rebuilt, then "
                                        "publish: repairs anything an incremental load could have missed."),
        dg.define_asset_job(STOCK_REFRESH_JOB, selection=stock,
                            description="Reload the stock tables, publish, and tell merchants of new low-stock "
                                        "alerts."),
        dg.define_asset_job("events_daily", selection=[EVENTS_KEY], description="Load days of clickstream events."),
        dg.define_asset_job(COMPETITOR_JOB, selection=[COMPETITOR_KEY],
                            description="Load competitor price files as the sensor finds them."),
        *[dg.define_asset_job(report_job_name(kind), selection=[report_key(kind)],
                              description=f"Write and mail merchants' {report_job_name(kind).split('_')[0]} reports "
                                          "(one run per merchant and period).") for kind in ("week", "day")],
    ]


def build_schedules(jobs: list[dg.UnresolvedAssetJobDefinition]) -> list[dg.ScheduleDefinition]:
    by_name = {job.name: job for job in jobs}
    return [
        dg.ScheduleDefinition(name="ingest_every_15_minutes", job=by_name["ingest"], cron_schedule="*/15 * * * *",
                              execution_timezone="UTC", default_status=RUNNING),
        dg.ScheduleDefinition(name="daily_full_build", job=by_name["full_build"], cron_schedule="0 2 * * *",
                              execution_timezone="UTC", default_status=RUNNING),
        dg.build_schedule_from_partitioned_job(by_name["events_daily"], name="events_daily_schedule",
                                               hour_of_day=1, default_status=RUNNING),
        report_schedule("day", by_name[report_job_name("day")], "0 6 * * *"),
        report_schedule("week", by_name[report_job_name("week")], "30 6 * * 1"),
    ]
