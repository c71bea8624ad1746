"""Rows in memory, column by column, before they get ids: a Frame names its table and, per
column, how to turn the simulator's numbers into stored values (cents, costs, seconds, days,
references to another frame's local row numbers)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

# kinds: raw | cents (int -> Money) | cost (int 1/10000 -> UnitCost) | t (seconds) | day (day index) |
#        ref:<table> (local row number in that table, -1 = NULL) | dec:<places> (int scaled)
Column = tuple[str, Any]


@dataclass
class Frame:
    table: str
    columns: dict[str, Column] = field(default_factory=dict)
    has_id: bool = True

    def __len__(self) -> int:
        for _kind, values in self.columns.values():
            if isinstance(values, np.ndarray | list):
                return len(values)
        return 0

    def add(self, name: str, values: Any, kind: str = "raw") -> Frame:
        self.columns[name] = (kind, values)
        return self
