"""The pieces every page uses: headline figures against the previous period, sortable tables
with a CSV download, charts at full width, and friendly messages instead of tracebacks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st
from babel.numbers import get_currency_symbol

from dashboards import data, i18n
from dashboards.i18n import COMMON as T


def change(current: float | None, previous: float | None) -> float | None:
    """Relative change against the previous period (None when there is nothing to compare)."""
    if current is None or previous is None or pd.isna(current) or pd.isna(previous) or previous == 0:
        return None
    return float(current) / float(previous) - 1


def kpi(column: Any, label: str, current: Any, previous: Any, formatter: Callable[[Any], str],
        *, lower_is_better: bool = False, help: str | None = None) -> None:
    """A headline figure with its change against the previous period."""
    delta = change(current, previous)
    column.metric(label, formatter(current), None if delta is None else f"{i18n.percent(delta)}",
                  delta_color="inverse" if lower_is_better else "normal", help=help)


def table(frame: pd.DataFrame, name: str, *, column_config: dict[str, Any] | None = None,
          height: int | None = None) -> None:
    """A sortable table (click a header) and a CSV download of exactly what it shows."""
    if frame.empty:
        st.caption(T("no_rows"))
        return
    st.dataframe(frame, hide_index=True, width="stretch", column_config=column_config,
                 height=height or "auto")
    st.download_button(T("download_csv"), frame.to_csv(index=False).encode("utf-8"), file_name=f"{name}.csv",
                       mime="text/csv", key=f"download_{name}")


def money_format(currency: str | None) -> str:
    """A table column's number format with the currency's symbol (plain two decimals when the
    merchants in view use different currencies)."""
    if not currency:
        return "%.2f"
    return get_currency_symbol(currency, locale=i18n.locale()).replace("%", "%%") + "%.2f"


def money_label(label: str, currency: str | None) -> str:
    """A column or axis title with the currency code, when one currency is in view."""
    return f"{label} ({currency})" if currency else label


def number(label: str, fmt: str) -> Any:
    """A numeric table column with its (translated) title."""
    return st.column_config.NumberColumn(label, format=fmt)


def chart(spec: alt.Chart | alt.LayerChart | alt.FacetChart) -> None:
    st.altair_chart(spec, width="stretch")


def ignored_filters(columns: data.Columns, filters: data.Filters) -> None:
    names = columns.ignored(filters)
    if names:
        st.caption(T("filters_ignored", names=", ".join(T(n) for n in names)))


@contextmanager
def friendly() -> Iterator[None]:
    """Turn the warehouse's expected gaps into a message that says which command fixes them."""
    try:
        yield
    except data.NoSnapshot:
        st.info(T("no_snapshot"))
    except data.MissingMart as missing:
        st.info(T("missing_mart", mart=missing.mart))
    except data.NotForMerchants:
        st.info(T("portal_only"))


def section(fn: Callable[[], None]) -> None:
    """Render one part of a page; a missing mart there leaves the rest of the page working."""
    with friendly():
        fn()
