"""Landing files: the contract as pure functions, clickstream partitions and their backfill from
the CLI, competitor files through the sensor, quarantine with reasons, and the low-stock sensor."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest
from typer.testing import CliRunner

from ops_store.db import Store
from ops_store.services import replenishment
from pipelines import landing_load
from pipelines.cli import app as pipeline_app
from pipelines.definitions import build_definitions
from pipelines.landing import check_competitor_prices, check_events
from pipelines.resources import StoreResource, WarehouseResource
from pipelines.runner import backfill_events, prepare_environment
from pipelines.settings import PipelineSettings
from tests.factories import make_shop
from tests.pipeline_support import landing_events, use_warehouse, warehouse_rows, warehouse_untouched

DAY = date(2026, 3, 10)



# --- the contract, on literal frames -------------------------------------------------------------

def test_event_rows_that_break_the_contract_come_back_with_their_reason() -> None:
    frame = landing_events(DAY, 6)
    frame = frame.with_columns(
        pl.Series("event_type", ["product_view", "teleport", "product_view", "product_view", "search", "search"]),
        pl.Series("sku", ["SKU-1", "SKU-1", None, "SKU-1", None, None]),
        pl.Series("event_id", [1, 2, 3, 4, 4, 6]),
        pl.Series("ts", [datetime(2026, 3, 10, 1, tzinfo=UTC), datetime(2026, 3, 10, 2, tzinfo=UTC),
                         datetime(2026, 3, 10, 3, tzinfo=UTC), datetime(2026, 3, 11, 0, tzinfo=UTC),
                         datetime(2026, 3, 10, 4, tzinfo=UTC), datetime(2026, 3, 10, 5, tzinfo=UTC)]))
    checked = check_events(frame, DAY, Path("e.parquet"))
    assert checked.good["event_id"].to_list() == [1, 6]
    assert dict(zip(checked.bad["row_number"], checked.bad["reason"], strict=True)) == {
        2: "event_type: not one of session_start, page_view, product_view, search, add_to_cart, checkout, purchase",
        3: "sku: missing on a product event",
        4: "ts: not on 2026-03-10",
        5: "event_id: appears more than once",
    }
    assert json.loads(checked.bad["raw"][0])["event_type"] == "teleport"


def test_an_events_file_without_the_columns_is_rejected_whole() -> None:
    checked = check_events(pl.DataFrame({"event_id": [1]}), DAY, Path("x.parquet"))
    assert checked.good.height == 0
    assert checked.bad["reason"].to_list()[0].startswith("missing columns: ['session_id'")


def test_competitor_rows_are_checked_and_prices_stay_exact() -> None:
    frame = pl.DataFrame({"competitor": ["a", "", "b", "c", "d"], "sku": ["S1", "S2", None, "S4", "S5"],
                          "price": ["19.99", "2", "3", "1.234", "0"], "promo": ["true", "false", "TRUE", "no", "x"]})
    checked = check_competitor_prices(frame, Path("p.csv"))
    assert checked.good.rows() == [("a", "S1", Decimal("19.99"), True)]
    assert checked.bad["reason"].to_list() == ["competitor: missing", "sku: missing",
                                               "price: not an amount with at most 2 decimals", "price: not positive"]


# --- partitions, backfill and quarantine in a real warehouse -------------------------------------

@pytest.fixture
def dagster_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PipelineSettings:
    """A data dir with its DAGSTER_HOME and a file warehouse (for tests that never write it)."""
    monkeypatch.setenv("ECOM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ECOM_EVENTS_START", "2026-01-01")
    settings = use_warehouse(monkeypatch, tmp_path / "data")
    prepare_environment(settings)
    return settings


@pytest.fixture
def landing_env(dagster_env: PipelineSettings, warehouse_mode: str, lake_catalog,  # type: ignore[no-untyped-def]
                tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PipelineSettings:
    """The same, with the warehouse in each form (a DuckLake with a catalog database of its own)."""
    return use_warehouse(monkeypatch, tmp_path / "data", lake_catalog() if warehouse_mode == "ducklake" else None)


def _write_day(settings: PipelineSettings, day: date, frame: pl.DataFrame, name: str = "events.parquet") -> Path:
    folder = settings.landing_dir / "events" / f"dt={day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(folder / name)
    return folder / name


def test_backfill_of_a_day_range_quarantines_bad_files_and_rows_and_reruns_the_same(landing_env) -> None:  # type: ignore[no-untyped-def]
    settings = landing_env
    before, day = DAY - timedelta(days=1), DAY
    _write_day(settings, before, landing_events(before, 50, first_id=1))
    good = _write_day(settings, day, landing_events(day, 40, first_id=1000))
    shutil.copy(good, good.with_name("resent.parquet"))  # the same file delivered twice
    (good.parent / "broken.parquet").write_bytes(b"PAR1 this is not parquet")
    odd = landing_events(day, 5, first_id=2000).with_columns(pl.lit("teleport").alias("event_type"))
    _write_day(settings, day, odd, "odd.parquet")

    result = CliRunner().invoke(pipeline_app, ["backfill", "--from", before.isoformat(), "--to", day.isoformat(),
                                               "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["phases"][0]["materialized"] == 2

    counts = dict(warehouse_rows(settings, "SELECT event_on, count(*) FROM raw.events GROUP BY 1"))
    assert counts == {before: 50, day: 40}
    reasons = warehouse_rows(settings, "SELECT file, reason, count(*) FROM meta.quarantine GROUP BY ALL ORDER BY 1")
    by_file = {Path(f).name: (r, n) for f, r, n in reasons}
    assert by_file["resent.parquet"] == ("duplicate: same content as events.parquet", 1)
    assert by_file["broken.parquet"][0].startswith("unreadable Parquet")
    assert by_file["odd.parquet"] == (
        "event_type: not one of session_start, page_view, product_view, search, add_to_cart, checkout, purchase", 5)

    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(["raw", "events"]))
    assert event.asset_materialization.metadata["rows_quarantined"].value == 7

    again = backfill_events(day, day)
    assert again.success
    assert dict(warehouse_rows(settings, "SELECT event_on, count(*) FROM raw.events GROUP BY 1")) == counts
    assert warehouse_rows(settings, "SELECT count(*) FROM meta.quarantine")[0][0] == 7


def test_clickstream_days_commit_in_batches_and_a_failed_batch_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Days share a transaction up to EVENTS_ROWS_PER_COMMIT rows: a load that dies keeps the
    batches committed before and nothing of its own batch; the next load completes it."""
    days = [DAY + timedelta(days=k) for k in range(4)]
    for k, day in enumerate(days):
        folder = tmp_path / "landing" / "events" / f"dt={day.isoformat()}"
        folder.mkdir(parents=True)
        landing_events(day, 60, first_id=1000 * (k + 1)).write_parquet(folder / "events.parquet")
    monkeypatch.setattr(landing_load, "EVENTS_ROWS_PER_COMMIT", 100)  # two days of 60 rows a batch
    load_day = landing_load._load_events_files

    def dies_on_the_last_day(con, day, read):  # type: ignore[no-untyped-def]
        if day == days[-1]:
            raise RuntimeError("killed")
        return load_day(con, day, read)

    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setattr(landing_load, "_load_events_files", dies_on_the_last_day)
    with pytest.raises(RuntimeError):
        landing_load.load_events_days(con, tmp_path / "landing", days)
    loaded = "SELECT event_on, count(*) FROM raw.events GROUP BY 1 ORDER BY 1"
    assert con.execute(loaded).fetchall() == [(days[0], 60), (days[1], 60)]  # day 3 went with day 4
    assert con.execute("SELECT count(*) FROM meta.landing_files").fetchone() == (2,)

    monkeypatch.setattr(landing_load, "_load_events_files", load_day)
    loads = landing_load.load_events_days(con, tmp_path / "landing", days)
    assert [x.rows_loaded for x in loads] == [60] * 4
    assert con.execute(loaded).fetchall() == [(day, 60) for day in days]
    assert con.execute("SELECT count(*) FROM meta.landing_files").fetchone() == (4,)


