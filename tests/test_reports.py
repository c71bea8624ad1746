"""Merchant reports end to end on a built shop: the weekly schedule's runs write each merchant's
HTML and PDF and mail the PDF to a real SMTP server; the PDF holds that merchant's figures as the
marts compute them and nothing of the other merchant; a backfill of a missed week writes the same
report as the run on that week; the CLI and the daily report; Chinese reports."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from babel.numbers import format_currency

from ops_store.services import notifications
from pipelines.definitions import build_definitions
from pipelines.reports.periods import Period, last_complete, period_of
from pipelines.resources import StoreResource
from tests.dashboard_support import mentions
from tests.messaging_support import smtp_server
from tests.report_support import ReportShop, keep, pdf_text

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900), pytest.mark.xdist_group("built-shop")]


@pytest.fixture
def env(report_env: ReportShop) -> ReportShop:
    return report_env


def _merchants(shop: ReportShop) -> list[tuple[int, str, str]]:
    with shop.snapshot() as con:
        return con.execute("SELECT merchant_id, merchant_code, currency FROM marts.dim_merchants "
                           "ORDER BY merchant_code").fetchall()


def _data_through(shop: ReportShop) -> date:
    with shop.snapshot() as con:
        return con.execute("SELECT max(placed_on) FROM marts.fct_orders").fetchone()[0]


def _expected(shop: ReportShop, merchant_id: int, period: Period) -> dict[str, object]:
    """The figures straight from the marts, written independently of the report's queries."""
    with shop.snapshot() as con:
        revenue = con.execute("SELECT sum(net_revenue)::DOUBLE FROM marts.fct_daily_sales WHERE merchant_id = ? "
                              "AND day >= ? AND day <= ?", [merchant_id, period.start, period.end]).fetchone()[0]
        orders = con.execute("SELECT count(*) FROM marts.fct_orders WHERE merchant_id = ? AND NOT is_cancelled "
                             "AND placed_on >= ? AND placed_on <= ?",
                             [merchant_id, period.start, period.end]).fetchone()[0]
        top = con.execute("SELECT p.product_name FROM marts.fct_daily_sales s JOIN marts.dim_products p "
                          "ON p.product_id = s.product_id WHERE s.merchant_id = ? AND s.day >= ? AND s.day <= ? "
                          "GROUP BY p.product_name ORDER BY sum(s.net_revenue) DESC LIMIT 1",
                          [merchant_id, period.start, period.end]).fetchone()[0]
        names = {n for (n,) in con.execute("SELECT product_name FROM marts.dim_products WHERE merchant_id = ?",
                                           [merchant_id]).fetchall()}
        skus = {s for (s,) in con.execute("SELECT sku FROM marts.dim_products WHERE merchant_id = ?",
                                          [merchant_id]).fetchall()}
    return {"revenue": revenue or 0.0, "orders": orders, "top": top, "names": names, "skus": skus}


def _schedule_requests(instance: dg.DagsterInstance, name: str, at: datetime) -> list[dg.RunRequest]:
    defs = build_definitions()
    context = dg.build_schedule_context(instance=instance, scheduled_execution_time=at,
                                        resources={"store": StoreResource()}, repository_def=defs.get_repository_def())
    schedule = defs.resolve_schedule_def(name)
    return list(schedule.evaluate_tick(context).run_requests or [])


def _monday_after(period: Period) -> datetime:
    return datetime.combine(period.full_end + timedelta(days=1), datetime.min.time(), UTC).replace(hour=6, minute=30)


