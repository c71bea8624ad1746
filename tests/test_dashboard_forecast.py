"""Forecast & replenishment page: demand history with the forecast band per product, the model's
accuracy against its baselines, and the purchase list, scoped to the user's merchant."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pytest
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import app_test

from dashboards.i18n import COMMON
from tests.dashboard_support import DashboardShop, mentions, metrics, open_page, page_text, principal, query_frame

# the first dashboard test of a run waits for the shared shop's build (simulation, pipeline, models)
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900), pytest.mark.xdist_group("built-shop")]

PURCHASE_LIST = ["sku", "product_name", "warehouse", "suggested_qty", "order_multiple", "avg_unit_cost",
                 "suggested_value", "currency", "projected_stock_out_on"]


def _chart_data(at: Any) -> dict[str, pd.DataFrame]:
    """The demand chart's datasets by series (the first chart on the page)."""
    chart = at.get("vega_lite_chart")[0].proto
    frames = [pa.ipc.open_stream(d.data.data).read_all().to_pandas() for d in chart.datasets]
    assert json.loads(chart.spec)["layer"], "a layered chart"
    return {str(series): frame[frame["series"] == series] for frame in frames
            for series in frame["series"].unique()}


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """What the page's download buttons hand out, by media file id (AppTest keeps files in memory
    only for the run, so record them as they are stored)."""
    stored: dict[str, bytes] = {}

    class Recording(MemoryMediaFileStorage):
        def load_and_get_id(self, path_or_data: str | bytes, mimetype: str, kind: Any,
                            filename: str | None = None) -> str:
            file_id = super().load_and_get_id(path_or_data, mimetype, kind, filename)
            stored[file_id] = self.get_file(file_id).content
            return file_id

    monkeypatch.setattr(app_test, "MemoryMediaFileStorage", Recording)
    return stored


def _download(at: Any, label: str, stored: dict[str, bytes]) -> bytes:
    buttons = [b for b in at.get("download_button") if b.proto.label == label]
    assert len(buttons) == 1, [b.proto.label for b in at.get("download_button")]
    file_id = buttons[0].proto.url.rsplit("/", 1)[-1].split(".")[0]
    return stored[file_id]


def _expected_purchase_list(shop: DashboardShop, merchant: int | None = None) -> pd.DataFrame:
    where = "AND r.merchant_id = ?" if merchant is not None else ""
    return query_frame(shop, (
        "SELECT r.sku, r.product_name, coalesce(w.warehouse_code, '#' || r.warehouse_id) AS warehouse, "
        "r.suggested_qty, r.order_multiple, r.avg_unit_cost::DOUBLE AS avg_unit_cost, "
        "r.suggested_value::DOUBLE AS suggested_value, r.currency, r.projected_stock_out_on "
        "FROM marts.reorder_suggestions r LEFT JOIN marts.dim_warehouses w USING (warehouse_id) "
        f"WHERE (r.needs_reorder OR r.suggested_qty > 0) {where} "
        "ORDER BY r.projected_stock_out_on NULLS LAST, r.suggested_value DESC, r.sku, r.warehouse_id"),
        [merchant] if merchant is not None else [])


def _same_rows(csv: bytes, expected: pd.DataFrame) -> None:
    got = pd.read_csv(io.BytesIO(csv), dtype={"sku": str, "warehouse": str, "projected_stock_out_on": str})
    assert list(got.columns) == PURCHASE_LIST
    assert len(got) == len(expected)
    assert got["sku"].tolist() == expected["sku"].tolist()
    assert got["warehouse"].tolist() == expected["warehouse"].tolist()
    assert got["suggested_qty"].tolist() == expected["suggested_qty"].tolist()
    assert got["order_multiple"].tolist() == expected["order_multiple"].tolist()
    assert got["suggested_value"].round(2).tolist() == expected["suggested_value"].round(2).tolist()
    assert got["avg_unit_cost"].round(4).tolist() == expected["avg_unit_cost"].round(4).tolist()
    assert got["currency"].tolist() == expected["currency"].tolist()
    stock_out = pd.to_datetime(expected["projected_stock_out_on"]).dt.strftime("%Y-%m-%d")
    assert got["projected_stock_out_on"].fillna("").tolist() == stock_out.fillna("").tolist()


def _best_seller(shop: DashboardShop, merchant: int | None = None, category: str | None = None) -> int:
    clauses, params = [], []
    if merchant is not None:
        clauses.append("p.merchant_id = ?")
        params.append(merchant)
    if category is not None:
        clauses.append("p.category = ?")
        params.append(category)
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    return int(query_frame(shop, (
        "WITH recent AS (SELECT product_id, sum(units) AS units FROM marts.demand_daily "
        "WHERE day > (SELECT max(day) FROM marts.demand_daily) - INTERVAL 28 DAY GROUP BY 1) "
        f"SELECT p.product_id FROM marts.dim_products p LEFT JOIN recent r USING (product_id) {where} "
        "ORDER BY coalesce(r.units, 0) DESC, p.sku LIMIT 1"), params).iloc[0, 0])


