"""The dashboards read the published marts (and the pipeline's meta tables on the data health
page), never the warehouse's inner layers: raw, staging and intermediate relations are the
pipeline's own and may change shape with any model (ARCHITECTURE.md, dashboards/)."""

from __future__ import annotations

import re
from pathlib import Path

DASHBOARDS = Path(__file__).resolve().parents[1] / "dashboards"
INNER = re.compile(r"\b(?:raw|staging|intermediate)\.[a-z_]+\b")


def test_no_page_reads_an_inner_layer_of_the_warehouse() -> None:
    found = {f"{path.relative_to(DASHBOARDS)}: {match}"
             for path in DASHBOARDS.rglob("*.py") for match in INNER.findall(path.read_text())}
    assert not found, f"read marts.* instead (add a mart when a page needs more): {sorted(found)}"
    assert any("marts." in path.read_text() for path in DASHBOARDS.rglob("*.py"))  # the scan reads the pages
