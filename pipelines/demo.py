"""The pipeline's part of the demo tour: the simulated shop through the whole pipeline."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pipelines.cli import Bars, dbt_output_to_file
from pipelines.publish import open_snapshot
from pipelines.runner import run_pipeline
from pipelines.settings import PipelineSettings


def _headlines(settings: PipelineSettings, console: Console) -> None:
    """A few numbers from the marts, as the dashboards will show them."""
    con = open_snapshot(settings)
    try:
        orders, net, margin, currency = con.execute(
            "SELECT count(*) FILTER (WHERE NOT is_cancelled), sum(net_revenue), sum(gross_margin), "
            "min(currency) FROM marts.fct_orders").fetchone()
        category, category_net = con.execute(
            "SELECT p.category, sum(s.net_revenue) FROM marts.fct_daily_sales s JOIN marts.dim_products p "
            "USING (product_id) GROUP BY 1 ORDER BY 2 DESC LIMIT 1").fetchone()
        wape = dict(con.execute("SELECT model, wape FROM marts.forecast_accuracy WHERE scope = 'overall'").fetchall())
        ndcg = dict(con.execute("SELECT model, ndcg_at_10 FROM marts.recommendation_accuracy").fetchall())
        auc = dict(con.execute("SELECT model, roc_auc FROM marts.churn_model_accuracy").fetchall())
        reorder = con.execute("SELECT count(*) FILTER (WHERE suggested_qty > 0) FROM marts.reorder_suggestions"
                              ).fetchone()[0]
    finally:
        con.close()
    console.print(f"  marts: {orders:,} orders, net revenue {net:,.2f} {currency}, average order value "
                  f"{net / orders:,.2f}, gross margin {margin / net:.1%}; best category {category} "
                  f"({category_net:,.2f})")
    if wape:
        console.print(f"  demand forecast WAPE {wape['gbm_quantile']:.3f} (seasonal naive "
                      f"{wape['seasonal_naive']:.3f}, 28-day average {wape['moving_average_28']:.3f}); "
                      f"{reorder} products to reorder now")
    else:
        console.print("  demand forecast: not enough history yet (84 days needed)")
    if ndcg:
        console.print(f"  recommendations NDCG@10 {ndcg['item_neighbours']:.3f} (popularity {ndcg['popularity']:.3f})")
    if auc:
        console.print(f"  churn model ROC AUC {auc['logistic_regression']:.3f} "
                      f"(recency alone {auc['recency_only']:.3f})")


def demo_step(*, data_dir: Path, store_url: str, number: int, console: Console, serve: bool = False) -> None:
    previous = os.environ.get("OPS_STORE_URL")
    os.environ["OPS_STORE_URL"] = store_url  # the pipeline reads the simulated shop
    try:
        console.print(f"[bold]{number}. The pipeline[/bold]: the simulated shop and its landing files into the "
                      f"DuckDB warehouse, checked, and published for the dashboards")
        columns = (TextColumn("  {task.description:<28}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=Console(file=sys.stdout)) as progress, dbt_output_to_file():
            result = run_pipeline(progress=Bars(progress))
        settings = PipelineSettings()
        for phase in result.phases:
            for check in phase.failed_checks:
                console.print(f"  [red]failed check[/red] {check['check']}")
        if not result.success:
            raise SystemExit(f"the pipeline failed: {[p.failures for p in result.phases]}")
        con = open_snapshot(settings)
        try:
            tables, rows = con.execute("SELECT count(*), sum(estimated_size) FROM duckdb_tables() "
                                       "WHERE schema_name = 'raw'").fetchone()
            quarantined = con.execute("SELECT count(*) FROM meta.quarantine").fetchone()[0]
        finally:
            con.close()
        console.print(f"  {tables} tables, {rows:,} rows in {settings.warehouse_path}; {quarantined} landing rows "
                      f"quarantined; every check passed; snapshot published at {settings.snapshot_dir}/current.duckdb")
        _headlines(settings, console)
        console.print(f"  Try: ecom pipeline status   |   OPS_STORE_URL={store_url} ecom pipeline dev (Dagster UI)")
    finally:
        if previous is None:
            os.environ.pop("OPS_STORE_URL", None)
        else:
            os.environ["OPS_STORE_URL"] = previous