def test_backfill_refuses_days_before_the_first_partition(landing_env) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(pipeline_app, ["backfill", "--from", "2025-12-01", "--to", "2026-01-02"])
    assert result.exit_code == 1
    assert "before the first clickstream partition 2026-01-01" in result.output


def _sensor_context(instance: dg.DagsterInstance, cursor: str | None,
                    **resources: object) -> dg.SensorEvaluationContext:
    return dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)


def test_competitor_sensor_requests_a_run_per_new_file_and_bad_files_are_quarantined(landing_env) -> None:  # type: ignore[no-untyped-def]
    settings = landing_env
    folder = settings.landing_dir / "competitor_prices"
    folder.mkdir(parents=True)
    (folder / "2026-03-01.csv").write_text("competitor,sku,price,promo\npricehawk,SKU-1,9.50,false\n"
                                           "pricehawk,SKU-2,-3,false\n")
    defs = build_definitions()
    sensor = defs.resolve_sensor_def("competitor_price_files_sensor")
    with dg.DagsterInstance.get() as instance:
        first = sensor(_sensor_context(instance, None, warehouse=WarehouseResource()))
        assert [r.partition_key for r in first.run_requests] == ["2026-03-01.csv"]
        assert first.dynamic_partitions_requests[0].partition_keys == ["2026-03-01.csv"]
        instance.add_dynamic_partitions("competitor_price_files", ["2026-03-01.csv"])
        quiet = sensor(_sensor_context(instance, first.cursor, warehouse=WarehouseResource()))
        assert not quiet.run_requests and quiet.skip_reason

        shutil.copy(folder / "2026-03-01.csv", folder / "2026-03-08.csv")  # same content, new name
        (folder / "prices-final.csv").write_text("competitor,sku,price,promo\nshopmart,SKU-1,9.10,true\n")
        second = sensor(_sensor_context(instance, first.cursor, warehouse=WarehouseResource()))
        assert sorted(r.partition_key for r in second.run_requests) == ["2026-03-08.csv", "prices-final.csv"]
        instance.add_dynamic_partitions("competitor_price_files", ["2026-03-08.csv", "prices-final.csv"])

        job = defs.resolve_job_def("competitor_prices")
        for key in ("2026-03-01.csv", "2026-03-08.csv", "prices-final.csv"):
            assert job.execute_in_process(instance=instance, partition_key=key).success
        # A sensor starting afresh (a new daemon) does not ask again for files loaded since they changed.
        fresh = sensor(_sensor_context(instance, None, warehouse=WarehouseResource()))
        assert not fresh.run_requests and len(json.loads(fresh.cursor)) == 3

    rows = warehouse_rows(settings, "SELECT observed_on, competitor, sku, price FROM raw.competitor_prices")
    assert [(r[0], r[1], r[2], str(r[3])) for r in rows] == [(date(2026, 3, 1), "pricehawk", "SKU-1", "9.50")]
    quarantined = {(Path(f).name, r) for f, r in warehouse_rows(settings, "SELECT file, reason FROM meta.quarantine")}
    assert quarantined == {("2026-03-01.csv", "price: not an amount with at most 2 decimals"),
                           ("2026-03-08.csv", "duplicate: same content as 2026-03-01.csv"),
                           ("prices-final.csv", "file name: not a date (YYYY-MM-DD.csv)")}


