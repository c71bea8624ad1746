"""What `ecom pipeline status` shows, read from the published snapshot (never blocks a run)."""

from __future__ import annotations

from typing import Any

import duckdb

from pipelines.publish import open_snapshot, published
from pipelines.settings import PipelineSettings
from pipelines.warehouse import describe


def pipeline_status(settings: PipelineSettings | None = None) -> dict[str, Any]:
    settings = settings or PipelineSettings()
    current = published(settings)
    con = open_snapshot(settings)
    try:
        tables = [{"table": t, "rows": n, "watermark": str(at or wid or ""), "loaded_at": str(loaded)}
                  for t, n, at, wid, loaded in con.execute(
                      "SELECT w.table_name, t.estimated_size, w.watermark_at, w.watermark_id, w.loaded_at "
                      "FROM meta.watermarks w LEFT JOIN duckdb_tables() t "
                      "ON t.schema_name = 'raw' AND t.table_name = w.table_name ORDER BY 1").fetchall()]
        has_landing = con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'meta' "
                                  "AND table_name = 'quarantine'").fetchone()[0]
        # the files each reason was found in (a few; a clickstream file with its day's folder), so a
        # whole file turned away is named
        quarantine = [{"source": s, "reason": r, "rows": n, "files": files} for s, r, n, files in con.execute(
            "SELECT source, reason, count(*), list(DISTINCT name ORDER BY name)[:5] FROM ("
            "  SELECT source, reason, CASE WHEN source = 'events' THEN coalesce(nullif(regexp_extract("
            "    file, '[^/]+/[^/]+$'), ''), file) ELSE parse_filename(file) END AS name FROM meta.quarantine) "
            "GROUP BY source, reason ORDER BY 1, 3 DESC").fetchall()
        ] if has_landing else []
        replaced = _replaced_files(con) if has_landing else []
    finally:
        con.close()
    return {"warehouse": describe(settings), "snapshot": current.ref,
            "snapshot_published_at": current.published_at.isoformat(timespec="seconds"), "tables": tables,
            "quarantined": quarantine, "landing_files_replaced": replaced}


def _replaced_files(con: Any) -> list[dict[str, Any]]:
    """Landing files delivered again under the same name with other content (the new content
    replaced the old), newest first."""
    try:
        rows = con.execute("SELECT source, partition_key, file, loaded_at FROM meta.landing_files "
                           "WHERE replaced_sha256 IS NOT NULL ORDER BY loaded_at DESC LIMIT 50").fetchall()
    except duckdb.BinderException:  # a snapshot from before the column existed
        return []
    return [{"source": s, "partition": p, "file": f, "loaded_at": str(at),
             "reason": "delivered again with other content: the new content replaced the old"}
            for s, p, f, at in rows]
