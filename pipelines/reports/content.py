"""A merchant's report figures, read from the published warehouse snapshot.

Every query binds the merchant's id (never spliced into SQL), so nothing of another merchant can
reach a report. Figures of the past (sales, returns, delivery, support, campaigns, segment
movement) cover exactly the report's days; the outlook (stock alerts, reorder suggestions,
forecast) is the latest the warehouse holds, dated by ``data_through``. The numbers mean what
METRICS.md says; the marts compute them, the queries here only add them up over the days."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import duckdb

from pipelines.publish import open_snapshot
from pipelines.reports.periods import Period
from pipelines.settings import PipelineSettings

TOP = 10


class MerchantNotInWarehouse(LookupError):
    """The merchant code is not in the published warehouse (new merchant, or a typo)."""


@dataclass(frozen=True)
class Merchant:
    merchant_id: int
    code: str
    name: str
    currency: str


@dataclass
class Figures:
    """Everything one report shows; each section is None when its mart is not in the warehouse."""

    merchant: Merchant
    period: Period
    data_through: date | None
    history_from: date | None = None  # the merchant's first day of sales in the warehouse
    # now / previous / last_year; a comparison period before the history starts is None
    sales: dict[str, dict[str, float | None] | None] = field(default_factory=dict)
    daily: list[dict[str, Any]] = field(default_factory=list)
    trend: list[dict[str, Any]] = field(default_factory=list)
    best_sellers: list[dict[str, Any]] = field(default_factory=list)
    slow_movers: list[dict[str, Any]] | None = None
    alerts: list[dict[str, Any]] | None = None
    reorder: list[dict[str, Any]] | None = None
    forecast: list[dict[str, Any]] | None = None
    segments: list[dict[str, Any]] | None = None
    segments_kept_from: date | None = None
    campaigns: list[dict[str, Any]] | None = None
    returns: dict[str, Any] | None = None
    delivery: dict[str, Any] | None = None
    support: dict[str, Any] | None = None


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> dict[str, Any]:
    rows = _rows(con, sql, params)
    return rows[0] if rows else {}


def has(con: duckdb.DuckDBPyConnection, *relations: str) -> bool:
    """Whether every ``schema.table`` is in the snapshot (an older one may lack newer marts)."""
    for relation in relations:
        schema, name = relation.split(".")
        found = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = ? "
                            "AND table_name = ?", [schema, name]).fetchone()
        if not found or not found[0]:
            return False
    return True


def merchant(con: duckdb.DuckDBPyConnection, code: str) -> Merchant:
    row = _one(con, "SELECT merchant_id, merchant_code, merchant_name, currency FROM marts.dim_merchants "
                    "WHERE merchant_code = ?", [code])
    if not row:
        raise MerchantNotInWarehouse(
            f"merchant {code!r} is not in the published warehouse: check the code (`ecom merchant list`) "
            "or run `ecom pipeline run` after adding it")
    return Merchant(int(row["merchant_id"]), row["merchant_code"], row["merchant_name"], row["currency"])


def history_from(con: duckdb.DuckDBPyConnection, merchant_id: int) -> date | None:
    row = con.execute("SELECT min(day) FROM marts.fct_daily_sales WHERE merchant_id = ?", [merchant_id]).fetchone()
    return row[0] if row else None


def data_through(con: duckdb.DuckDBPyConnection) -> date | None:
    """The latest order day in the warehouse: the outlook sections are as of this day."""
    row = con.execute("SELECT max(placed_on) FROM marts.fct_orders").fetchone()
    return row[0] if row else None


def latest_day(settings: PipelineSettings | None = None) -> date | None:
    """data_through() of the published snapshot (raises NoSnapshot before the first build)."""
    con = open_snapshot(settings)
    try:
        return data_through(con)
    finally:
        con.close()


# --- sales ---------------------------------------------------------------------------------------------


def sales(con: duckdb.DuckDBPyConnection, merchant_id: int, period: Period) -> dict[str, float | None]:
    """Net revenue, COGS and units from fct_daily_sales (refunds on the day paid); orders and
    new/returning customers from fct_orders (orders not cancelled), as the dashboards count them."""
    money = _one(con, "SELECT coalesce(sum(s.net_revenue), 0)::DOUBLE AS net_revenue, "
                      "coalesce(sum(s.cogs), 0)::DOUBLE AS cogs, coalesce(sum(s.units), 0)::BIGINT AS units "
                      "FROM marts.fct_daily_sales s WHERE s.merchant_id = ? AND s.day BETWEEN ? AND ?",
                 [merchant_id, period.start, period.end])
    orders = _one(con, "SELECT count(*) AS orders, "
                       "count(DISTINCT customer_id) FILTER (WHERE is_first_order) AS new_customers, "
                       "count(DISTINCT customer_id) FILTER (WHERE NOT is_first_order) AS returning_customers "
                       "FROM marts.fct_orders WHERE merchant_id = ? AND placed_on BETWEEN ? AND ? "
                       "AND NOT is_cancelled", [merchant_id, period.start, period.end])
    net, count = float(money["net_revenue"]), int(orders["orders"])
    margin = net - float(money["cogs"])
    return {"net_revenue": net, "orders": count, "aov": net / count if count else None,
            "units": int(money["units"]), "gross_margin": margin, "margin_rate": margin / net if net else None,
            "new_customers": int(orders["new_customers"]), "returning_customers": int(orders["returning_customers"])}


def daily(con: duckdb.DuckDBPyConnection, merchant_id: int, period: Period) -> list[dict[str, Any]]:
    """Net revenue per day of the period, beside the same weekday of the previous period and of last year."""
    days = [period.start + timedelta(days=i) for i in range(period.days)]
    previous, last_year = period.previous(), period.last_year()
    wanted = {d: None for d in days}
    for other in (previous, last_year):
        wanted.update({other.start + timedelta(days=i): None for i in range(other.days)})
    found = dict(con.execute(
        "SELECT day, sum(net_revenue)::DOUBLE FROM marts.fct_daily_sales WHERE merchant_id = ? "
        "AND day IN (SELECT unnest(?::DATE[])) GROUP BY day", [merchant_id, list(wanted)]).fetchall())
    shift_prev, shift_year = period.start - previous.start, period.start - last_year.start
    return [{"day": d, "net_revenue": found.get(d, 0.0), "previous": found.get(d - shift_prev, 0.0),
             "last_year": found.get(d - shift_year, 0.0)} for d in days]


def trend(con: duckdb.DuckDBPyConnection, merchant_id: int, period: Period) -> list[dict[str, Any]]:
    """Net revenue per week for the 12 weeks ending with a weekly report's week, or per day for
    the 14 days ending with a daily report's day."""
    if period.kind == "week":
        step, count, bucket = timedelta(weeks=1), 12, "date_trunc('week', day)::DATE"
    else:
        step, count, bucket = timedelta(days=1), 14, "day"
    first = period.start - step * (count - 1)
    found = dict(con.execute(
        f"SELECT {bucket}, sum(net_revenue)::DOUBLE FROM marts.fct_daily_sales "
        "WHERE merchant_id = ? AND day BETWEEN ? AND ? GROUP BY 1", [merchant_id, first, period.end]).fetchall())
    return [{"start": first + step * i, "net_revenue": found.get(first + step * i, 0.0)} for i in range(count)]