def test_the_weekly_schedule_mails_each_merchant_its_own_report(env: ReportShop, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    (a_id, a, a_currency), (b_id, b, b_currency) = _merchants(env)
    store = env.store()
    notifications.set_contacts(store, a, email="reports@a.example")
    notifications.set_contacts(store, b, email="reports@b.example")
    week = last_complete("week", _data_through(env))
    with dg.instance_for_test() as instance, smtp_server() as box:
        monkeypatch.setenv("ECOM_SMTP_HOST", box.host)
        monkeypatch.setenv("ECOM_SMTP_PORT", str(box.port))
        requests = _schedule_requests(instance, "weekly_merchant_reports", _monday_after(week))
        assert sorted(r.partition_key for r in requests) == [f"{a}|{week.key}", f"{b}|{week.key}"]
        job = build_definitions().resolve_job_def("weekly_merchant_reports")
        for request in requests:
            assert job.execute_in_process(instance=instance, partition_key=request.partition_key).success
        # the schedule's next evaluation asks for the same runs (same run keys); running them again
        # rewrites the files but sends no second mail
        again = _schedule_requests(instance, "weekly_merchant_reports", _monday_after(week))
        assert {r.run_key for r in again} == {r.run_key for r in requests}
        assert job.execute_in_process(instance=instance, partition_key=again[0].partition_key).success
    assert sorted(m["To"] for m in box.messages) == ["reports@a.example", "reports@b.example"]

    texts = {}
    for message in box.messages:
        (pdf,) = [p for p in message.iter_attachments() if p.get_filename().endswith(".pdf")]
        texts[message["To"]] = pdf_text(pdf.get_content())
    cases = [((a_id, a, a_currency), "reports@a.example", b_id), ((b_id, b, b_currency), "reports@b.example", a_id)]
    for (merchant_id, code, currency), mailbox, other in cases:
        text = " ".join(texts[mailbox].split())
        mine, theirs = _expected(env, merchant_id, week), _expected(env, other, week)
        assert code in text and "Weekly report" in text
        assert format_currency(mine["revenue"], currency, locale="en_US") in text
        assert f"Orders {mine['orders']} " in text
        assert mine["top"] in text
        leaked = set(mentions(text, sorted((theirs["skus"] - mine["skus"]) | (theirs["names"] - mine["names"]))))
        assert not leaked, f"another merchant's products in {code}'s report: {sorted(leaked)[:5]}"
        if round(theirs["revenue"], 2) != round(mine["revenue"], 2):
            assert format_currency(theirs["revenue"], currency, locale="en_US") not in text
    for code in (a, b):
        folder = env.data_dir / "reports" / code
        assert sorted(p.name for p in folder.iterdir()) == [f"weekly-{week.key}.html", f"weekly-{week.key}.pdf"]
        keep(*folder.iterdir())
    sent = notifications.outbox(store, status="sent")
    assert sorted(r["target"] for r in sent) == ["reports@a.example", "reports@b.example"]


def test_a_backfilled_week_is_the_report_the_run_on_that_week_wrote(env: ReportShop,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.runner import backfill_reports

    (_, a, _), (_, b, _) = _merchants(env)
    missed = last_complete("week", _data_through(env)).previous()
    html = env.data_dir / "reports" / a / f"weekly-{missed.key}.html"
    pdf = html.with_suffix(".pdf")
    with dg.instance_for_test() as instance:
        (request,) = [r for r in _schedule_requests(instance, "weekly_merchant_reports", _monday_after(missed))
                      if r.partition_key.startswith(f"{a}|")]
        job = build_definitions().resolve_job_def("weekly_merchant_reports")
        assert job.execute_in_process(instance=instance, partition_key=request.partition_key).success
    on_the_day, on_the_day_pdf = html.read_bytes(), pdf_text(pdf.read_bytes())
    html.unlink()
    pdf.unlink()

    result = backfill_reports("week", missed.start, missed.end, merchants=[a])
    assert result.success and [p.phase for p in result.phases] == [f"{a} week {missed.key}"]
    assert html.read_bytes() == on_the_day
    assert pdf_text(pdf.read_bytes()) == on_the_day_pdf
    with dg.DagsterInstance.get() as instance:  # recorded in the pipeline's own instance, like any run
        event = instance.get_latest_materialization_event(dg.AssetKey(["reports", "merchant_weekly_report"]))
    assert event.asset_materialization.partition == f"{a}|{missed.key}"

    # Every merchant: two runs written side by side by two worker processes, the same files.
    monkeypatch.setenv("ECOM_PIPELINE_MAX_CONCURRENT", "2")
    monkeypatch.setattr("pipelines.runner.REPORTS_PER_WORKER", 1)
    html.unlink()
    both = backfill_reports("week", missed.start, missed.end)
    assert both.success and [p.phase for p in both.phases] == [f"{a} week {missed.key}", f"{b} week {missed.key}"]
    assert html.read_bytes() == on_the_day
    assert (env.data_dir / "reports" / b / html.name).exists()
    with dg.DagsterInstance.get() as instance:
        for phase in both.phases:
            run = instance.get_run_by_id(phase.run_id)
            assert run is not None and run.is_success and run.tags["ecom/backfill"] == "reports"


@pytest.fixture
def cli_runner(env: ReportShop):  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from ops_store.cli import output

    output.store.cache_clear()
    output.principal.cache_clear()
    yield CliRunner()
    if output.store.cache_info().currsize:
        output.store().dispose()
    output.store.cache_clear()
    output.principal.cache_clear()


def test_ecom_report_prints_its_files_and_says_what_is_wrong(env: ReportShop, cli_runner) -> None:  # type: ignore[no-untyped-def]
    from pipelines.reports.cli import app

    (_, a, _), _ = _merchants(env)
    day = _data_through(env)
    result = cli_runner.invoke(app, ["--merchant", a, "--period", "day", "--as-of", day.isoformat(), "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["start"] == printed["end"] == day.isoformat()
    assert Path(printed["pdf"]) == env.data_dir / "reports" / a / f"daily-{day.isoformat()}.pdf"
    text = " ".join(pdf_text(Path(printed["pdf"]).read_bytes()).split())
    assert "Daily report" in text and "Campaigns" not in text  # the daily one keeps to the essentials
    keep(Path(printed["pdf"]))

    partial = cli_runner.invoke(app, ["--merchant", a, "--as-of", day.isoformat(), "--json"])
    assert partial.exit_code == 0, partial.output
    week = period_of("week", day, until=day)
    expected_name = f"weekly-{week.key}" + (f"-to-{day.isoformat()}" if week.is_partial else "") + ".html"
    assert Path(json.loads(partial.stdout)["html"]).name == expected_name

    for args, field in ((["--merchant", "nobody"], "merchant"), (["--merchant", a, "--period", "month"], "period"),
                        (["--merchant", a, "--as-of", "yesterday"], "as_of")):
        refused = cli_runner.invoke(app, [*args, "--json"])
        assert refused.exit_code == 1
        assert json.loads(refused.stdout)["error"]["field"] == field


def test_a_chinese_merchant_reads_its_report_in_chinese(env: ReportShop) -> None:
    from pipelines.reports.produce import produce

    _, (b_id, b, currency) = _merchants(env)
    store = env.store()
    notifications.set_contacts(store, b, locale="zh")
    week = last_complete("week", _data_through(env))
    report = produce(store, b, week)
    text = " ".join(pdf_text(report.pdf.read_bytes()).split())
    revenue = _expected(env, b_id, week)["revenue"]
    assert "周报" in text and "畅销商品" in text and "库存与补货" in text
    assert format_currency(revenue, currency, locale="zh_Hans_CN") in text
    assert 'lang="zh-Hans"' in report.html.read_text()
    keep(report.pdf, report.html, tag="-zh")
    notifications.set_contacts(store, b, locale="en")
