"""The append-only audit log of sensitive actions (the database refuses updates and deletes)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from ops_store.models import AuditEntry
from ops_store.security.access import current

# Actions recorded: pii.read (a clear view), pii.export, pii.erase, payments.refund, users.*,
# keys.*, stock.adjust, keys.rotate, backup.*, ...


def record(session: Session, action: str, *, target_type: str | None = None, target_id: Any = None,
           details: dict[str, Any] | None = None, actor: str | None = None) -> None:
    """Add an audit row inside the caller's unit of work (so it commits with the action)."""
    session.add(AuditEntry(
        actor=(actor or current().name)[:100], action=action, target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        details=json.dumps(details, sort_keys=True, default=str) if details else None,
    ))
