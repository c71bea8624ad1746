"""The sidebar's filters (date range, merchant, category, channel, region). They are drawn by the
app on every run, before the page, so their values persist from page to page; pages read them
with ``current()``. The choices offered come from the snapshot and the user's scope: a merchant
user is offered only its own merchant, categories, channels and regions."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import streamlit as st

from dashboards import data
from dashboards.i18n import COMMON as T

DEFAULT_DAYS = 28


def _options() -> dict[str, pd.DataFrame]:
    where, params = data.scoped(data.Columns(), None)
    merchants = data.fetch(f"SELECT merchant_id, merchant_code, merchant_name, currency FROM marts.dim_merchants "
                           f"{where} ORDER BY merchant_code", params, needs=["marts.dim_merchants"])
    categories = data.fetch(f"SELECT DISTINCT category FROM marts.dim_products {where} ORDER BY 1", params,
                            needs=["marts.dim_products"])
    where_o, params_o = data.scoped(data.Columns(merchant="o.merchant_id"), None)
    facts = data.fetch(
        f"SELECT min(o.placed_on) AS first_on, max(o.placed_on) AS last_on, "
        f"list(DISTINCT o.channel ORDER BY o.channel) AS channels, "
        f"list(DISTINCT c.region ORDER BY c.region) FILTER (WHERE c.region IS NOT NULL) AS regions "
        f"FROM marts.fct_orders o LEFT JOIN marts.dim_customers c USING (customer_id) {where_o}",
        params_o, needs=["marts.fct_orders", "marts.dim_customers"])
    return {"merchants": merchants, "categories": categories, "facts": facts}


def _values(listed: object) -> list[str]:
    return [] if listed is None or (isinstance(listed, float) and pd.isna(listed)) else [str(v) for v in listed]


def sidebar() -> data.Filters | None:
    """Draw the filters; None when there is nothing published to filter yet."""
    try:
        options = _options()
    except (data.NoSnapshot, data.MissingMart):
        st.session_state.pop("filters", None)
        return None
    facts = options["facts"].iloc[0]
    last = facts["last_on"] if not pd.isna(facts["last_on"]) else date.today()
    first = facts["first_on"] if not pd.isna(facts["first_on"]) else last
    last, first = pd.Timestamp(last).date(), pd.Timestamp(first).date()
    st.sidebar.subheader(T("filters"))
    default = (max(first, last - timedelta(days=DEFAULT_DAYS - 1)), last)
    picked = st.sidebar.date_input(T("date_range"), value=default, min_value=first - timedelta(days=365),
                                   max_value=last + timedelta(days=365), key="filter_dates")
    start, end = (tuple(picked) + (None, None))[:2] if isinstance(picked, tuple | list) else (picked, None)
    start = start or default[0]
    end = end or start
    merchants = options["merchants"]
    labels = dict(zip(merchants["merchant_id"], merchants["merchant_code"] + " · " + merchants["merchant_name"],
                      strict=True))
    bound = data.bound_merchant()
    chosen_merchants = st.sidebar.multiselect(
        T("merchant"), list(labels), format_func=labels.get, key="filter_merchants", placeholder=T("all"),
        default=[bound] if bound is not None else None, disabled=bound is not None)
    categories = st.sidebar.multiselect(T("category"), list(options["categories"]["category"].dropna()),
                                        key="filter_categories", placeholder=T("all"))
    channels = st.sidebar.multiselect(T("channel"), _values(facts["channels"]), key="filter_channels",
                                      placeholder=T("all"))
    regions = st.sidebar.multiselect(T("region"), _values(facts["regions"]), key="filter_regions",
                                     placeholder=T("all"))
    chosen = data.Filters(start, end, tuple(int(m) for m in chosen_merchants), tuple(categories), tuple(channels),
                          tuple(regions))
    st.session_state["filters"] = chosen
    return chosen


def current() -> data.Filters:
    """The filters the sidebar drew on this run (a page is only run after the sidebar)."""
    chosen = st.session_state.get("filters")
    if chosen is None:
        raise data.NoSnapshot("no filters: nothing published")
    return chosen


def currency() -> str | None:
    """The currency of the merchants in view: one code, or None when they differ (money is then
    shown per merchant, never summed across currencies)."""
    where, params = data.scoped(data.Columns(), None)
    chosen = current().merchants
    if chosen:
        where = (where + " AND " if where else "WHERE ") + f"merchant_id IN ({', '.join('?' * len(chosen))})"
        params = params + list(chosen)
    codes = data.fetch(f"SELECT DISTINCT currency FROM marts.dim_merchants {where}", params,
                       needs=["marts.dim_merchants"])["currency"].dropna().tolist()
    return codes[0] if len(codes) == 1 else None


def merchant_code(merchant_id: int) -> str:
    """A merchant's code for the sidebar (its id when nothing is published yet)."""
    try:
        codes = data.fetch("SELECT merchant_code FROM marts.dim_merchants WHERE merchant_id = ?", [merchant_id],
                           needs=["marts.dim_merchants"])["merchant_code"]
    except (data.NoSnapshot, data.MissingMart):
        return str(merchant_id)
    return str(codes.iloc[0]) if len(codes) else str(merchant_id)
