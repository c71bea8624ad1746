"""Sensors: competitor price files as they land, and new low-stock alerts in the store."""


import json

import dagster as dg
from sqlalchemy import select

from ops_store.models import StockAlert
from pipelines.assets_landing import COMPETITOR_KEY, competitor_files, landing_files
from pipelines.jobs import COMPETITOR_JOB, STOCK_REFRESH_JOB
from pipelines.resources import StoreResource, WarehouseResource

RUNNING = dg.DefaultSensorStatus.RUNNING


@dg.sensor(job_name=COMPETITOR_JOB, minimum_interval_seconds=60, default_status=RUNNING,
           description="A run for each competitor price file that arrived or changed in landing/competitor_prices.")
def competitor_price_files_sensor(context: dg.SensorEvaluationContext,
                                  warehouse: WarehouseResource) -> dg.SensorResult:
    seen: dict[str, str] = json.loads(context.cursor or "{}")
    arrived: dict[str, str] = {}
    for path in landing_files(warehouse.settings(), "competitor_prices"):
        stat = path.stat()
        stamp = f"{stat.st_size}-{stat.st_mtime_ns}"
        if seen.get(path.name) == stamp:
            continue
        # A file that changed with its mtime gone back (copied with its timestamps kept) is not
        # "loaded since it changed" whatever its mtime says: it loads again.
        before = seen.get(path.name)
        went_back = before is not None and stat.st_mtime_ns <= int(before.rsplit("-", 1)[1])
        if not went_back and _loaded_since(context.instance, path.name, stat.st_mtime):
            seen[path.name] = stamp  # loaded already (by `ecom pipeline run`, a backfill) since it last changed
        else:
            arrived[path.name] = stamp
    if not arrived:
        return dg.SensorResult(skip_reason="no new competitor price files", cursor=json.dumps(seen, sort_keys=True))
    known = set(context.instance.get_dynamic_partitions(competitor_files.name))
    new_keys = [name for name in arrived if name not in known]
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=name, run_key=f"{name}@{stamp}") for name, stamp in arrived.items()],
        dynamic_partitions_requests=[competitor_files.build_add_request(new_keys)] if new_keys else [],
        cursor=json.dumps({**seen, **arrived}, sort_keys=True))


def _loaded_since(instance: dg.DagsterInstance, partition: str, mtime: float) -> bool:
    found = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=COMPETITOR_KEY, asset_partitions=[partition], after_timestamp=mtime), limit=1)
    return bool(found.records)


@dg.sensor(job_name=STOCK_REFRESH_JOB, minimum_interval_seconds=60, default_status=RUNNING,
           description="New open low-stock alerts in the store: refresh the stock tables, publish, and "
                       "notify their merchants (once per alert opening).")
def low_stock_alerts_sensor(context: dg.SensorEvaluationContext,
                            store: StoreResource) -> dg.RunRequest | dg.SkipReason:
    last_seen = int(context.cursor or 0)
    with store.open() as st, st.read() as session:
        alerts = session.execute(select(StockAlert.id, StockAlert.product_id, StockAlert.warehouse_id)
                                 .where(StockAlert.status == "open", StockAlert.id > last_seen)
                                 .order_by(StockAlert.id)).all()
    if not alerts:
        return dg.SkipReason(f"no new open low-stock alerts after #{last_seen}")
    newest = alerts[-1].id
    context.update_cursor(str(newest))
    ids = [a.id for a in alerts]
    return dg.RunRequest(run_key=f"low-stock-{newest}",
                         tags={"ecom/alert_ids": ",".join(map(str, ids[:200])), "ecom/alert_count": str(len(ids))})