def best_sellers(con: duckdb.DuckDBPyConnection, merchant_id: int, period: Period, limit: int = TOP) -> list[dict]:
    """Products ranked by net revenue in the period (then units), with growth on the previous period."""
    previous = period.previous()
    return _rows(con, """
        WITH now AS (
            SELECT product_id, sum(units)::BIGINT AS units, sum(net_revenue)::DOUBLE AS net_revenue
            FROM marts.fct_daily_sales WHERE merchant_id = ? AND day BETWEEN ? AND ? GROUP BY 1),
        before AS (
            SELECT product_id, sum(net_revenue)::DOUBLE AS net_revenue
            FROM marts.fct_daily_sales WHERE merchant_id = ? AND day BETWEEN ? AND ? GROUP BY 1)
        SELECT p.sku, p.product_name, p.category, n.units, n.net_revenue, b.net_revenue AS prev_net_revenue,
               CASE WHEN b.net_revenue > 0 THEN n.net_revenue / b.net_revenue - 1 END AS growth
        FROM now n JOIN marts.dim_products p USING (product_id) LEFT JOIN before b USING (product_id)
        WHERE n.units > 0 OR n.net_revenue <> 0
        ORDER BY n.net_revenue DESC, n.units DESC, p.sku LIMIT ?""",
        [merchant_id, period.start, period.end, merchant_id, previous.start, previous.end, limit])


