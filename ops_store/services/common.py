"""Look-ups and input parsing shared by the services."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ops_store.errors import InvalidInput, NotFound
from ops_store.models import Carrier, Merchant, Product, Supplier, Warehouse

SYSTEM_ACTOR = "system"


def upsert_into(session: Session, model: type) -> Any:
    """An INSERT for ``model`` that supports ON CONFLICT on both backends (PostgreSQL, SQLite)."""
    dialect = session.get_bind().dialect.name
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(model)


def parse_decimal(value: Any, field: str, *, places: int = 2, minimum: Decimal | None = Decimal("0")) -> Decimal:
    """An exact decimal from a string or number; names the field when it is not one."""
    if isinstance(value, float):
        value = repr(value)
    try:
        result = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise InvalidInput(f"{field} must be a decimal number", field=field) from None
    if not result.is_finite():
        raise InvalidInput(f"{field} must be a finite decimal number", field=field)
    if result != result.quantize(Decimal(1).scaleb(-places)):
        raise InvalidInput(f"{field} has more than {places} decimal places", field=field)
    if minimum is not None and result < minimum:
        raise InvalidInput(f"{field} must be at least {minimum}", field=field)
    return result.quantize(Decimal(1).scaleb(-places))


def parse_positive_int(value: Any, field: str, *, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value))
        except ValueError:
            raise InvalidInput(f"{field} must be a whole number", field=field) from None
    if value < 0 or (value == 0 and not allow_zero):
        raise InvalidInput(f"{field} must be {'zero or more' if allow_zero else 'positive'}", field=field)
    return value


def _by_code(session: Session, model: Any, code: str, what: str) -> Any:
    row = session.scalar(select(model).where(model.code == code))
    if row is None:
        raise NotFound(f"{what} {code!r} does not exist", field=what)
    return row


def merchant_by_code(session: Session, code: str) -> Merchant:
    return _by_code(session, Merchant, code, "merchant")


def warehouse_by_code(session: Session, code: str) -> Warehouse:
    return _by_code(session, Warehouse, code, "warehouse")


def carrier_by_code(session: Session, code: str) -> Carrier:
    return _by_code(session, Carrier, code, "carrier")


def supplier_by_code(session: Session, merchant_id: int, code: str) -> Supplier:
    supplier = session.scalar(select(Supplier).where(Supplier.merchant_id == merchant_id, Supplier.code == code))
    if supplier is None:
        raise NotFound(f"supplier {code!r} does not exist for this merchant", field="supplier")
    return supplier


def product_by_sku(session: Session, sku: str, merchant: str | None = None) -> Product:
    """A product by SKU; the merchant code is needed only when several merchants use the SKU."""
    query = select(Product).where(Product.sku == sku)
    if merchant is not None:
        query = query.join(Merchant, Merchant.id == Product.merchant_id).where(Merchant.code == merchant)
    found = list(session.scalars(query.limit(2)))
    if not found:
        owner = f" for merchant {merchant!r}" if merchant else ""
        raise NotFound(f"SKU {sku!r} does not exist{owner}", field="sku")
    if len(found) > 1:
        raise InvalidInput(f"SKU {sku!r} exists for several merchants; name the merchant", field="merchant")
    return found[0]


def get_or_404(session: Session, model: type, ident: int, what: str, *, lock: bool = False) -> Any:
    query = select(model).where(model.id == ident)
    if lock:
        query = query.with_for_update()
    row = session.scalar(query)
    if row is None:
        raise NotFound(f"{what} {ident} does not exist", field=f"{what.replace(' ', '_')}_id")
    return row


def jsonable(value: Any) -> Any:
    """Decimals as strings (exact), timestamps as ISO 8601."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
