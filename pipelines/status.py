"""What `ecom pipeline status` shows, read from the published snapshot (never blocks a run)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pipelines.publish import current_snapshot, open_snapshot
from pipelines.settings import PipelineSettings


def pipeline_status(settings: PipelineSettings | None = None) -> dict[str, Any]:
    settings = settings or PipelineSettings()
    path = current_snapshot(settings)
    con = open_snapshot(settings)
    try:
        tables = [{"table": t, "rows": n, "watermark": str(at or wid or ""), "loaded_at": str(loaded)}
                  for t, n, at, wid, loaded in con.execute(
                      "SELECT w.table_name, t.estimated_size, w.watermark_at, w.watermark_id, w.loaded_at "
                      "FROM meta.watermarks w LEFT JOIN duckdb_tables() t "
                      "ON t.schema_name = 'raw' AND t.table_name = w.table_name ORDER BY 1").fetchall()]
        has_landing = con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'meta' "
                                  "AND table_name = 'quarantine'").fetchone()[0]
        quarantine = [{"source": s, "reason": r, "rows": n} for s, r, n in con.execute(
            "SELECT source, reason, count(*) FROM meta.quarantine GROUP BY ALL ORDER BY 1, 3 DESC").fetchall()
        ] if has_landing else []
    finally:
        con.close()
    published = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    return {"warehouse": str(settings.warehouse_path), "snapshot": str(path),
            "snapshot_published_at": published.isoformat(timespec="seconds"), "tables": tables,
            "quarantined": quarantine}