def slow_movers(con: duckdb.DuckDBPyConnection, merchant_id: int, period: Period,
                limit: int = TOP) -> list[dict] | None:
    """Active products with stock at the period's end that sold least in the period (none first)."""
    if not has(con, "marts.inventory_daily"):
        return None
    return _rows(con, """
        WITH stock AS (
            SELECT product_id, sum(on_hand)::BIGINT AS on_hand, sum(stock_value)::DOUBLE AS stock_value
            FROM marts.inventory_daily
            WHERE merchant_id = ? AND day = (SELECT max(day) FROM marts.inventory_daily WHERE day <= ?)
              AND is_active_product GROUP BY 1 HAVING sum(on_hand) > 0),
        sold AS (
            SELECT product_id, sum(units)::BIGINT AS units, sum(net_revenue)::DOUBLE AS net_revenue
            FROM marts.fct_daily_sales WHERE merchant_id = ? AND day BETWEEN ? AND ? GROUP BY 1)
        SELECT p.sku, p.product_name, p.category, coalesce(s.units, 0) AS units,
               coalesce(s.net_revenue, 0) AS net_revenue, k.on_hand, k.stock_value
        FROM stock k JOIN marts.dim_products p USING (product_id) LEFT JOIN sold s USING (product_id)
        ORDER BY coalesce(s.units, 0), coalesce(s.net_revenue, 0), k.stock_value DESC, p.sku LIMIT ?""",
        [merchant_id, period.end, merchant_id, period.start, period.end, limit])


# --- stock outlook -------------------------------------------------------------------------------------


def stock_alerts(con: duckdb.DuckDBPyConnection, merchant_id: int, limit: int = 25) -> list[dict] | None:
    """Products at or below their reorder point now, the most urgent (projected stock-out) first."""
    if not has(con, "marts.stock_alerts"):
        return None
    forecast = has(con, "marts.reorder_suggestions")
    join = ("LEFT JOIN marts.reorder_suggestions r ON r.product_id = a.product_id "
            "AND r.warehouse_id = a.warehouse_id") if forecast else ""
    stock_out = "r.projected_stock_out_on" if forecast else "NULL::DATE"
    return _rows(con, f"""
        SELECT a.sku, a.product_name, a.warehouse_id, a.available, a.reorder_point, a.on_order,
               a.suggested_qty, {stock_out} AS projected_stock_out_on, a.low_since_on, a.alert_source
        FROM marts.stock_alerts a {join}
        WHERE a.merchant_id = ?
        ORDER BY {stock_out} NULLS LAST, a.available, a.sku, a.warehouse_id LIMIT ?""", [merchant_id, limit])


def reorder_suggestions(con: duckdb.DuckDBPyConnection, merchant_id: int, limit: int = 25) -> list[dict] | None:
    """What the forecast says to order now (METRICS: suggested order quantity), soonest stock-out first."""
    if not has(con, "marts.reorder_suggestions"):
        return None
    return _rows(con, """
        SELECT sku, product_name, warehouse_id, available, on_order, reorder_point, suggested_qty,
               suggested_value::DOUBLE AS suggested_value, projected_stock_out_on, lead_time_days
        FROM marts.reorder_suggestions
        WHERE merchant_id = ? AND needs_reorder
        ORDER BY projected_stock_out_on NULLS LAST, suggested_value DESC, sku, warehouse_id LIMIT ?""",
        [merchant_id, limit])


