"""Where sales figures come from: fct_daily_sales (refunds counted on the day they are paid, as
METRICS says) unless a region filter needs the customer's region, which only order lines carry
(there a line's refunds count on its order's day; pages say so). Shared by Overview and Sales."""

from __future__ import annotations

from dataclasses import dataclass

from dashboards import data


@dataclass(frozen=True)
class Source:
    """Where sales rows come from and which column carries each filter."""

    relation: str
    columns: data.Columns
    day: str
    extra: tuple[str, ...]
    needs: tuple[str, ...]


DAILY = Source("marts.fct_daily_sales s JOIN marts.dim_products p ON p.product_id = s.product_id",
               data.Columns(merchant="p.merchant_id", category="p.category", channel="s.channel"),
               "s.day", (), ("marts.fct_daily_sales", "marts.dim_products"))
LINES = Source("marts.fct_order_lines s JOIN marts.dim_products p ON p.product_id = s.product_id "
               "LEFT JOIN marts.dim_customers c ON c.customer_id = s.customer_id",
               data.Columns(merchant="p.merchant_id", category="p.category", channel="s.channel", region="c.region"),
               "s.placed_on", ("NOT s.is_cancelled",),
               ("marts.fct_order_lines", "marts.dim_products", "marts.dim_customers"))


def for_filters(f: data.Filters) -> Source:
    """fct_daily_sales unless a region filter needs the customer."""
    return LINES if f.regions else DAILY
