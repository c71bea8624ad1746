"""The dashboard's pages and the permission each needs (ops_store.security.access.MATRIX)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageSpec:
    slug: str  # file under views/ and the URL path
    icon: str
    permission: str  # what the role must hold to see the page (ops_store.security.access.MATRIX)


PAGES = (
    PageSpec("overview", ":material/dashboard:", "orders.read"),
    PageSpec("sales", ":material/trending_up:", "orders.read"),
    PageSpec("inventory", ":material/inventory_2:", "stock.read"),
    PageSpec("forecast", ":material/query_stats:", "stock.read"),
    PageSpec("customers", ":material/groups:", "customers.read"),
    PageSpec("customer_360", ":material/person_search:", "customers.read"),
    PageSpec("recommendations", ":material/recommend:", "customers.read"),
    PageSpec("marketing", ":material/campaign:", "marketing.read"),
    PageSpec("service", ":material/local_shipping:", "crm.read"),
    PageSpec("data_health", ":material/monitor_heart:", "catalog.read"),
)