@pytest.mark.parametrize("role", ["admin", "merchant", "analyst", "support", "engineer"])
def test_forecast_page_renders_for_every_role_with_stock_read(dashboard_env: DashboardShop, role: str) -> None:
    at = open_page("forecast", principal(role, 1))
    assert not at.exception, at.exception
    assert at.title[0].value == "Forecast & replenishment"
    assert at.selectbox(key="forecast_product").value is not None
    assert at.get("vega_lite_chart"), "the demand chart"
    assert any(b.proto.label == "Download purchase list" for b in at.get("download_button"))
    info = " ".join(i.value for i in at.info)
    if role == "merchant":  # the backtest pools every merchant: staff only, the rest of the page works
        assert COMMON.en["portal_only"] in info
    else:
        assert COMMON.en["portal_only"] not in info
        assert at.dataframe[0].value["wape"].notna().all()


def test_the_chart_shows_the_chosen_products_history_and_forecast(dashboard_env: DashboardShop) -> None:
    at = open_page("forecast", principal("analyst"))
    picker = at.selectbox(key="forecast_product")
    assert picker.value == _best_seller(dashboard_env)  # the product with the most units recently comes first

    def check(product: int) -> dict[str, pd.DataFrame]:
        shown = _chart_data(at)
        history = query_frame(dashboard_env, (
            "SELECT day, units, is_censored FROM marts.demand_daily WHERE product_id = ? "
            "AND day > (SELECT max(day) FROM marts.demand_daily) - INTERVAL 90 DAY ORDER BY day"), [product])
        forecast = query_frame(dashboard_env, "SELECT forecast_on, p10, p50, p90 FROM marts.demand_forecast "
                                              "WHERE product_id = ? ORDER BY forecast_on", [product])
        assert shown["Units ordered"]["units"].tolist() == history["units"].tolist()
        assert pd.to_datetime(shown["Units ordered"]["day"]).tolist() == pd.to_datetime(history["day"]).tolist()
        assert shown["Forecast (P50)"]["units"].round(6).tolist() == forecast["p50"].round(6).tolist()
        band = shown["P10–P90 range"]
        assert band["p10"].round(6).tolist() == forecast["p10"].round(6).tolist()
        assert band["p90"].round(6).tolist() == forecast["p90"].round(6).tolist()
        assert len(shown.get("Out of stock (demand lost)", [])) == int(history["is_censored"].sum())
        return shown

    first = check(int(picker.value))
    other = query_frame(dashboard_env, (
        "SELECT product_id FROM marts.demand_daily WHERE is_censored AND product_id <> ? "
        "AND day > (SELECT max(day) FROM marts.demand_daily) - INTERVAL 90 DAY "
        "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"), [int(picker.value)])
    assert len(other), "a product with stock-out days in the fixture"
    picker.set_value(int(other.iloc[0, 0])).run()
    assert not at.exception
    second = check(int(other.iloc[0, 0]))
    assert "Out of stock (demand lost)" in second  # censored days marked
    assert second["Units ordered"]["units"].tolist() != first["Units ordered"]["units"].tolist()

    # a category filter narrows the products offered; a choice outside it falls back to its best seller
    chosen = int(other.iloc[0, 0])
    category = query_frame(dashboard_env, "SELECT min(category) FROM marts.dim_products WHERE category <> "
                                          "(SELECT category FROM marts.dim_products WHERE product_id = ?)",
                           [chosen]).iloc[0, 0]
    at.sidebar.multiselect(key="filter_categories").set_value([category]).run()
    assert not at.exception
    picker = at.selectbox(key="forecast_product")
    in_category = query_frame(dashboard_env, "SELECT sku, product_name FROM marts.dim_products WHERE category = ?",
                              [category])
    assert set(picker.options) == {f"{s} · {n}" for s, n in in_category.itertuples(index=False)}
    assert picker.value == _best_seller(dashboard_env, category=category) != chosen
    check(int(picker.value))