def forecast(con: duckdb.DuckDBPyConnection, merchant_id: int) -> list[dict] | None:
    """Units expected per coming week (P10, P50, P90 summed over the merchant's products), and the
    revenue the P50 would bring at today's prices."""
    if not has(con, "marts.demand_forecast"):
        return None
    return _rows(con, """
        SELECT date_trunc('week', f.forecast_on)::DATE AS week_start, min(f.forecast_on) AS first_on,
               max(f.forecast_on) AS last_on, sum(f.p10)::DOUBLE AS p10, sum(f.p50)::DOUBLE AS p50,
               sum(f.p90)::DOUBLE AS p90, sum(f.p50 * p.price)::DOUBLE AS p50_revenue
        FROM marts.demand_forecast f JOIN marts.dim_products p USING (product_id)
        WHERE f.merchant_id = ? GROUP BY 1 ORDER BY 1""", [merchant_id])


# --- customers, campaigns, service ---------------------------------------------------------------------


def segment_movement(con: duckdb.DuckDBPyConnection, merchant_id: int, period: Period) -> list[dict] | None:
    """Customers moving between RFM segments from the start of the report's week to its end
    (weekly reports only; the mart keeps the last 26 weeks: older weeks give an empty list and
    ``Figures.segments_kept_from`` says from when)."""
    if period.kind != "week" or not has(con, "marts.merchant_segment_movement"):
        return None
    return _rows(con, """
        SELECT coalesce(from_segment, 'new') AS from_segment, to_segment, sum(customers)::BIGINT AS customers
        FROM marts.merchant_segment_movement
        WHERE merchant_id = ? AND week_start = ?
        GROUP BY ALL ORDER BY customers DESC, from_segment, to_segment""",
        [merchant_id, period.start + timedelta(days=7)])


def segments_kept_from(con: duckdb.DuckDBPyConnection) -> date | None:
    """The first week whose segment movement the mart holds."""
    row = con.execute("SELECT min(week_start) - 7 FROM marts.merchant_segment_movement").fetchone()
    return row[0] if row else None


def campaigns(con: duckdb.DuckDBPyConnection, merchant_id: int, period: Period) -> list[dict] | None:
    """The merchant's campaigns running during the period, with uplift against the control group."""
    if not has(con, "marts.campaign_performance"):
        return None
    return _rows(con, """
        SELECT campaign_code, campaign_name, channel, starts_on, ends_on, contacted_customers, control_customers,
               contacted_conversion_rate, control_conversion_rate, uplift, uplift_ci_low, uplift_ci_high,
               is_uplift_ci_reliable, incremental_revenue::DOUBLE AS incremental_revenue, spend::DOUBLE AS spend,
               return_on_spend, attributed_orders, attributed_revenue::DOUBLE AS attributed_revenue
        FROM marts.campaign_performance
        WHERE merchant_id = ? AND starts_on <= ? AND ends_on >= ?
        ORDER BY starts_on DESC, campaign_code""", [merchant_id, period.end, period.start])


def returns(con: duckdb.DuckDBPyConnection, merchant_id: int, period: Period) -> dict[str, Any] | None:
    """Return requests made in the period, by reason, and the units sold in it for scale."""
    if not has(con, "marts.merchant_returns_daily"):
        return None
    sql = ("SELECT reason, sum(return_requests)::BIGINT AS requests, sum(units_requested)::BIGINT AS units, "
           "sum(units_accepted)::BIGINT AS units_accepted, sum(refunds_paid)::DOUBLE AS refunds_paid "
           "FROM marts.merchant_returns_daily WHERE merchant_id = ? AND requested_on BETWEEN ? AND ? GROUP BY 1 "
           "ORDER BY units DESC, reason")
    now = _rows(con, sql, [merchant_id, period.start, period.end])
    before = _rows(con, sql, [merchant_id, period.previous().start, period.previous().end])
    return {"by_reason": now, "total": _total(now, ("requests", "units", "units_accepted", "refunds_paid")),
            "previous": _total(before, ("requests", "units", "units_accepted", "refunds_paid"))}


