"""``backup`` and ``restore``: permission, the backend's own work, the manifest, the report and the
audit row."""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from ops_store.backup.errors import BackupFailed, RestoreRefused
from ops_store.backup.manifest import Progress, read_manifest, verify, write_manifest
from ops_store.backup.postgres import backup_postgres, restore_postgres
from ops_store.backup.sqlite import backup_sqlite, restore_sqlite
from ops_store.db import Store
from ops_store.security import audit
from ops_store.security.access import require
from ops_store.settings import StoreSettings


def backup(store: Store, dest_dir: Path | str | None = None, *, progress: Progress | None = None) -> dict[str, Any]:
    """Write a consistent backup into ``<dest_dir or $ECOM_DATA_DIR/backups>/<UTC timestamp>/``."""
    require("backup.run")
    created = datetime.now(UTC)
    parent = Path(dest_dir) if dest_dir is not None else StoreSettings().data_dir / "backups"
    parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".partial-", dir=parent))
    try:
        if store.backend == "sqlite":
            body = backup_sqlite(store, work, progress)
        elif store.backend == "postgresql":
            body = backup_postgres(store, work, progress)
        else:
            raise BackupFailed(f"backups of a {store.backend} store are not supported", field="backend")
        manifest = write_manifest(work, created, store.backend, body)
        final = _free_name(parent, created.strftime("%Y%m%dT%H%M%SZ"))
        work.rename(final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    report = {
        "path": str(final), "created_at": manifest["created_at"], "backend": store.backend,
        "format": manifest["format"], "revision": manifest["revision"],
        "rows": sum(t["rows"] for t in manifest["tables"].values()),
        "bytes": sum(f["bytes"] for f in manifest["files"].values()),
        "tables": [{"table": k, **v} for k, v in manifest["tables"].items()],
    }
    with store.write() as session:
        audit.record(session, "backup.create", target_type="backup", target_id=final.name,
                     details={k: report[k] for k in ("path", "backend", "format", "revision", "rows")})
    return report


def _free_name(parent: Path, name: str) -> Path:
    candidate, n = parent / name, 1
    while candidate.exists():
        n += 1
        candidate = parent / f"{name}-{n}"
    return candidate


def restore(target: Store, backup_dir: Path | str, *, progress: Progress | None = None) -> dict[str, Any]:
    """Load a backup into an empty store, then prove every table against the manifest."""
    require("backup.run")
    folder = Path(backup_dir)
    manifest = read_manifest(folder)
    if manifest["backend"] != target.backend:
        raise RestoreRefused(f"a {manifest['backend']} backup restores into {manifest['backend']}, "
                             f"not into {target.backend}", field="backend")
    if target.backend == "sqlite":
        restore_sqlite(target, folder)
        with target.engine.connect() as conn:
            tables = verify(conn, None, manifest, progress)
        work = target
    else:
        work = Store(target.url)  # a fresh engine: the schema may only exist from now on
        try:
            schema = restore_postgres(work, folder, manifest)
            with work.engine.connect() as conn:
                tables = verify(conn, schema, manifest, progress)
        except BaseException:
            work.dispose()
            raise
    report = {
        "path": str(folder), "backend": target.backend, "format": manifest["format"],
        "target": make_url(target.url).render_as_string(hide_password=True), "revision": manifest.get("revision"),
        "backup_created_at": manifest.get("created_at"), "rows": sum(t["rows"] for t in tables),
        "tables": tables,
    }
    try:
        with work.write() as session:
            audit.record(session, "backup.restore", target_type="backup", target_id=folder.name,
                         details={k: report[k] for k in ("path", "backend", "format", "revision", "rows")})
    finally:
        if work is not target:
            work.dispose()
    return report
