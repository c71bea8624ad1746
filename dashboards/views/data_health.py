"""Data health: how fresh every mart is, the pipeline's last runs and their status, failed checks,
and quarantined landing rows. Everything here is about the pipeline, not a merchant's business;
a merchant user sees the times and statuses but no row counts (those are portal-wide figures)."""

from __future__ import annotations

from datetime import UTC, datetime

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import data, i18n, ui
from dashboards.i18n import Texts

STALE_HOURS = 26  # a daily build that is more than a day (and a little) old

T = Texts(
    en={"title": "Data health", "snapshot": "Published snapshot", "published": "Published",
        "age": "Age", "hours": "{n} h", "last_run": "Last pipeline run", "runs": "Recent pipeline runs",
        "no_runs": "No pipeline run recorded yet. `ecom pipeline run` builds and publishes the warehouse.",
        "run_ok": "Last run **{job}** succeeded at {when}.",
        "run_failed": "Last run **{job}** ended **{status}** at {when}: {detail}",
        "marts": "Freshness of every mart", "mart": "Mart", "rows": "Rows", "built_at": "Built",
        "status": "Status", "stale": "stale", "fresh": "fresh", "never": "never built by dbt",
        "checks": "Failed checks", "no_failed": "No failed checks in the latest runs or dbt tests.",
        "check": "Check", "source": "Source", "severity": "Severity", "quarantine": "Quarantined landing rows",
        "no_quarantine": "No landing row is in quarantine.", "reason": "Reason",
        "job": "Job", "started": "Started", "finished": "Finished", "materialized": "Assets",
        "failed_checks": "Failed checks", "failures": "Failed steps", "age_hours": "Age (hours)",
        "stale_count": "{n} marts are older than {hours} hours: run `ecom pipeline run`."},
    zh={"title": "数据健康", "snapshot": "已发布快照", "published": "发布时间", "age": "距今", "hours": "{n} 小时",
        "last_run": "最近一次管道运行", "runs": "最近的管道运行",
        "no_runs": "尚无管道运行记录。`ecom pipeline run` 会构建并发布数据仓库。",
        "run_ok": "最近一次运行 **{job}** 于 {when} 成功。",
        "run_failed": "最近一次运行 **{job}** 于 {when} 以 **{status}** 结束：{detail}",
        "marts": "各数据集市的新鲜度", "mart": "数据集市", "rows": "行数", "built_at": "构建时间", "status": "状态",
        "stale": "过期", "fresh": "新鲜", "never": "未由 dbt 构建", "checks": "未通过的检查",
        "no_failed": "最近的运行和 dbt 测试中没有未通过的检查。", "check": "检查", "source": "来源",
        "severity": "严重程度", "quarantine": "隔离的落地数据行", "no_quarantine": "没有被隔离的落地数据行。",
        "reason": "原因", "job": "作业", "started": "开始", "finished": "结束", "materialized": "资产数",
        "failed_checks": "未通过检查", "failures": "失败步骤", "age_hours": "距今（小时）",
        "stale_count": "{n} 个数据集市已超过 {hours} 小时未更新：请运行 `ecom pipeline run`。"},
)


def _hours_since(moment: datetime) -> float:
    return (datetime.now(UTC) - moment).total_seconds() / 3600


def _snapshot() -> None:
    st.subheader(T("snapshot"))
    published = datetime.fromtimestamp(data.snapshot_published_at(), UTC)
    row = st.columns(2)
    row[0].metric(T("published"), i18n.moment(published))
    row[1].metric(T("age"), T("hours", n=i18n.number(_hours_since(published), 1)))


def _runs() -> list[dict[str, object]]:
    runs = data.run_log()
    st.subheader(T("last_run"))
    if not runs:
        st.info(T("no_runs"))
        return runs
    last = runs[0]
    when = i18n.moment(datetime.fromisoformat(str(last["finished_at"])))
    if last["status"] == "SUCCESS" and not last.get("failed_checks"):
        st.success(T("run_ok", job=last["job"], when=when))
    else:
        detail = "; ".join([str(f) for f in last.get("failures") or []][:3]
                           + [str(c["check"]) for c in last.get("failed_checks") or []][:5])  # type: ignore[union-attr]
        st.error(T("run_failed", job=last["job"], status=last["status"], when=when, detail=detail or "-"))
    frame = pd.DataFrame([{
        T("job"): r["job"], T("status"): r["status"], T("started"): r.get("started_at"),
        T("finished"): r.get("finished_at"), T("materialized"): r.get("materialized"),
        T("failed_checks"): len(r.get("failed_checks") or []), T("failures"): len(r.get("failures") or []),
    } for r in runs])
    st.subheader(T("runs"))
    ui.table(frame, "pipeline_runs")
    return runs


