"""File import of a merchant's own history: products, customers, stock receipts, past orders.

``import_file`` reads a CSV or Parquet file, validates every row with vectorised checks, writes
the valid rows through the bulk writer and the refused ones to the quarantine (table
``rejected_requests`` with kind ``import:<entity>``) in ONE transaction: a killed import leaves
nothing behind, and a re-run skips what an earlier run imported. The rejects also go to
``<input>.rejects.csv``. Documented in docs/import.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ops_store.db import Store
from ops_store.errors import InvalidInput
from ops_store.importer import common, customers, orders, products, stock
from ops_store.importer.common import ImportResult, Reporter, SilentReporter
from ops_store.security import access, audit
from ops_store.security.masking import mask_email, mask_name, mask_phone

ENTITIES: dict[str, Any] = {"products": products, "customers": customers, "stock": stock, "orders": orders}
PERMISSIONS = {"products": "catalog.write", "customers": "customers.write", "stock": "stock.write",
               "orders": "orders.write"}
REFERENCE = {"products": "sku", "customers": "customer_ref", "stock": "sku", "orders": "order_ref"}
# Personal data is not kept in clear in the quarantine table (the rejects file is the merchant's own).
MASKS = {"customers": {"name": mask_name, "email": mask_email, "phone": mask_phone}}

__all__ = ["ENTITIES", "ImportResult", "Reporter", "import_file"]


def import_file(store: Store, entity: str, path: str | Path, *, merchant: str | None = None,
                reporter: Reporter | None = None) -> ImportResult:
    if entity not in ENTITIES:
        raise InvalidInput(f"entity must be one of {', '.join(ENTITIES)}", field="entity")
    access.require(PERMISSIONS[entity])
    reporter = reporter or SilentReporter()
    file = Path(path)
    module = ENTITIES[entity]
    reporter.start("read", 1)
    frame = common.read_table(file, module.COLUMNS, module.REQUIRED)
    reporter.advance(1)
    extra: dict[str, Any] = {"cipher": store.cipher} if entity == "customers" else {}

    def work(session):  # type: ignore[no-untyped-def]
        accepted, skipped, rejects, details = module.run(session, frame, merchant=merchant, path=file,
                                                         reporter=reporter, **extra)
        reporter.start("quarantine", rejects.height)
        common.quarantine(session.connection(), entity, file, rejects, reference=REFERENCE[entity],
                          mask=MASKS.get(entity))
        reporter.advance(rejects.height)
        audit.record(session, f"import.{entity}", target_type="file", target_id=file.name[:64], details={
            "accepted": accepted, "rejected": rejects.height, "skipped": skipped, **details})
        return accepted, skipped, rejects, details

    with store.write() as session:
        accepted, skipped, rejects, details = work(session)
    result = ImportResult(entity, str(file), accepted=accepted, rejected=rejects.height, skipped=skipped,
                          details=details)
    result.rejects_file = common.write_rejects_file(file, rejects)
    result.details["reasons"] = common.reasons_summary(rejects)
    return result
