"""Landing files that arrive damaged or more than once: a Parquet file cut short, random bytes
under a .parquet name, a file whose damage made polars abort the whole process, a CSV cut
mid-line, a file copied under another name or into another day, and a file delivered again under
its name with other content. Each is quarantined (or loaded exactly once) with a reason a person
can read in the run's metadata and in `ecom pipeline status`; the rest of the partition loads.
Real Dagster runs in-process on a real DuckDB warehouse; no store needed."""

from __future__ import annotations

import json
import os
import random
import shutil
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest
from typer.testing import CliRunner

from pipelines.cli import app as pipeline_app
from pipelines.definitions import build_definitions
from pipelines.landing import check_competitor_prices
from pipelines.landing_load import load_competitor_file
from pipelines.publish import publish
from pipelines.resources import WarehouseResource
from pipelines.runner import backfill_events, prepare_environment
from pipelines.settings import PipelineSettings
from tests.pipeline_support import landing_events, warehouse_rows

DAY = date(2026, 3, 10)
SEED = 20260310
# 200 clickstream rows written by polars 2.1 with 4 bytes changed (random.Random(2026), variant 1787
# of a fuzz run): a page header now claims 2^61 bytes, and polars' own Parquet reader aborts the
# process on it ("memory allocation of 2305843009213693928 bytes failed", SIGABRT), which took the
# whole `ecom pipeline run` down before landing files were read with pyarrow.
ABORTING_FILE = Path(__file__).parent / "fixtures" / "events_page_header_aborts_polars.parquet"
PRICES = ("competitor,sku,price,promo\npricehawk,SKU-1,9.50,false\npricehawk,SKU-2,12.00,true\n"
          "shopmart,SKU-3,7.25,false\n")



@pytest.fixture
def landing_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PipelineSettings:
    monkeypatch.setenv("ECOM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ECOM_EVENTS_START", "2026-01-01")
    monkeypatch.delenv("ECOM_WAREHOUSE_PATH", raising=False)
    settings = PipelineSettings()
    prepare_environment(settings)
    return settings


def _day_folder(settings: PipelineSettings, day: date) -> Path:
    folder = settings.landing_dir / "events" / f"dt={day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _quarantined(settings: PipelineSettings, source: str) -> dict[str, list[str]]:
    """file name -> the reasons its rows (or the whole file) were quarantined for."""
    found: dict[str, list[str]] = {}
    rows = warehouse_rows(settings, f"SELECT file, reason FROM meta.quarantine WHERE source = '{source}' "
                                    "ORDER BY file, row_number")
    for file, reason in rows:
        found.setdefault(Path(file).name, []).append(reason)
    return found


def _latest_metadata(key: list[str], partition: str | None = None) -> dict[str, object]:
    with dg.DagsterInstance.get() as instance:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(key), asset_partitions=[partition] if partition else None),
            limit=1).records
    assert records, f"{key} was never materialized"
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()}  # type: ignore[union-attr]