def _marts() -> None:
    st.subheader(T("marts"))
    has_results = data.has("meta.dbt_results")
    built = ("(SELECT max(completed_at) FROM meta.dbt_results r WHERE r.resource_type = 'model' "
             "AND r.name = t.table_name)") if has_results else "NULL"
    frame = data.fetch(
        f"SELECT t.table_name AS mart, t.estimated_size AS rows, {built} AS built_at "
        "FROM duckdb_tables() t WHERE t.database_name = ? AND t.schema_name = 'marts' ORDER BY 1",
        [data.CATALOG], needs=["marts.dim_dates"])
    now = pd.Timestamp(datetime.now(UTC)).tz_localize(None)  # dbt's times are naive UTC
    frame["age_hours"] = ((now - pd.to_datetime(frame["built_at"])).dt.total_seconds() / 3600).round(1)
    frame["status"] = [T("never") if pd.isna(a) else T("stale") if a > STALE_HOURS else T("fresh")
                       for a in frame["age_hours"]]
    stale = int((frame["status"] == T("stale")).sum())
    if stale:
        st.warning(T("stale_count", n=stale, hours=STALE_HOURS))
    if data.bound_merchant() is not None:
        frame = frame.drop(columns=["rows"])
    chart = frame.dropna(subset=["age_hours"])
    if not chart.empty:
        ui.chart(alt.Chart(chart).mark_bar().encode(
            x=alt.X("age_hours:Q", title=T("age_hours")), y=alt.Y("mart:N", sort="-x", title=T("mart")),
            color=alt.Color("status:N", title=T("status")),
            tooltip=["mart", "age_hours", "status"]).properties(height=max(200, 14 * len(chart))))
    ui.table(frame.rename(columns={"mart": T("mart"), "rows": T("rows"), "built_at": T("built_at"),
                                   "age_hours": T("age_hours"), "status": T("status")}), "mart_freshness")


def _checks(runs: list[dict[str, object]]) -> None:
    st.subheader(T("checks"))
    latest: dict[object, dict[str, object]] = {}
    for run in runs:  # newest first: the latest run of each job says what is failing now
        latest.setdefault(run["job"], run)
    rows = [{T("check"): c["check"], T("source"): f"run {run['job']}", T("severity"): c.get("severity")}
            for run in latest.values() for c in run.get("failed_checks") or []]  # type: ignore[union-attr]
    if data.has("meta.dbt_results"):
        tests = data.fetch("SELECT name, status, message FROM meta.dbt_results WHERE resource_type IN "
                           "('test', 'unit_test') AND status IN ('fail', 'error', 'warn') ORDER BY name",
                           needs=["meta.dbt_results"])
        rows += [{T("check"): r.name, T("source"): "dbt", T("severity"): r.status} for r in tests.itertuples()]
    if not rows:
        st.success(T("no_failed"))
        return
    ui.table(pd.DataFrame(rows), "failed_checks")


def _quarantine() -> None:
    st.subheader(T("quarantine"))
    if not data.has("meta.quarantine"):
        st.caption(T("no_quarantine"))
        return
    frame = data.fetch("SELECT source, reason, count(*) AS rows FROM meta.quarantine GROUP BY ALL ORDER BY 3 DESC",
                       needs=["meta.quarantine"])
    if frame.empty:
        st.caption(T("no_quarantine"))
        return
    if data.bound_merchant() is not None:
        frame = frame.drop(columns=["rows"])
    ui.table(frame.rename(columns={"source": T("source"), "reason": T("reason"), "rows": T("rows")}), "quarantine")


def render() -> None:
    st.title(T("title"))
    runs: list[dict[str, object]] = []

    def runs_part() -> None:
        runs.extend(_runs())

    ui.section(runs_part)  # the journal is read even before anything is published
    with ui.friendly():
        _snapshot()
        ui.section(_marts)
        ui.section(lambda: _checks(runs))
        ui.section(_quarantine)


render()
