"""Which store tables reach the warehouse, how each is loaded, and which columns stay home.

Every table of the store's schema is named here, either with a load plan or with the reason it
is kept out (a test holds the two lists against the schema, so a new table is a deliberate
choice). Personal data never leaves the store: encrypted columns, blind indexes, card details
and free text that people write are dropped; customers arrive with their pseudonymous id and
reference and coarse attributes (region, country) only.

Load kinds:
  changes   rows carry updated_at: read rows changed since the watermark (minus an overlap),
            merge by key so a newer version replaces the old one.
  appends   rows are only ever inserted: read ids above the watermark (minus an overlap).
  snapshot  small tables whose rows may be deleted (erasure, a released coupon) or that have no
            change column: replaced whole on every load.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Boolean, Date, Integer, Table
from sqlalchemy.types import TypeEngine

from ops_store.models import Base
from ops_store.types import ExactDecimal, UTCDateTime

Kind = Literal["changes", "appends", "snapshot"]

GROUPS: dict[str, dict[str, Kind]] = {
    "catalog": {"merchants": "changes", "warehouses": "changes", "products": "changes",
                "suppliers": "changes", "carriers": "changes", "delivery_options": "changes"},
    "customers": {"customers": "changes", "customer_consents": "snapshot"},
    "orders": {"orders": "changes", "order_lines": "changes", "order_events": "appends"},
    "payments": {"payments": "changes", "payment_transactions": "appends"},
    "fulfilment": {"shipments": "changes", "shipment_lines": "appends", "tracking_events": "appends",
                   "return_requests": "changes"},
    "stock": {"stock_movements": "appends", "stock_levels": "changes", "stock_valuations": "changes",
              "reservations": "changes", "replenishment_policies": "changes", "stock_alerts": "changes",
              "purchase_orders": "changes", "purchase_order_lines": "changes", "stock_counts": "changes",
              "stock_count_lines": "changes"},
    "service": {"tickets": "changes", "ticket_messages": "appends", "communications": "snapshot",
                "reviews": "changes", "survey_responses": "appends"},
    "marketing": {"campaigns": "changes", "campaign_members": "snapshot", "coupons": "changes",
                  "coupon_redemptions": "snapshot"},
    "loyalty": {"loyalty_programme": "changes", "loyalty_tiers": "snapshot", "loyalty_accounts": "changes",
                "loyalty_entries": "appends", "loyalty_tier_changes": "appends"},
}

KEPT_OUT: dict[str, str] = {
    "users": "staff accounts and password hashes",
    "api_clients": "API key hashes",
    "audit_log": "who saw whose personal data; stays with the store",
    "rejected_requests": "refused payloads may hold personal data",
    "customer_addresses": "street addresses; region and country come with customers",
    "notifications": "the outbox of reports and alerts: mailboxes, webhook URLs and message bodies",
    "idempotency_keys": "the API's stored responses, which may hold personal data",
    "inbound_events": "webhook deliveries already applied; their effects reach the warehouse",
    "api_rate_limits": "API rate-limit state",
    "sign_in_links": "one-time sign-in tokens of the self-service site",
}

DROPPED_COLUMNS: dict[str, frozenset[str]] = {
    "merchants": frozenset({"notify_email", "webhook_url", "webhook_secret_enc"}),
    "customers": frozenset({"name_enc", "email_enc", "phone_enc", "email_bidx", "phone_bidx"}),
    "payments": frozenset({"provider_token", "card_last4"}),
    "tickets": frozenset({"subject"}),
    "ticket_messages": frozenset({"author", "body"}),
    "communications": frozenset({"subject", "summary"}),
    "reviews": frozenset({"text"}),
    "survey_responses": frozenset({"comment"}),
}


@dataclass(frozen=True)
class Column:
    name: str
    duck_type: str
    scale: int | None = None  # decimals: the scale SQLite stores them multiplied by


@dataclass(frozen=True)
class TableSpec:
    name: str
    group: str
    kind: Kind
    columns: tuple[Column, ...]
    key: tuple[str, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def watermark_column(self) -> str | None:
        """updated_at for `changes`, the id for `appends`, none for snapshots."""
        return {"changes": "updated_at", "appends": "id", "snapshot": None}[self.kind]


def duck_type(sql_type: TypeEngine) -> tuple[str, int | None]:
    if isinstance(sql_type, ExactDecimal):
        return f"DECIMAL({sql_type.precision},{sql_type.scale})", sql_type.scale
    if isinstance(sql_type, UTCDateTime):
        return "TIMESTAMP", None
    if isinstance(sql_type, Date):
        return "DATE", None
    if isinstance(sql_type, Boolean):
        return "BOOLEAN", None
    if isinstance(sql_type, Integer):
        return "BIGINT", None
    return "VARCHAR", None


def _spec(table: Table, group: str, kind: Kind) -> TableSpec:
    dropped = DROPPED_COLUMNS.get(table.name, frozenset())
    columns = []
    for col in table.columns:
        if col.name in dropped:
            continue
        type_name, scale = duck_type(col.type)
        columns.append(Column(col.name, type_name, scale))
    return TableSpec(table.name, group, kind, tuple(columns), tuple(c.name for c in table.primary_key))


def table_specs() -> list[TableSpec]:
    """Every loaded table, in group order."""
    tables = Base.metadata.tables
    return [_spec(tables[name], group, kind) for group, members in GROUPS.items() for name, kind in members.items()]


def specs_by_group() -> dict[str, list[TableSpec]]:
    grouped: dict[str, list[TableSpec]] = {}
    for spec in table_specs():
        grouped.setdefault(spec.group, []).append(spec)
    return grouped
