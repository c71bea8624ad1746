"""Jobs and schedules: ingestion every 15 minutes, a daily full build, the daily clickstream
partition, and the weekly merchant reports (their report assets arrive with step 8; until then
the weekly job rebuilds and publishes what the reports will read)."""

from __future__ import annotations

import dagster as dg

from pipelines.assets_landing import COMPETITOR_KEY, EVENTS_KEY, competitor_files, events_partitions
from pipelines.assets_publish import SNAPSHOT_KEY
from pipelines.assets_store import RAW_GROUP
from pipelines.store_tables import GROUPS

RUNNING = dg.DefaultScheduleStatus.RUNNING
STORE_TABLES = dg.AssetSelection.groups(RAW_GROUP)
BUILD = STORE_TABLES | STORE_TABLES.downstream()  # every unpartitioned asset built from the store
REPORTS = dg.AssetSelection.groups("reports")


def full_refresh_config() -> dict[str, object]:
    return {"ops": {f"load_{group}": {"config": {"full_refresh": True}} for group in GROUPS}}


ingest_job = dg.define_asset_job("ingest", selection=BUILD - REPORTS,
                                 description="Incremental load of every store table, then publish.")
full_build_job = dg.define_asset_job("full_build", selection=BUILD - REPORTS, config=full_refresh_config(),
                                     description="Every store table reloaded whole, everything downstream "
                                                 "rebuilt, then publish: repairs anything an incremental load "
                                                 "could have missed.")
stock_refresh_job = dg.define_asset_job(
    "stock_refresh", selection=dg.AssetSelection.assets(*[dg.AssetKey(["raw", t]) for t in GROUPS["stock"]],
                                                        SNAPSHOT_KEY),
    description="Reload the stock tables and publish, when new low-stock alerts open.")
events_job = dg.define_asset_job("events_daily", selection=[EVENTS_KEY], partitions_def=events_partitions(),
                                 description="Load one day of clickstream events.")
competitor_job = dg.define_asset_job("competitor_prices", selection=[COMPETITOR_KEY],
                                     partitions_def=competitor_files,
                                     description="Load competitor price files as the sensor finds them.")
weekly_reports_job = dg.define_asset_job("weekly_merchant_reports", selection=BUILD,
                                         description="Build, publish and (from step 8) write each merchant's "
                                                     "weekly report.")

schedules = [
    dg.ScheduleDefinition(name="ingest_every_15_minutes", job=ingest_job, cron_schedule="*/15 * * * *",
                          execution_timezone="UTC", default_status=RUNNING),
    dg.ScheduleDefinition(name="daily_full_build", job=full_build_job, cron_schedule="0 2 * * *",
                          execution_timezone="UTC", default_status=RUNNING),
    dg.build_schedule_from_partitioned_job(events_job, name="events_daily_schedule", hour_of_day=1,
                                           default_status=RUNNING),
    dg.ScheduleDefinition(name="weekly_merchant_reports", job=weekly_reports_job, cron_schedule="0 6 * * 1",
                          execution_timezone="UTC", default_status=RUNNING),
]
jobs = [ingest_job, full_build_job, stock_refresh_job, events_job, competitor_job, weekly_reports_job]