def test_accuracy_matches_the_backtest(dashboard_env: DashboardShop) -> None:
    at = open_page("forecast", principal("admin"))
    expected = query_frame(dashboard_env, "SELECT model, wape, mase, bias, coverage, is_candidate, "
                                          "beats_every_baseline FROM marts.forecast_accuracy WHERE scope = 'overall'")
    table = at.dataframe[0].value
    assert sorted(table["wape"].round(6)) == sorted(expected["wape"].round(6))
    assert sorted(table["mase"].round(6)) == sorted(expected["mase"].round(6))
    candidate = expected[expected["is_candidate"]].iloc[0]
    shown = table[table["kind"] == "model"].iloc[0]
    assert shown["beats"] == ("yes" if candidate["beats_every_baseline"] else "no")
    verdict = (at.success if candidate["beats_every_baseline"] else at.warning)[0].value
    assert "WAPE" in verdict
    origins = query_frame(dashboard_env, "SELECT count(DISTINCT origin_on) FROM marts.forecast_accuracy "
                                         "WHERE scope = 'origin'").iloc[0, 0]
    assert len(at.get("vega_lite_chart")) == 2 + (1 if origins > 1 else 0)  # demand, WAPE bars, per origin


def test_purchase_list_is_the_reorder_suggestions_in_scope(dashboard_env: DashboardShop,
                                                           downloads: dict[str, bytes]) -> None:
    at = open_page("forecast", principal("admin"))
    expected = _expected_purchase_list(dashboard_env)
    assert len(expected), "the fixture has something to reorder"
    codes = set(query_frame(dashboard_env, "SELECT warehouse_code FROM marts.dim_warehouses")["warehouse_code"])
    assert set(expected["warehouse"]) & codes, "lines name their warehouse by its code"
    _same_rows(_download(at, "Download purchase list", downloads), expected)
    to_order = expected[expected["suggested_qty"] > 0]
    figures = metrics(at)
    assert figures["Lines to order"] == f"{len(to_order):,}"
    assert figures["Units to order"] == f"{int(to_order['suggested_qty'].sum()):,}"

    mine = open_page("forecast", principal("merchant", 1))
    own = _expected_purchase_list(dashboard_env, merchant=1)
    _same_rows(_download(mine, "Download purchase list", downloads), own)
    assert len(own) < len(expected)


def test_merchant_sees_none_of_another_merchants_products(dashboard_env: DashboardShop) -> None:
    at = open_page("forecast", principal("merchant", 1))
    assert not at.exception
    others = query_frame(dashboard_env, "SELECT sku, product_name FROM marts.dim_products WHERE merchant_id <> 1")
    text = page_text(at)
    leaked = mentions(text, [*others["sku"], *others["product_name"]])
    assert not leaked
    own = query_frame(dashboard_env, "SELECT sku, product_name FROM marts.dim_products WHERE merchant_id = 1")
    picker = at.selectbox(key="forecast_product")
    assert set(picker.options) == {f"{s} · {n}" for s, n in own.itertuples(index=False)}
    assert picker.value == _best_seller(dashboard_env, merchant=1)
    # choosing merchant 2 in the sidebar cannot widen the scope
    assert at.session_state["filters"].merchants == (1,)


def test_forecast_speaks_chinese(dashboard_env: DashboardShop) -> None:
    at = open_page("forecast", principal("analyst"), lang="zh")
    assert not at.exception
    assert at.title[0].value == "预测与补货"
    assert {s.value for s in at.subheader} >= {"需求与预测", "预测准确度（对比基线）", "补货建议"}
    assert any(b.proto.label == "下载采购清单" for b in at.get("download_button"))
    labels = {m.label for m in at.metric}
    assert {"待订购行数", "待订购金额"} <= labels
    assert any("US$" in m.value for m in at.metric)
    assert "订购件数" in json.dumps(_chart_data(at)["订购件数"]["series"].tolist(), ensure_ascii=False)


def test_young_shop_and_missing_mart_give_friendly_notes(dashboard_env: DashboardShop, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """No forecast yet (fewer than 84 days of history) and no accuracy mart: notes, not tracebacks."""
    snapshots = tmp_path / "data" / "snapshots"
    snapshots.mkdir(parents=True)
    young = snapshots / "young.duckdb"
    shutil.copy(dashboard_env.data_dir / "snapshots" / "current.duckdb", young)
    with duckdb.connect(str(young)) as con:
        con.execute("DELETE FROM marts.demand_forecast")
        con.execute("DELETE FROM marts.reorder_suggestions")
        con.execute("DROP TABLE marts.forecast_accuracy")
    (snapshots / "current.duckdb").symlink_to(young.name)
    monkeypatch.setenv("ECOM_DATA_DIR", str(tmp_path / "data"))
    at = open_page("forecast", principal("admin"))
    assert not at.exception, at.exception
    notes = [i.value for i in at.info]
    assert any("needs 84 days of order history" in n for n in notes)
    assert any("marts.forecast_accuracy" in n and "ecom pipeline run" in n for n in notes)
    shown = _chart_data(at)  # the history still shows, without a forecast
    assert len(shown["Units ordered"]) and "Forecast (P50)" not in shown
    assert not [b for b in at.get("download_button") if b.proto.label == "Download purchase list"]
