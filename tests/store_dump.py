"""Everything a store holds, as text, to prove a value is (or is not) stored anywhere."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from ops_store.db import Store


def stored_text(store: Store) -> str:
    """Everything the store holds: raw file bytes on SQLite, every row as JSON on PostgreSQL."""
    store.dispose()  # close pooled connections so nothing is held only in memory
    if store.backend == "sqlite":
        path = Path(make_url(store.url).database or "")
        data = path.read_bytes()
        wal = path.with_name(path.name + "-wal")
        if wal.exists():
            data += wal.read_bytes()
        return data.decode("latin-1")
    with store.engine.connect() as conn:
        tables = conn.execute(text(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        )).scalars().all()
        assert "rejected_requests" in tables and "orders" in tables
        parts = []
        for table in tables:
            rows = conn.execute(text(f'SELECT row_to_json(t)::text FROM "{table}" t')).scalars().all()
            parts.extend(rows)
        return "\n".join(parts)
