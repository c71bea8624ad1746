"""Where each order line is reserved: the allocation rule (docs/allocation.md).

Warehouses are tried in this order: the merchant's preferred warehouse, then the others by
priority (lower first), then by code.
1. If one warehouse can cover every line of the order, the whole order goes there (one parcel).
2. Otherwise each line goes to the first warehouse that covers the whole line.
3. Otherwise the line is split across warehouses in that order.
A line that all warehouses together cannot cover is a shortage, and the order is refused whole.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Demand:
    line: int  # the line's position in the order
    product_id: int
    quantity: int


@dataclass(frozen=True)
class Allocation:
    line: int
    product_id: int
    warehouse_id: int
    quantity: int


@dataclass(frozen=True)
class Shortage:
    line: int
    product_id: int
    requested: int
    available: int


def allocate(
    demands: list[Demand], available: dict[tuple[int, int], int], warehouse_order: list[int]
) -> tuple[list[Allocation], list[Shortage]]:
    """Pure allocation: ``available`` maps (product, warehouse) to units free to reserve."""
    free = {key: max(0, qty) for key, qty in available.items()}
    shortages = [
        Shortage(d.line, d.product_id, d.quantity, total)
        for d in demands
        if (total := sum(free.get((d.product_id, w), 0) for w in warehouse_order)) < d.quantity
    ]
    if shortages:
        return [], shortages

    for w in warehouse_order:
        if all(free.get((d.product_id, w), 0) >= d.quantity for d in demands):
            return [Allocation(d.line, d.product_id, w, d.quantity) for d in demands], []

    allocations: list[Allocation] = []
    for d in demands:
        whole = next((w for w in warehouse_order if free.get((d.product_id, w), 0) >= d.quantity), None)
        if whole is not None:
            free[(d.product_id, whole)] -= d.quantity
            allocations.append(Allocation(d.line, d.product_id, whole, d.quantity))
            continue
        remaining = d.quantity
        for w in warehouse_order:
            take = min(remaining, free.get((d.product_id, w), 0))
            if take > 0:
                free[(d.product_id, w)] -= take
                allocations.append(Allocation(d.line, d.product_id, w, take))
                remaining -= take
            if remaining == 0:
                break
    return allocations, []