def _status() -> dict[str, object]:
    result = CliRunner().invoke(pipeline_app, ["status", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_damaged_clickstream_files_are_quarantined_whole_and_the_rest_of_the_day_loads(landing_env) -> None:  # type: ignore[no-untyped-def]
    settings = landing_env
    rng = random.Random(SEED)
    folder = _day_folder(settings, DAY)
    landing_events(DAY, 40, first_id=1000).write_parquet(folder / "events.parquet")
    shutil.copy(folder / "events.parquet", folder / "resent.parquet")  # the same file twice
    landing_events(DAY, 30, first_id=3000).write_parquet(folder / "late.parquet")
    whole = (folder / "late.parquet").read_bytes()
    cut = rng.randrange(len(whole) // 4, len(whole) - 8)  # cut short in transfer, footer gone
    (folder / "late.parquet").write_bytes(whole[:cut])
    (folder / "noise.parquet").write_bytes(rng.randbytes(4096))  # not Parquet at all
    shutil.copy(ABORTING_FILE, folder / "mangled.parquet")
    empty = folder / "empty.parquet"
    empty.write_bytes(b"")
    next_day = _day_folder(settings, DAY + timedelta(days=1))
    shutil.copy(folder / "events.parquet", next_day / "events.parquet")  # put in the wrong day's folder

    result = backfill_events(DAY, DAY + timedelta(days=1))
    assert result.success, [(p.phase, p.failures) for p in result.phases]

    counts = dict(warehouse_rows(settings, "SELECT event_on, count(*) FROM raw.events GROUP BY 1"))
    assert counts == {DAY: 40}  # the one good file, once; nothing of the damaged ones
    quarantined = _quarantined(settings, "events")
    assert quarantined["resent.parquet"] == ["duplicate: same content as events.parquet"]
    assert quarantined["events.parquet"] == [f"duplicate: same content as {DAY.isoformat()}/events.parquet"]
    for name in ("late.parquet", "noise.parquet", "mangled.parquet", "empty.parquet"):
        [reason] = quarantined[name]  # whole file, one line
        assert reason.startswith("unreadable Parquet: "), (name, reason)
        assert "\n" not in reason and len(reason) < 400
    assert quarantined["noise.parquet"][0].startswith("unreadable Parquet: Parquet magic bytes not found")
    assert "negative number of values" in quarantined["mangled.parquet"][0]

    metadata = _latest_metadata(["raw", "events"], DAY.isoformat())
    assert metadata["rows_loaded"] == 40 and metadata["rows_quarantined"] == 6
    assert sum(metadata["quarantine_reasons"].values()) == 6  # type: ignore[union-attr]
    assert "duplicate: same content as events.parquet" in metadata["quarantine_reasons"]  # type: ignore[operator]

    publish(settings)
    shown = {entry["reason"]: entry for entry in _status()["quarantined"]}  # type: ignore[union-attr]
    assert shown["duplicate: same content as events.parquet"]["files"] == ["dt=2026-03-10/resent.parquet"]
    assert shown[f"duplicate: same content as {DAY.isoformat()}/events.parquet"]["files"] == [
        "dt=2026-03-11/events.parquet"]
    assert "dt=2026-03-10/noise.parquet" in shown[quarantined["noise.parquet"][0]]["files"]
    assert sum(entry["rows"] for entry in shown.values()) == 6

    # The complete file arrives under the name of the cut one: the day loads it, its quarantine goes.
    (folder / "late.parquet").write_bytes(whole)
    assert backfill_events(DAY, DAY).success
    assert dict(warehouse_rows(settings, "SELECT event_on, count(*) FROM raw.events GROUP BY 1")) == {DAY: 70}
    assert "late.parquet" not in _quarantined(settings, "events")
    metadata = _latest_metadata(["raw", "events"], DAY.isoformat())
    assert metadata["files_replaced"] == [f"{DAY.isoformat()}/late.parquet"]
    publish(settings)
    [replaced] = _status()["landing_files_replaced"]  # type: ignore[misc]
    assert (replaced["source"], replaced["partition"], replaced["file"]) == ("events", DAY.isoformat(),
                                                                            "late.parquet")
    assert "the new content replaced the old" in replaced["reason"]


def test_a_fuzzed_parquet_file_never_stops_the_load(landing_env) -> None:  # type: ignore[no-untyped-def]
    """Seeded byte damage (and truncation) of a small Parquet file, 60 variants in one day's folder:
    every one is loaded or quarantined with a reason; none raises or kills the process."""
    settings = landing_env
    folder = _day_folder(settings, DAY)
    frame = landing_events(DAY, 200, first_id=1)
    frame.write_parquet(folder / "original.parquet")
    data = (folder / "original.parquet").read_bytes()
    rng = random.Random(SEED)
    for n in range(60):
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 6)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        if rng.random() < 0.3:
            damaged = damaged[:rng.randrange(len(damaged))]
        (folder / f"variant-{n:02d}.parquet").write_bytes(bytes(damaged))

    assert backfill_events(DAY, DAY).success
    files = dict(warehouse_rows(settings, "SELECT file, rows_loaded + rows_quarantined FROM meta.landing_files"))
    quarantined = _quarantined(settings, "events")
    assert len(files) == 61
    for name, rows in files.items():
        assert rows > 0 or name in quarantined, f"{name}: neither loaded nor quarantined"
    whole_file = [reasons[0] for reasons in quarantined.values() if reasons[0].startswith("unreadable Parquet")]
    assert len(whole_file) >= 20  # most damage is caught by the reader
    # The original's 200 events load once; a damaged copy whose bytes still decode brings its rows
    # as duplicates of the earlier file's (quarantined) or, where an id itself changed, as new ones.
    loaded = warehouse_rows(settings, "SELECT count(*), count(DISTINCT event_id) FROM raw.events")[0]
    assert loaded[0] == loaded[1] >= 200


def test_competitor_file_cut_mid_line_loads_its_whole_rows_and_names_the_cut_one(landing_env) -> None:  # type: ignore[no-untyped-def]
    settings = landing_env
    folder = settings.landing_dir / "competitor_prices"
    folder.mkdir(parents=True)
    cut_at = PRICES.index("7.25")  # inside the last row's price
    (folder / "2026-03-01.csv").write_text(PRICES[:cut_at + 2])  # ends "shopmart,SKU-3,7."
    (folder / "2026-03-02.csv").write_text(PRICES[:-1])  # no final line break: nothing is missing
    (folder / "2026-03-03.csv").write_text('competitor,sku,price,promo\npricehawk,"SKU-1')  # cut inside quotes
    (folder / "2026-03-04.csv").write_bytes(random.Random(SEED).randbytes(2048))
    keys = ["2026-03-01.csv", "2026-03-02.csv", "2026-03-03.csv", "2026-03-04.csv"]
    defs = build_definitions()
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("competitor_price_files", keys)
        for key in keys:
            assert defs.resolve_job_def("competitor_prices").execute_in_process(
                instance=instance, partition_key=key).success

    rows = warehouse_rows(settings, "SELECT source_file, count(*) FROM raw.competitor_prices GROUP BY 1")
    assert dict(rows) == {"2026-03-01.csv": 2, "2026-03-02.csv": 3}
    quarantined = _quarantined(settings, "competitor_prices")
    assert quarantined["2026-03-01.csv"] == [
        "cut short: the file ends mid-line, its last line has 3 of 4 fields (price: not an amount with at most 2 "
        "decimals)"]
    assert "2026-03-02.csv" not in quarantined
    [inside_quotes] = quarantined["2026-03-03.csv"]
    assert inside_quotes.startswith("unreadable CSV: ") or inside_quotes.startswith("cut short: "), inside_quotes
    [noise] = quarantined["2026-03-04.csv"]
    assert noise.startswith(("unreadable CSV: ", "missing columns: ")), noise
    assert _latest_metadata(["raw", "competitor_prices"], "2026-03-01.csv")["quarantine_reasons"] == {
        quarantined["2026-03-01.csv"][0]: 1}


def test_cut_short_is_only_said_of_a_last_line_that_breaks_the_contract() -> None:
    frame = pl.DataFrame({"competitor": ["a", "b"], "sku": ["S1", "S2"], "price": ["1.00", "2.5"],
                          "promo": ["true", "fal"]})
    checked = check_competitor_prices(frame, Path("p.csv"), last_line="b,S2,2.5,fal")
    assert checked.bad["reason"].to_list() == [
        "cut short: the file ends mid-line, its last line is incomplete (promo: not true or false)"]
    whole = check_competitor_prices(frame.head(1), Path("p.csv"), last_line="a,S1,1.00,true")
    assert whole.good.height == 1 and whole.bad.height == 0


def test_a_file_delivered_twice_loads_once_and_a_changed_redelivery_replaces_it(landing_env) -> None:  # type: ignore[no-untyped-def]
    settings = landing_env
    folder = settings.landing_dir / "competitor_prices"
    folder.mkdir(parents=True)
    first = folder / "2026-03-01.csv"
    first.write_text(PRICES)
    defs = build_definitions()
    sensor = defs.resolve_sensor_def("competitor_price_files_sensor")
    job = defs.resolve_job_def("competitor_prices")
    resources = {"warehouse": WarehouseResource()}
    with dg.DagsterInstance.get() as instance:
        def sense(cursor: str | None) -> dg.SensorResult:
            result = sensor(dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources))
            for request in result.dynamic_partitions_requests:
                instance.add_dynamic_partitions("competitor_price_files", list(request.partition_keys or []))
            for request in result.run_requests:
                assert job.execute_in_process(instance=instance, partition_key=request.partition_key).success
            return result

        seen = sense(None)
        shutil.copy(first, folder / "2026-03-08.csv")  # the same list again under another day's name
        seen = sense(seen.cursor)
        assert [r.partition_key for r in seen.run_requests] == ["2026-03-08.csv"]
        # Re-delivered with a corrected price, copied with its old timestamps kept (cp -p).
        stat = first.stat()
        first.write_text(PRICES.replace("9.50", "9.40"))
        os.utime(first, ns=(stat.st_atime_ns, stat.st_mtime_ns - 60 * 10**9))
        again = sense(seen.cursor)
        assert [r.partition_key for r in again.run_requests] == ["2026-03-01.csv"]

    rows = warehouse_rows(settings, "SELECT source_file, sku, price FROM raw.competitor_prices ORDER BY 1, 2")
    assert [(f, s, str(p)) for f, s, p in rows] == [
        ("2026-03-01.csv", "SKU-1", "9.40"), ("2026-03-01.csv", "SKU-2", "12.00"), ("2026-03-01.csv", "SKU-3", "7.25")]
    assert _quarantined(settings, "competitor_prices") == {"2026-03-08.csv": ["duplicate: same content as "
                                                                               "2026-03-01.csv"]}
    assert _latest_metadata(["raw", "competitor_prices"], "2026-03-01.csv")["files_replaced"] == ["2026-03-01.csv"]
    publish(settings)
    status = _status()
    assert [(e["file"], e["reason"]) for e in status["landing_files_replaced"]] == [  # type: ignore[union-attr]
        ("2026-03-01.csv", "delivered again with other content: the new content replaced the old")]
    assert [(e["reason"], e["files"]) for e in status["quarantined"]] == [  # type: ignore[union-attr]
        ("duplicate: same content as 2026-03-01.csv", ["2026-03-08.csv"])]


def test_a_warehouse_from_before_the_replaced_column_takes_a_redelivery(tmp_path: Path) -> None:
    """meta.landing_files of an older warehouse (without replaced_sha256) gets the column on the
    next landing load, and records a re-delivered file in it."""
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    con.execute("CREATE SCHEMA meta; CREATE TABLE meta.landing_files (source VARCHAR, partition_key VARCHAR, "
                "file VARCHAR, sha256 VARCHAR, rows_loaded BIGINT, rows_quarantined BIGINT, loaded_at TIMESTAMP)")
    path = tmp_path / "2026-03-01.csv"
    path.write_text(PRICES)
    assert load_competitor_file(con, path).replaced == []
    path.write_text(PRICES.replace("12.00", "11.00"))
    again = load_competitor_file(con, path)
    assert (again.replaced, again.rows_loaded) == (["2026-03-01.csv"], 3)
    assert con.execute("SELECT count(*) FROM meta.landing_files WHERE replaced_sha256 IS NOT NULL").fetchone()[0] == 1
    con.close()


def test_a_new_or_emptied_warehouse_loads_every_landing_day_and_trains_again(landing_env) -> None:  # type: ignore[no-untyped-def]
    """Dagster's instance remembers what was loaded and trained, the warehouse may not (a deleted
    file, another ECOM_WAREHOUSE_PATH, a restore): what the warehouse lacks is due whatever the
    instance says (found when the uninterrupted run of tests/test_faults_pipeline.py, in a second
    warehouse under the same instance, loaded no clickstream and trained nothing)."""
    from pipelines.runner import _due, _warehouse_holds, training_keys

    settings = landing_env
    assert _warehouse_holds(settings) == {"events": set(), "competitor_prices": set(), "trained": False,
                                          "daily": False}
    with dg.DagsterInstance.get() as instance:
        for day in ("2026-03-01", "2026-03-02"):
            instance.report_runless_asset_event(dg.AssetMaterialization(dg.AssetKey(["raw", "events"]), partition=day))
        stamps = dict.fromkeys(("2026-03-01", "2026-03-02"), 0.0)  # files older than their loads
        assert _due(instance, dg.AssetKey(["raw", "events"]), stamps, False) == []
        assert _due(instance, dg.AssetKey(["raw", "events"]), stamps, False, {"2026-03-01"}) == ["2026-03-02"]

    folder = _day_folder(settings, date(2026, 3, 1))
    landing_events(date(2026, 3, 1), 5, first_id=1).write_parquet(folder / "events.parquet")
    assert backfill_events(date(2026, 3, 1), date(2026, 3, 1)).success
    con = duckdb.connect(str(settings.warehouse_path))
    held = _warehouse_holds(settings)
    assert held is None  # a writer holds the file: no opinion, the instance decides
    con.execute("CREATE SCHEMA ml")
    for key in training_keys():
        con.execute(f"CREATE TABLE ml.{key.path[-1]} (x INTEGER)")
    con.execute("CREATE SCHEMA marts")
    con.execute("CREATE TABLE marts.customer_rfm (x INTEGER)")
    con.close()
    daily = {dg.AssetKey(["marts", "customer_rfm"])}
    assert _warehouse_holds(settings, daily) == {"events": {"2026-03-01"}, "competitor_prices": set(),
                                                 "trained": True, "daily": True}
    assert not _warehouse_holds(settings, daily | {dg.AssetKey(["marts", "customer_value"])})["daily"]
