"""Merchants, warehouses, products, suppliers, carriers and delivery options."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ops_store.db import Store
from ops_store.errors import AlreadyExists, InvalidInput
from ops_store.models import Carrier, DeliveryOption, Merchant, Product, Supplier, Warehouse
from ops_store.security import access
from ops_store.services.common import (
    carrier_by_code,
    merchant_by_code,
    parse_decimal,
    parse_positive_int,
    product_by_sku,
    warehouse_by_code,
)

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
SKU_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-/]{0,63}$")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")


def _code(value: str, field: str = "code") -> str:
    if not CODE_RE.match(value or ""):
        raise InvalidInput(
            f"{field} must be 1-32 letters, digits, '_', '.' or '-', starting with a letter or digit", field=field
        )
    return value


def _name(value: str, field: str = "name") -> str:
    value = (value or "").strip()
    if not value:
        raise InvalidInput(f"{field} must not be empty", field=field)
    return value


def _currency(value: str) -> str:
    if not CURRENCY_RE.match(value or ""):
        raise InvalidInput("currency must be a three-letter ISO 4217 code such as USD", field="currency")
    return value


def _add(store: Store, row: Any, what: str, code: str) -> None:
    try:
        with store.write() as session:
            session.add(row)
    except IntegrityError:
        raise AlreadyExists(f"{what} {code!r} already exists", field="code") from None


def merchant_dict(m: Merchant, warehouse_code: str | None = None) -> dict[str, Any]:
    return {
        "code": m.code, "name": m.name, "currency": m.currency, "tax_rate": m.tax_rate,
        "preferred_warehouse": warehouse_code,
    }


def add_merchant(
    store: Store, code: str, name: str, *, currency: str = "USD", tax_rate: Any = "0",
    preferred_warehouse: str | None = None,
) -> dict[str, Any]:
    access.require("merchants.manage")
    rate = parse_decimal(tax_rate, "tax_rate", places=4)
    if rate >= 1:
        raise InvalidInput("tax_rate is a fraction below 1 (0.08 for 8%)", field="tax_rate")
    with store.read() as session:
        wh_id = warehouse_by_code(session, preferred_warehouse).id if preferred_warehouse else None
    merchant = Merchant(
        code=_code(code), name=_name(name), currency=_currency(currency), tax_rate=rate,
        preferred_warehouse_id=wh_id,
    )
    _add(store, merchant, "merchant", code)
    return merchant_dict(merchant, preferred_warehouse)


def list_merchants(store: Store) -> list[dict[str, Any]]:
    access.require("catalog.read")
    with store.read() as session:
        codes = dict(session.execute(select(Warehouse.id, Warehouse.code)).all())
        query = select(Merchant).order_by(Merchant.code)
        if access.merchant_scope() is not None:
            query = query.where(Merchant.id == access.merchant_scope())
        return [merchant_dict(m, codes.get(m.preferred_warehouse_id)) for m in session.scalars(query)]


def add_warehouse(store: Store, code: str, name: str, *, priority: int = 100) -> dict[str, Any]:
    access.require("settings.manage")
    warehouse = Warehouse(code=_code(code), name=_name(name), priority=int(priority), active=True)
    _add(store, warehouse, "warehouse", code)
    return warehouse_dict(warehouse)


def warehouse_dict(w: Warehouse) -> dict[str, Any]:
    return {"code": w.code, "name": w.name, "priority": w.priority, "active": w.active}


def list_warehouses(store: Store) -> list[dict[str, Any]]:
    access.require("stock.read")
    with store.read() as session:
        rows = session.scalars(select(Warehouse).order_by(Warehouse.priority, Warehouse.code))
        return [warehouse_dict(w) for w in rows]


def product_dict(p: Product, merchant_code: str) -> dict[str, Any]:
    return {
        "merchant": merchant_code, "sku": p.sku, "name": p.name, "category": p.category,
        "price": p.price, "unit_cost": p.unit_cost, "currency": p.currency, "active": p.active,
    }


def add_product(
    store: Store, merchant: str, sku: str, name: str, price: Any, cost: Any, *,
    category: str = "uncategorised", currency: str | None = None,
) -> dict[str, Any]:
    if not SKU_RE.match(sku or ""):
        raise InvalidInput("sku must be 1-64 letters, digits, '_', '.', '-' or '/'", field="sku")
    price_d = parse_decimal(price, "price")
    cost_d = parse_decimal(cost, "cost", places=4)
    with store.read() as session:
        m = merchant_by_code(session, merchant)
        merchant_id, merchant_currency = m.id, m.currency
    access.require("catalog.write", merchant_id=merchant_id)
    product = Product(
        merchant_id=merchant_id, sku=sku, name=_name(name), category=_name(category, "category"),
        price=price_d, unit_cost=cost_d, currency=_currency(currency or merchant_currency), active=True,
    )
    _add(store, product, f"SKU for merchant {merchant!r}:", sku)
    return product_dict(product, merchant)


def set_product(
    store: Store, sku: str, *, merchant: str | None = None, price: Any = None, cost: Any = None,
    active: bool | None = None, name: str | None = None, category: str | None = None,
) -> dict[str, Any]:
    with store.write() as session:
        product = product_by_sku(session, sku, merchant)
        access.require("catalog.write", merchant_id=product.merchant_id)
        if price is not None:
            product.price = parse_decimal(price, "price")
        if cost is not None:
            product.unit_cost = parse_decimal(cost, "cost", places=4)
        if active is not None:
            product.active = active
        if name is not None:
            product.name = _name(name)
        if category is not None:
            product.category = _name(category, "category")
        code = session.get(Merchant, product.merchant_id).code  # type: ignore[union-attr]
        return product_dict(product, code)


def list_products(store: Store, merchant: str | None = None) -> list[dict[str, Any]]:
    access.require("catalog.read")
    with store.read() as session:
        query = select(Product, Merchant.code).join(Merchant, Merchant.id == Product.merchant_id)
        if merchant:
            query = query.where(Merchant.code == merchant)
        if access.merchant_scope() is not None:
            query = query.where(Product.merchant_id == access.merchant_scope())
        rows = session.execute(query.order_by(Merchant.code, Product.sku))
        return [product_dict(p, code) for p, code in rows]


def add_supplier(store: Store, merchant: str, code: str, name: str, *, lead_time_days: int = 7) -> dict[str, Any]:
    with store.read() as session:
        merchant_id = merchant_by_code(session, merchant).id
    access.require("catalog.write", merchant_id=merchant_id)
    supplier = Supplier(
        merchant_id=merchant_id, code=_code(code), name=_name(name),
        lead_time_days=parse_positive_int(lead_time_days, "lead_time_days", allow_zero=True),
    )
    _add(store, supplier, "supplier", code)
    return {"merchant": merchant, "code": code, "name": supplier.name, "lead_time_days": supplier.lead_time_days}


def add_carrier(store: Store, code: str, name: str) -> dict[str, Any]:
    access.require("settings.manage")
    carrier = Carrier(code=_code(code), name=_name(name), active=True)
    _add(store, carrier, "carrier", code)
    return {"code": carrier.code, "name": carrier.name}


def add_delivery_option(
    store: Store, code: str, *, kind: str, name: str, carrier: str, price: Any, promised_days: int,
) -> dict[str, Any]:
    access.require("settings.manage")
    if kind not in ("standard", "express", "pickup"):
        raise InvalidInput("kind must be one of standard, express, pickup", field="kind")
    with store.read() as session:
        carrier_id = carrier_by_code(session, carrier).id
    option = DeliveryOption(
        code=_code(code), kind=kind, name=_name(name), carrier_id=carrier_id,
        price=parse_decimal(price, "price"),
        promised_days=parse_positive_int(promised_days, "promised_days", allow_zero=True), active=True,
    )
    _add(store, option, "delivery option", code)
    return delivery_option_dict(option, carrier)


def delivery_option_dict(o: DeliveryOption, carrier_code: str) -> dict[str, Any]:
    return {
        "code": o.code, "kind": o.kind, "name": o.name, "carrier": carrier_code,
        "price": o.price, "promised_days": o.promised_days,
    }


def list_delivery_options(store: Store) -> list[dict[str, Any]]:
    with store.read() as session:
        rows = session.execute(
            select(DeliveryOption, Carrier.code).join(Carrier, Carrier.id == DeliveryOption.carrier_id)
            .order_by(DeliveryOption.code)
        )
        return [delivery_option_dict(o, c) for o, c in rows]


