"""A real public data set through `ecom import orders`: CDNOW (69,659 purchases, 1997-1998),
converted here into the documented order format, counts and money checked against the source.

Each source row (customer id, date YYYYMMDD, number of CDs, dollar value) becomes an order of one
line of the product CD: quantity = CDs and unit price = dollars / CDs when that division is exact
to the cent, else quantity 1 at the dollar value (so the line total is the dollar value exactly).
Rows of 0 dollars are refused by the import's rules (unit_price must be positive)."""

from __future__ import annotations

import importlib.util
from collections import Counter
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select

from ops_store.importer import import_file
from ops_store.models import Customer, Order, OrderLine
from ops_store.services import catalog


def cdnow_path() -> Path:
    spec = importlib.util.find_spec("lifetimes")
    assert spec is not None and spec.submodule_search_locations, "the lifetimes package ships the CDNOW file"
    return Path(spec.submodule_search_locations[0]) / "datasets" / "CDNOW_master.txt"


def convert(source: Path, target: Path) -> list[tuple[str, Decimal, bool]]:
    """Write the orders CSV; return (customer_ref, dollars, valid) per source row."""
    seen: Counter[tuple[str, str]] = Counter()
    rows = []
    out = ["order_ref,customer_ref,ordered_at,sku,quantity,unit_price"]
    for line in source.read_text().splitlines():
        parts = line.split()
        if len(parts) != 4 or not parts[0].isdigit():
            continue  # the header
        cust, day, cds, dollars = parts[0], parts[1], int(parts[2]), Decimal(parts[3])
        seen[(cust, day)] += 1
        ref = f"CDNOW-{cust}-{day}-{seen[(cust, day)]}"
        cents = int(dollars * 100)
        qty, price = (cds, dollars / cds) if cds and cents % cds == 0 else (1, dollars)
        out.append(f"{ref},CDNOW-{cust},{day[:4]}-{day[4:6]}-{day[6:]},CD,{qty},{price.quantize(Decimal('0.01'))}")
        rows.append((f"CDNOW-{cust}", dollars, cds > 0 and dollars > 0))
    target.write_text("\n".join(out) + "\n")
    return rows


def test_cdnow_round_trip(store, tmp_path):
    catalog.add_merchant(store, "CDNOW", "CDNOW Inc.")
    catalog.add_product(store, "CDNOW", "CD", "Compact disc", "12.00", "6.00", category="music")
    path = tmp_path / "cdnow_orders.csv"
    source = convert(cdnow_path(), path)
    assert len(source) == 69_659

    result = import_file(store, "orders", path, merchant="CDNOW")
    valid = [r for r in source if r[2]]
    assert result.accepted == len(valid) and result.rejected == len(source) - len(valid) == 80
    assert result.skipped == 0
    with store.read() as session:
        orders = session.scalar(select(func.count()).select_from(Order))
        customers = session.scalar(select(func.count()).select_from(Customer))
        total = session.scalar(select(func.sum(Order.total)))
        lines = session.scalar(select(func.sum(OrderLine.line_total)))
    assert orders == len(valid)
    assert customers == len({r[0] for r in valid})
    money = sum((r[1] for r in valid), Decimal("0"))
    assert Decimal(total) == Decimal(lines) == money  # to the cent

    again = import_file(store, "orders", path, merchant="CDNOW")
    assert (again.accepted, again.skipped, again.rejected) == (0, len(valid), 80)
