"""Backup and restore of the operational store, each proven against a manifest.

A backup is a folder ``<dest>/<UTC timestamp>/`` (default dest: ``$ECOM_DATA_DIR/backups``) with the
data file(s) and ``manifest.json``: when, which backend, the schema revision, the sha256 of every
data file, and for every table its row count and a checksum of its rows (ordered by primary key,
each row serialised canonically). The checksums are computed from the very snapshot that was
written, so they describe the store at the moment of the backup, whatever was written meanwhile:

- SQLite: the online backup API copies the database in one step (one read transaction; writers
  carry on in WAL mode); the manifest is then computed from the copy itself.
- PostgreSQL: a REPEATABLE READ READ ONLY transaction exports its snapshot; ``pg_dump
  --snapshot`` (custom format, the store's schema only) dumps exactly that snapshot while the
  checksums are computed inside the same transaction. Without the client tools, the same
  transaction writes every table with COPY (a "copy" backup).

``restore`` refuses a target that holds any row, loads the backup, recomputes every table's count
and checksum and compares them with the manifest; a mismatch names the table. A SQLite backup
restores into SQLite, a PostgreSQL backup into PostgreSQL (into the schema the target URL selects
with ``?options=-csearch_path=<schema>``, else ``public``).

The package: ``operations`` (``backup``, ``restore``), ``manifest`` (file names, table list,
checksums, the manifest), ``sqlite`` and ``postgres`` (each backend's copy out and back in),
``errors``.
"""

from ops_store.backup.errors import BackupFailed, BackupInvalid, RestoreRefused
from ops_store.backup.manifest import (
    COPY_DIR,
    FORMAT_VERSION,
    MANIFEST,
    PG_DUMP_FILE,
    SEQUENCES_FILE,
    SQLITE_FILE,
    Progress,
    read_manifest,
    table_digest,
)
from ops_store.backup.operations import backup, restore

__all__ = [
    "COPY_DIR", "FORMAT_VERSION", "MANIFEST", "PG_DUMP_FILE", "SEQUENCES_FILE", "SQLITE_FILE",
    "BackupFailed", "BackupInvalid", "Progress", "RestoreRefused",
    "backup", "read_manifest", "restore", "table_digest",
]
