"""The report's charts: Altair specs rendered to PNG offline by vl-convert, embedded in the HTML
as data URIs (so the mail, the HTML file and the PDF carry them with no outside reference).
Chinese needs a CJK font on the machine (Debian fonts-noto-cjk, installed by `make browser`)."""

from __future__ import annotations

import base64
import functools
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd
import vl_convert as vlc

from pipelines.reports.texts import Speaker

CJK_FONTS = Path("/usr/share/fonts/opentype/noto")
CJK_FAMILY = "Noto Sans CJK SC"
WIDTH, HEIGHT = 640, 220
COLOURS = ["#1f6feb", "#9aa4b2", "#e3b341"]


@functools.cache
def _font() -> str | None:
    """The CJK font family when the machine has it (registered once per process)."""
    if not CJK_FONTS.is_dir():
        return None
    vlc.register_font_directory(str(CJK_FONTS))
    return CJK_FAMILY


def _png(chart: alt.TopLevelMixin) -> str:
    font = _font()
    if font:
        chart = chart.configure(font=font)
    png = vlc.vegalite_to_png(chart.to_dict(), scale=2)
    return "data:image/png;base64," + base64.b64encode(png).decode()


def revenue_by_day(rows: list[dict[str, Any]], say: Speaker, *, compare: tuple[str, ...]) -> str:
    """This period's net revenue per day beside the same weekdays of the periods in ``compare``
    ("previous", "last_year")."""
    names = {"net_revenue": say("this_period"), "previous": say("previous_period"), "last_year": say("last_year")}
    series = {k: v for k, v in names.items() if k == "net_revenue" or k in compare}
    frame = pd.DataFrame([{"day": say.day(r["day"], "EEE d"), "order": i, "series": label, "value": r[key]}
                          for i, r in enumerate(rows) for key, label in series.items()])
    chart = alt.Chart(frame).mark_bar().encode(
        x=alt.X("day:N", sort=alt.SortField("order"), title=None, axis=alt.Axis(labelAngle=0)),
        xOffset=alt.XOffset("series:N", sort=list(series.values())),
        y=alt.Y("value:Q", title=f"{say('net_revenue')} ({say.currency})"),
        color=alt.Color("series:N", sort=list(series.values()), title=None,
                        scale=alt.Scale(range=COLOURS), legend=alt.Legend(orient="bottom")),
    ).properties(width=WIDTH, height=HEIGHT)
    return _png(chart)


def revenue_trend(rows: list[dict[str, Any]], say: Speaker, *, current: str) -> str:
    """Net revenue per week (or day), the report's own period highlighted."""
    frame = pd.DataFrame([{"label": say.day(r["start"], "d MMM" if say.lang == "en" else "M月d日"), "order": i,
                           "value": r["net_revenue"], "current": r["start"].isoformat() == current}
                          for i, r in enumerate(rows)])
    chart = alt.Chart(frame).mark_bar().encode(
        x=alt.X("label:N", sort=alt.SortField("order"), title=None, axis=alt.Axis(labelAngle=0)),
        y=alt.Y("value:Q", title=f"{say('net_revenue')} ({say.currency})"),
        color=alt.condition("datum.current", alt.value(COLOURS[0]), alt.value(COLOURS[1])),
    ).properties(width=WIDTH, height=HEIGHT)
    return _png(chart)


def forecast_band(rows: list[dict[str, Any]], say: Speaker) -> str:
    """Units expected per coming week: the P50 line inside its P10-P90 band."""
    frame = pd.DataFrame([{"week": say.day(r["first_on"], "d MMM" if say.lang == "en" else "M月d日"), "order": i,
                           "p10": r["p10"], "p50": r["p50"], "p90": r["p90"]} for i, r in enumerate(rows)])
    x = alt.X("week:N", sort=alt.SortField("order"), title=say("week"), axis=alt.Axis(labelAngle=0))
    # the scale must reach the band's top (y2 alone does not widen the domain)
    scale = alt.Scale(domain=[0, max(float(frame["p90"].max()), 1.0) * 1.05], nice=True)
    band = alt.Chart(frame).mark_area(opacity=0.25, color=COLOURS[0]).encode(
        x=x, y=alt.Y("p10:Q", title=say("units"), scale=scale), y2="p90:Q")
    line = alt.Chart(frame).mark_line(point=True, color=COLOURS[0]).encode(x=x, y=alt.Y("p50:Q", scale=scale))
    return _png((band + line).properties(width=WIDTH, height=HEIGHT))
