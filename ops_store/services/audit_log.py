"""Reading the audit log (admins only). Nothing in the product writes to it except appends."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from ops_store.db import Store
from ops_store.models import AuditEntry
from ops_store.security import access


def list_audit(
    store: Store, *, action: str | None = None, target_id: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    access.require("audit.read")
    with store.read() as session:
        query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        if action:
            query = query.where(AuditEntry.action == action)
        if target_id is not None:
            query = query.where(AuditEntry.target_id == str(target_id))
        return [
            {
                "id": e.id,
                "at": e.at,
                "actor": e.actor,
                "action": e.action,
                "target_type": e.target_type,
                "target_id": e.target_id,
                "details": json.loads(e.details) if e.details else None,
            }
            for e in session.scalars(query)
        ]
