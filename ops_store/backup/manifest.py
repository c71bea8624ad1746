"""What a backup holds and how a store is proven against it: the file names, the table list, the
table and file checksums, and the manifest that records them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, column, func, inspect, literal_column, select, table, text

from ops_store.backup.errors import BackupInvalid, RestoreRefused
from ops_store.models import Base

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SQLITE_FILE = "store.sqlite"
PG_DUMP_FILE = "store.dump"
COPY_DIR = "tables"
SEQUENCES_FILE = "sequences.json"

Progress = Callable[[str, dict[str, Any]], None]


# --------------------------------------------------------------------------- tables


def existing_tables(conn: Connection, schema: str | None) -> list[str]:
    if conn.dialect.name == "sqlite":
        return inspect(conn).get_table_names()
    rows = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = :s"), {"s": schema})
    return [r[0] for r in rows]


def _backup_tables(conn: Connection, schema: str | None) -> list[str]:
    """The model's tables in dependency order, alembic_version, then any other table found."""
    existing = set(existing_tables(conn, schema))
    names = [t.name for t in Base.metadata.sorted_tables if t.name in existing]
    if "alembic_version" in existing:
        names.append("alembic_version")
    return names + sorted(existing - set(names))


def refuse_rows(conn: Connection, schema: str | None) -> list[str]:
    """Refuse when any table holds a row (naming them); return the tables there are."""
    names = existing_tables(conn, schema)
    full = []
    for name in names:
        count = conn.scalar(select(func.count()).select_from(table(name, schema=schema)))
        if count:
            full.append(f"{name} has {count} row{'s' if count != 1 else ''}")
    if full:
        where = f" (schema {schema})" if schema else ""
        raise RestoreRefused(
            f"the target store{where} is not empty: {', '.join(full)}; restore into a new database "
            "or file (do not run `ecom db upgrade` on it first)", field="target", details={"tables": full},
        )
    return names


# --------------------------------------------------------------------------- checksums


def _plain(value: Any) -> str:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)  # Decimal, date, datetime, time, UUID ...


def _canonical(values: Any) -> bytes:
    return json.dumps(values, default=_plain, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def table_digest(conn: Connection, name: str, schema: str | None = None) -> dict[str, Any]:
    """Row count and sha256 over the column names, then the rows ordered by primary key."""
    insp = inspect(conn)
    key = insp.get_pk_constraint(name, schema=schema).get("constrained_columns") or [
        c["name"] for c in insp.get_columns(name, schema=schema)
    ]
    result = conn.execute(
        select(literal_column("*")).select_from(table(name, schema=schema)).order_by(*(column(c) for c in key))
    )
    digest = hashlib.sha256(_canonical(list(result.keys())) + b"\n")
    rows = 0
    for row in result:
        digest.update(_canonical(list(row)) + b"\n")
        rows += 1
    return {"rows": rows, "sha256": digest.hexdigest()}


def digests(conn: Connection, schema: str | None, progress: Progress | None) -> dict[str, dict[str, Any]]:
    """Every table's digest (see ``_backup_tables`` for the order), as the manifest records them."""
    out: dict[str, dict[str, Any]] = {}
    for name in _backup_tables(conn, schema):
        out[name] = table_digest(conn, name, schema)
        if progress:
            progress(name, out[name])
    return out


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- the manifest


def write_manifest(work: Path, created: datetime, backend: str, body: dict[str, Any]) -> dict[str, Any]:
    """Write ``manifest.json`` into ``work``, listing every file there with its size and sha256."""
    manifest = {
        "format_version": FORMAT_VERSION, "created_at": created.isoformat(), "backend": backend,
        **body,
        "files": {p.relative_to(work).as_posix(): {"bytes": p.stat().st_size, "sha256": file_sha256(p)}
                  for p in sorted(work.rglob("*")) if p.is_file()},
    }
    (work / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_manifest(backup_dir: Path | str) -> dict[str, Any]:
    """The backup's manifest, after checking every data file against it."""
    folder = Path(backup_dir)
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        files, tables, kind = manifest["files"], manifest["tables"], manifest["format"]
        if not isinstance(files, dict) or not isinstance(tables, dict) or manifest["backend"] not in (
                "sqlite", "postgresql"):
            raise ValueError("unexpected content")
    except FileNotFoundError:
        raise BackupInvalid(f"{folder} is not a backup: it has no {MANIFEST}", field="backup_dir") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupInvalid(f"{folder / MANIFEST} is unreadable: {exc}", field="manifest") from None
    needed = {"sqlite": [SQLITE_FILE], "pg_dump": [PG_DUMP_FILE],
              "copy": [SEQUENCES_FILE, *(f"{COPY_DIR}/{t}.copy" for t in tables)]}.get(kind)
    if needed is None:
        raise BackupInvalid(f"{folder / MANIFEST} names an unknown format {kind!r}", field="manifest")
    for name in needed:
        if name not in files:
            raise BackupInvalid(f"the manifest does not list the backup file {name}", field=name)
    for name, expected in files.items():
        path = folder / name
        if not path.is_file():
            raise BackupInvalid(f"backup file {name} is missing", field=name)
        if file_sha256(path) != expected.get("sha256"):
            raise BackupInvalid(f"backup file {name} is damaged: its sha256 does not match the manifest", field=name)
    return manifest


def verify(conn: Connection, schema: str | None, manifest: dict[str, Any],
           progress: Progress | None) -> list[dict[str, Any]]:
    """Recompute every table the manifest lists and compare; a difference names the table."""
    existing = set(existing_tables(conn, schema))
    checked = []
    for name, expected in manifest["tables"].items():
        if name not in existing:
            raise BackupInvalid(f"table {name} is missing after the restore", field=name)
        got = table_digest(conn, name, schema)
        if got != {"rows": expected.get("rows"), "sha256": expected.get("sha256")}:
            raise BackupInvalid(
                f"table {name} does not match the backup's manifest after the restore "
                f"(rows {got['rows']}, manifest {expected.get('rows')}; checksum "
                f"{'equal' if got['sha256'] == expected.get('sha256') else 'differs'}); "
                "the target now holds data that failed verification: do not use it",
                field=name, details={"table": name, "restored": got, "manifest": expected},
            )
        checked.append({"table": name, **got, "verified": True})
        if progress:
            progress(name, got)
    return checked
