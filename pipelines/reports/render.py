"""HTML from the report template (autoescaped: product names are data, not markup) and PDF from
that HTML (WeasyPrint; needs Debian's pango, see STACK.md)."""

from __future__ import annotations

import functools
from collections import Counter
from typing import Any

import jinja2

from pipelines.reports import charts
from pipelines.reports.content import Figures
from pipelines.reports.texts import Speaker

HEADLINE = ("net_revenue", "orders", "aov", "units", "gross_margin", "margin_rate", "new_customers",
            "returning_customers")


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("pipelines.reports", "templates"),
                              autoescape=jinja2.select_autoescape(["html", "j2"]), undefined=jinja2.StrictUndefined)


def _formats(say: Speaker) -> list[tuple[str, Any]]:
    money = ("net_revenue", "aov", "gross_margin")
    return [(key, say.money if key in money else say.percent if key == "margin_rate" else say.number)
            for key in HEADLINE]


def _delta(say: Speaker) -> Any:
    """How a headline changed: percentage points for a rate, the relative change otherwise."""
    def delta(key: str, now: float | None, before: float | None) -> str:
        return say.points(now, before) if key == "margin_rate" else say.change(now, before)
    return delta


def _trend_class(now: float | None, before: float | None) -> str:
    if now is None or before is None or now == before:
        return ""
    return "up" if now > before else "down"


def _segments(figures: Figures) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Customers per segment before and after the week, and the flows between different segments."""
    before: Counter[str] = Counter()
    now: Counter[str] = Counter()
    for row in figures.segments or []:
        if row["from_segment"] != "new":
            before[row["from_segment"]] += row["customers"]
        now[row["to_segment"]] += row["customers"]
    # ties by name: a set's order changes from one process to the next (string hashing)
    names = sorted(set(before) | set(now), key=lambda s: (-now[s], s))
    totals = [{"segment": s, "now": now[s], "before": before[s]} for s in names]
    moves = [r for r in figures.segments or [] if r["from_segment"] != r["to_segment"]][:12]
    return totals, moves


def html(figures: Figures, say: Speaker) -> str:
    period = figures.period
    title = say("weekly_title" if period.kind == "week" else "daily_title")
    compare = tuple(k for k in ("previous", "last_year") if figures.sales.get(k) is not None)
    drawn = {"by_day": charts.revenue_by_day(figures.daily, say, compare=compare) if period.kind == "week" else None,
             "trend": charts.revenue_trend(figures.trend, say, current=period.key) if figures.trend else None,
             "forecast": charts.forecast_band(figures.forecast, say) if figures.forecast else None}
    totals, moves = _segments(figures)
    return _environment().get_template("report.html.j2").render(
        f=figures, say=say, title=title, period_label=say.period(period.start, period.end), charts=drawn,
        headline=_formats(say), delta=_delta(say), trend_class=_trend_class, segment_totals=totals, segment_moves=moves,
        trend_title=say("revenue_by_week") if period.kind == "week" else say("revenue_by_day"))


def pdf(document: str) -> bytes:
    import weasyprint  # imported here: it loads pango, which only report runs need

    return weasyprint.HTML(string=document).write_pdf()
