"""Who is acting, and what each role may do: the permission matrix, in one place.

The caller (CLI, API, a job) says who acts with ``acting_as(principal)``; services check with
``require(permission, merchant_id=...)``. Deny by default: a permission not in the matrix, or a
role not listed for it, is refused; a principal bound to a merchant never touches another
merchant's data, and a customer signed in to the self-service site (role "customer") only their
own orders, returns, tickets and loyalty account. Code that runs with no caller (tests, the demo,
internal jobs) acts as SYSTEM.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from ops_store.errors import DomainError, NotFound


class PermissionDenied(DomainError):
    code = "permission_denied"


ALL_STAFF = frozenset({"admin", "merchant", "analyst", "support", "engineer"})

# permission -> roles that hold it. Channels (API clients) hold the scopes on their key instead.
MATRIX: dict[str, frozenset[str]] = {
    "merchants.manage": frozenset({"admin", "engineer"}),
    "settings.manage": frozenset({"admin", "engineer"}),  # warehouses, carriers, delivery options
    "catalog.read": ALL_STAFF,
    "catalog.write": frozenset({"admin", "merchant", "engineer"}),
    "stock.read": ALL_STAFF,
    "stock.write": frozenset({"admin", "merchant", "engineer"}),
    "stock.count": frozenset({"admin", "engineer"}),  # counts cover a shared warehouse
    "orders.read": frozenset({"admin", "merchant", "analyst", "support", "engineer"}),
    "orders.write": frozenset({"admin", "merchant", "support", "engineer"}),
    "returns.request": frozenset({"admin", "merchant", "support", "engineer"}),
    "payments.refund": frozenset({"admin", "merchant"}),
    "customers.read": frozenset({"admin", "merchant", "analyst", "support"}),
    "customers.write": frozenset({"admin", "support"}),
    "pii.read": frozenset({"admin", "support"}),
    "pii.export": frozenset({"admin", "support"}),
    "pii.erase": frozenset({"admin"}),
    "crm.read": frozenset({"admin", "merchant", "support", "analyst"}),
    "crm.write": frozenset({"admin", "support"}),
    "tickets.open": frozenset({"admin", "support"}),  # open a ticket, write as the customer
    "loyalty.read": frozenset({"admin", "merchant", "support", "analyst"}),
    "loyalty.write": frozenset({"admin", "support"}),
    "marketing.read": frozenset({"admin", "merchant", "analyst"}),
    "marketing.write": frozenset({"admin", "merchant"}),
    "users.manage": frozenset({"admin"}),
    "keys.manage": frozenset({"admin"}),
    "audit.read": frozenset({"admin"}),
    "backup.run": frozenset({"admin", "engineer"}),
    "pipeline.run": frozenset({"admin", "engineer"}),  # materialise assets, backfill, full reload
}

# What a customer signed in to the self-service site may do, always on their own records only.
CUSTOMER_PERMISSIONS = frozenset({"orders.read", "returns.request", "tickets.open", "crm.read", "loyalty.read"})


@dataclass(frozen=True)
class Principal:
    name: str  # "user:alice", "apikey:ab12cd34", "customer:CUS-1", "cli", "system"
    role: str  # a role from the matrix, "channel" for API clients, "customer", "system"
    merchant_id: int | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    customer_id: int | None = None  # set for role "customer": the only customer it may see

    def may(self, permission: str, merchant_id: int | None = None) -> bool:
        if self.role == "system":
            return True
        if self.role == "channel":
            allowed = permission in self.scopes
        elif self.role == "customer":
            allowed = self.customer_id is not None and permission in CUSTOMER_PERMISSIONS
        else:
            allowed = self.role in MATRIX.get(permission, frozenset())
        if not allowed:
            return False
        return self.merchant_id is None or merchant_id is None or merchant_id == self.merchant_id


SYSTEM = Principal("system", "system")
_current: ContextVar[Principal] = ContextVar("ecom_principal", default=SYSTEM)


def current() -> Principal:
    return _current.get()


@contextmanager
def acting_as(principal: Principal) -> Iterator[Principal]:
    token = _current.set(principal)
    try:
        yield principal
    finally:
        _current.reset(token)


def require(permission: str, *, merchant_id: int | None = None) -> Principal:
    """Raise PermissionDenied unless the current principal holds ``permission`` (for this merchant)."""
    who = current()
    if permission not in MATRIX:
        raise PermissionDenied(f"unknown permission {permission!r}", field="permission")
    if not who.may(permission, merchant_id):
        scope = " for this merchant" if who.merchant_id is not None and merchant_id is not None else ""
        raise PermissionDenied(
            f"{who.name} ({who.role}) may not {permission.replace('.', ' ')}{scope}; "
            "ask an admin for a role that allows it",
            field="permission",
        )
    return who


def may(permission: str, merchant_id: int | None = None) -> bool:
    return current().may(permission, merchant_id)


def merchant_scope() -> int | None:
    """The merchant the current principal is bound to (list queries filter on it), else None."""
    return current().merchant_id


def customer_scope() -> int | None:
    """The customer a signed-in customer is (their queries filter on it), else None."""
    who = current()
    return who.customer_id if who.role == "customer" else None


def require_own(customer_id: int | None, what: str, ident: object, field: str) -> None:
    """A customer reaches only their own records; anyone else's is reported as not found."""
    scope = customer_scope()
    if scope is not None and customer_id != scope:
        raise NotFound(f"{what} {ident} does not exist", field=field)