def test_low_stock_sensor_asks_for_one_refresh_per_new_alert(store: Store, dagster_env) -> None:  # type: ignore[no-untyped-def]
    make_shop(store, stock_w1=10, stock_w2=5)
    sensor = build_definitions().resolve_sensor_def("low_stock_alerts_sensor")
    resources = {"store": StoreResource(url=store.url)}
    with dg.DagsterInstance.get() as instance:
        assert isinstance(sensor(_sensor_context(instance, None, **resources)), dg.SkipReason)
        replenishment.set_policy(store, "SKU-1", "W1", reorder_point=20, reorder_qty=30)
        replenishment.set_policy(store, "SKU-2", "W2", reorder_point=8, reorder_qty=10)
        context = _sensor_context(instance, None, **resources)
        request = sensor(context)
        assert request.job_name is None or request.job_name == "stock_refresh"
        assert request.tags["ecom/alert_count"] == "2"
        again = sensor(_sensor_context(instance, context.cursor, **resources))
        assert isinstance(again, dg.SkipReason)  # nothing new: no second run


def test_only_engineers_and_admins_may_run_the_pipeline(landing_env, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from ops_store.cli import output

    monkeypatch.setenv("ECOM_CLI_ROLE", "analyst")
    output.principal.cache_clear()
    try:
        refused = CliRunner().invoke(pipeline_app, ["backfill", "--from", "2026-01-02", "--to", "2026-01-02"])
    finally:
        output.principal.cache_clear()
    assert refused.exit_code == 1
    assert "permission_denied" in refused.output
    assert warehouse_untouched(landing_env)  # nothing ran