def delivery(con: duckdb.DuckDBPyConnection, merchant_id: int, period: Period) -> dict[str, Any] | None:
    """Shipments handed to carriers in the period: on-time rate, delivery days, exceptions."""
    if not has(con, "marts.merchant_delivery_daily"):
        return None
    sql = """
        SELECT {key} sum(shipments)::BIGINT AS shipments, sum(delivered)::BIGINT AS delivered,
               sum(delivered_on_time)::DOUBLE / nullif(sum(delivered), 0) AS on_time_rate,
               sum(delivery_days_sum)::DOUBLE / nullif(sum(delivery_days_count), 0) AS avg_delivery_days,
               sum(shipments_with_exception)::DOUBLE / nullif(sum(shipments), 0) AS exception_rate
        FROM marts.merchant_delivery_daily WHERE merchant_id = ? AND handed_on BETWEEN ? AND ? {group}"""
    params = [merchant_id, period.start, period.end]
    by_carrier = _rows(con, sql.format(key="carrier_name AS carrier,", group="GROUP BY 1 ORDER BY shipments DESC, 1"),
                       params)
    total = _one(con, sql.format(key="", group=""), params)
    previous = _one(con, sql.format(key="", group=""), [merchant_id, period.previous().start, period.previous().end])
    return {"by_carrier": by_carrier, "total": total, "previous": previous}


def support(con: duckdb.DuckDBPyConnection, merchant_id: int, period: Period) -> dict[str, Any] | None:
    """Tickets opened in the period: SLA breaches, response and resolution hours, satisfaction."""
    if not has(con, "marts.merchant_support_daily"):
        return None
    sql = """
        SELECT sum(tickets)::BIGINT AS tickets, sum(resolved_tickets)::BIGINT AS resolved_tickets,
               sum(first_response_breaches)::DOUBLE / nullif(sum(tickets), 0) AS first_response_breach_rate,
               sum(resolution_breaches)::DOUBLE / nullif(sum(tickets), 0) AS resolution_breach_rate,
               sum(first_response_hours_sum)::DOUBLE / nullif(sum(responded_tickets), 0) AS avg_first_response_hours,
               sum(resolution_hours_sum)::DOUBLE / nullif(sum(resolved_tickets), 0) AS avg_resolution_hours,
               sum(satisfied_ratings)::DOUBLE / nullif(sum(rated_tickets), 0) AS csat_rate
        FROM marts.merchant_support_daily WHERE merchant_id = ? AND created_on BETWEEN ? AND ?"""
    return {"total": _one(con, sql, [merchant_id, period.start, period.end]),
            "previous": _one(con, sql, [merchant_id, period.previous().start, period.previous().end])}


def _total(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, float]:
    return {k: sum((r[k] or 0) for r in rows) for k in keys}


# --- the whole report ----------------------------------------------------------------------------------


def gather(con: duckdb.DuckDBPyConnection, code: str, period: Period) -> Figures:
    """Every section of ``code``'s report for ``period`` (the daily report keeps to the essentials)."""
    m = merchant(con, code)
    figures = Figures(m, period, data_through(con), history_from(con, m.merchant_id))
    first = figures.history_from
    figures.sales = {"now": sales(con, m.merchant_id, period)}
    for name, other in (("previous", period.previous()), ("last_year", period.last_year())):
        # before the merchant's first sale there is nothing to compare with (not zero)
        figures.sales[name] = sales(con, m.merchant_id, other) if first and other.start >= first else None
    figures.daily = daily(con, m.merchant_id, period)
    figures.trend = trend(con, m.merchant_id, period)
    figures.best_sellers = best_sellers(con, m.merchant_id, period, limit=TOP if period.kind == "week" else 5)
    figures.alerts = stock_alerts(con, m.merchant_id, limit=25 if period.kind == "week" else 10)
    if period.kind == "day":
        return figures
    figures.slow_movers = slow_movers(con, m.merchant_id, period)
    figures.reorder = reorder_suggestions(con, m.merchant_id)
    figures.forecast = forecast(con, m.merchant_id)
    figures.segments = segment_movement(con, m.merchant_id, period)
    if figures.segments == []:
        figures.segments_kept_from = segments_kept_from(con)
    figures.campaigns = campaigns(con, m.merchant_id, period)
    figures.returns = returns(con, m.merchant_id, period)
    figures.delivery = delivery(con, m.merchant_id, period)
    figures.support = support(con, m.merchant_id, period)
    return figures
