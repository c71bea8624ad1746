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
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, column, create_engine, func, inspect, literal_column, select, table, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from ops_store.db import Store
from ops_store.errors import DomainError
from ops_store.migrate import upgrade
from ops_store.models import Base
from ops_store.security import audit
from ops_store.security.access import require
from ops_store.settings import StoreSettings

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SQLITE_FILE = "store.sqlite"
PG_DUMP_FILE = "store.dump"
COPY_DIR = "tables"
SEQUENCES_FILE = "sequences.json"

Progress = Callable[[str, dict[str, Any]], None]


class BackupFailed(DomainError):
    code = "backup_failed"


class BackupInvalid(DomainError):
    """The backup folder is incomplete, damaged, or does not match its manifest."""

    code = "backup_invalid"


class RestoreRefused(DomainError):
    code = "restore_refused"


# --------------------------------------------------------------------------- checksums


def _plain(value: Any) -> str:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)  # Decimal, date, datetime, time, UUID ...


def _canonical(values: Any) -> bytes:
    return json.dumps(values, default=_plain, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def _existing_tables(conn: Connection, schema: str | None) -> list[str]:
    if conn.dialect.name == "sqlite":
        return inspect(conn).get_table_names()
    rows = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = :s"), {"s": schema})
    return [r[0] for r in rows]


def _backup_tables(conn: Connection, schema: str | None) -> list[str]:
    """The model's tables in dependency order, alembic_version, then any other table found."""
    existing = set(_existing_tables(conn, schema))
    names = [t.name for t in Base.metadata.sorted_tables if t.name in existing]
    if "alembic_version" in existing:
        names.append("alembic_version")
    return names + sorted(existing - set(names))


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


def _digests(conn: Connection, schema: str | None, progress: Progress | None) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name in _backup_tables(conn, schema):
        out[name] = table_digest(conn, name, schema)
        if progress:
            progress(name, out[name])
    return out


def _revision(conn: Connection, schema: str | None) -> str | None:
    """ops_store.migrate.current_revision, read on this connection (i.e. in the snapshot)."""
    return MigrationContext.configure(conn, opts={"version_table_schema": schema}).get_current_revision()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- backup


def backup(store: Store, dest_dir: Path | str | None = None, *, progress: Progress | None = None) -> dict[str, Any]:
    """Write a consistent backup into ``<dest_dir or $ECOM_DATA_DIR/backups>/<UTC timestamp>/``."""
    require("backup.run")
    created = datetime.now(UTC)
    parent = Path(dest_dir) if dest_dir is not None else StoreSettings().data_dir / "backups"
    parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".partial-", dir=parent))
    try:
        if store.backend == "sqlite":
            body = _backup_sqlite(store, work, progress)
        elif store.backend == "postgresql":
            body = _backup_postgres(store, work, progress)
        else:
            raise BackupFailed(f"backups of a {store.backend} store are not supported", field="backend")
        manifest = {
            "format_version": FORMAT_VERSION, "created_at": created.isoformat(), "backend": store.backend,
            **body,
            "files": {p.relative_to(work).as_posix(): {"bytes": p.stat().st_size, "sha256": _file_sha256(p)}
                      for p in sorted(work.rglob("*")) if p.is_file()},
        }
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
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


def _sqlite_path(store: Store) -> Path:
    database = make_url(store.url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise BackupFailed("only a SQLite store in a file can be backed up or restored", field="url")
    return Path(database)


@contextmanager
def _sqlite_file(path: Path, *, read_only: bool) -> Iterator[Connection]:
    """A SQLAlchemy connection on a SQLite file as it is (no WAL switch, no pool)."""
    uri = path.resolve().as_uri() + ("?mode=ro" if read_only else "")
    engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def _backup_sqlite(store: Store, work: Path, progress: Progress | None) -> dict[str, Any]:
    _sqlite_path(store)
    target = work / SQLITE_FILE
    raw = store.engine.raw_connection()
    try:
        with closing(sqlite3.connect(target)) as dst:
            raw.driver_connection.backup(dst)  # one step: one read transaction, a consistent copy
            dst.execute("PRAGMA journal_mode=DELETE")  # a self-contained single file
    finally:
        raw.close()
    with _sqlite_file(target, read_only=True) as conn:
        check = conn.exec_driver_sql("PRAGMA quick_check").scalar()
        if check != "ok":
            raise BackupFailed(f"the copy failed its integrity check: {check}")
        return {"format": "sqlite", "revision": _revision(conn, None), "tables": _digests(conn, None, progress)}


# --------------------------------------------------------------------------- PostgreSQL helpers


def _pg_schema(conn: Connection | None, url: str) -> str:
    """The store's schema: the first search_path entry of the URL's options, else current_schema()."""
    options = make_url(url).query.get("options") or ""
    options = " ".join(options) if isinstance(options, tuple) else options
    match = re.search(r"search_path\s*=\s*(\S+)", options.replace("\\,", ","))
    if match:
        first = match.group(1).split(",")[0].strip().strip('"')
        if first and first != "$user":
            return first
    current = conn.scalar(text("SELECT current_schema()")) if conn is not None else None
    return current or "public"


def _pg_cli(url: str) -> tuple[list[str], dict[str, str]]:
    """Connection arguments for pg_dump/pg_restore from the store URL (password in PGPASSWORD)."""
    u = make_url(url)
    args = ["-w"]
    host = u.host or u.query.get("host")
    if host:
        args += ["-h", str(host)]
    if u.port:
        args += ["-p", str(u.port)]
    if u.username:
        args += ["-U", u.username]
    env = dict(os.environ)
    env.pop("PGOPTIONS", None)
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    for key in ("sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout"):
        if key in u.query:
            env[f"PG{key.upper()}"] = str(u.query[key])
    return args + ["-d", u.database or "postgres"], env


def _pg_ident(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote_identifier(name)


def _pg_schema_exists(conn: Connection, schema: str) -> bool:
    return bool(conn.scalar(text("SELECT count(*) FROM pg_namespace WHERE nspname = :s"), {"s": schema}))


# --------------------------------------------------------------------------- PostgreSQL backup


def _backup_postgres(store: Store, work: Path, progress: Progress | None) -> dict[str, Any]:
    pg_dump = shutil.which("pg_dump")
    with store.engine.connect() as conn:
        conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with conn.begin():
            schema = _pg_schema(conn, store.url)
            snapshot = conn.scalar(text("SELECT pg_export_snapshot()"))
            body: dict[str, Any] = {"schema": schema, "server_version": conn.scalar(text("SHOW server_version"))}
            if pg_dump is None:
                body["tables"] = _digests(conn, schema, progress)
                _copy_out(conn, schema, list(body["tables"]), work)
                return {"format": "copy", "revision": _revision(conn, schema), **body}
            args, env = _pg_cli(store.url)
            quoted = '"' + schema.replace('"', '""') + '"'
            command = [pg_dump, *args, "--format=custom", f"--snapshot={snapshot}", "--schema", quoted,
                       "--file", str(work / PG_DUMP_FILE)]
            with tempfile.TemporaryFile() as errors:
                proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=errors)
                try:  # the checksums come from the same snapshot, while pg_dump reads it
                    body["tables"] = _digests(conn, schema, progress)
                    body["revision"] = _revision(conn, schema)
                except BaseException:
                    proc.kill()
                    proc.wait()
                    raise
                if proc.wait() != 0:
                    errors.seek(0)
                    raise BackupFailed(f"pg_dump failed: {errors.read().decode(errors='replace').strip()}")
            return {"format": "pg_dump", **body}


def _copy_out(conn: Connection, schema: str, tables: list[str], work: Path) -> None:
    from psycopg import sql

    folder = work / COPY_DIR
    folder.mkdir()
    cursor = conn.connection.driver_connection.cursor()
    with closing(cursor):
        for name in tables:
            with (folder / f"{name}.copy").open("wb") as out, \
                    cursor.copy(sql.SQL("COPY {} TO STDOUT").format(sql.Identifier(schema, name))) as copy:
                for chunk in copy:
                    out.write(chunk)
        cursor.execute("SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = %s", (schema,))
        sequences = {name: value for name, value in cursor.fetchall()}
    (work / SEQUENCES_FILE).write_text(json.dumps(sequences, sort_keys=True, indent=2) + "\n")


# --------------------------------------------------------------------------- restore


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
        if _file_sha256(path) != expected.get("sha256"):
            raise BackupInvalid(f"backup file {name} is damaged: its sha256 does not match the manifest", field=name)
    return manifest


def restore(target: Store, backup_dir: Path | str, *, progress: Progress | None = None) -> dict[str, Any]:
    """Load a backup into an empty store, then prove every table against the manifest."""
    require("backup.run")
    folder = Path(backup_dir)
    manifest = read_manifest(folder)
    if manifest["backend"] != target.backend:
        raise RestoreRefused(f"a {manifest['backend']} backup restores into {manifest['backend']}, "
                             f"not into {target.backend}", field="backend")
    if target.backend == "sqlite":
        _restore_sqlite(target, folder)
        with target.engine.connect() as conn:
            tables = _verify(conn, None, manifest, progress)
        work = target
    else:
        work = Store(target.url)  # a fresh engine: the schema may only exist from now on
        try:
            schema = _restore_postgres(work, folder, manifest)
            with work.engine.connect() as conn:
                tables = _verify(conn, schema, manifest, progress)
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


def _verify(conn: Connection, schema: str | None, manifest: dict[str, Any],
            progress: Progress | None) -> list[dict[str, Any]]:
    existing = set(_existing_tables(conn, schema))
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


def _refuse_rows(conn: Connection, schema: str | None) -> list[str]:
    """Refuse when any table holds a row (naming them); return the tables there are."""
    names = _existing_tables(conn, schema)
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


def _restore_sqlite(target: Store, folder: Path) -> None:
    path = _sqlite_path(target)
    if path.exists() and path.stat().st_size:
        with _sqlite_file(path, read_only=True) as conn:
            _refuse_rows(conn, None)
    target.engine.dispose()
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect((folder / SQLITE_FILE).resolve().as_uri() + "?mode=ro", uri=True)) as src, \
            closing(sqlite3.connect(path, timeout=60)) as dst:
        src.backup(dst)


def _restore_postgres(work: Store, folder: Path, manifest: dict[str, Any]) -> str:
    """Restore into the target's schema; returns it."""
    with work.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        schema = _pg_schema(conn, work.url)
        if _pg_schema_exists(conn, schema):
            _refuse_rows(conn, schema)
        conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {_pg_ident(conn, schema)}"))
    if manifest["format"] == "copy":
        _copy_in(work, folder, manifest, schema)
    else:
        _pg_restore(work, folder / PG_DUMP_FILE, manifest.get("schema") or "public", schema)
    return schema


def _schema_objects(conn: Connection, schema: str) -> int:
    return int(conn.scalar(text(
        "SELECT (SELECT count(*) FROM pg_class c WHERE c.relnamespace = n.oid)"
        " + (SELECT count(*) FROM pg_proc p WHERE p.pronamespace = n.oid)"
        " + (SELECT count(*) FROM pg_type t WHERE t.typnamespace = n.oid) FROM pg_namespace n WHERE n.nspname = :s"
    ), {"s": schema}) or 0)


def _pg_restore(work: Store, dump: Path, source_schema: str, schema: str) -> None:
    """pg_restore (whose archive names the source schema) and, when the target's schema has
    another name, restore under the source's name and rename it. An empty schema of the source's
    name in the target database (``public`` of a new database) is parked meanwhile and put back."""
    pg_restore = shutil.which("pg_restore")
    if pg_restore is None:
        raise RestoreRefused("this backup was made with pg_dump; restoring it needs pg_restore on the PATH")
    listing = subprocess.run([pg_restore, "--list", str(dump)], capture_output=True, text=True, check=False)
    if listing.returncode != 0:
        raise BackupInvalid(f"pg_restore cannot read {dump.name}: {listing.stderr.strip()}", field=dump.name)
    # The schema itself already exists (or is created here): leave its own entries out.
    entries = [line for line in listing.stdout.splitlines()
               if not re.match(r"^\d+; \d+ \d+ (SCHEMA - |(COMMENT|ACL) - SCHEMA )", line)]
    renamed = source_schema != schema
    parked: str | None = None
    with work.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")

        def q(name: str) -> str:
            return _pg_ident(conn, name)

        if renamed:
            if _pg_schema_exists(conn, source_schema):
                if _schema_objects(conn, source_schema):
                    raise RestoreRefused(
                        f"the backup was taken from schema {source_schema}, which exists and is in use in the "
                        f"target database; restore into a database without it, or into schema {source_schema}",
                        field="target")
                parked = f"ecom_parked_{os.urandom(6).hex()}"
                conn.execute(text(f"ALTER SCHEMA {q(source_schema)} RENAME TO {q(parked)}"))
            conn.execute(text(f"CREATE SCHEMA {q(source_schema)}"))
        try:
            with tempfile.NamedTemporaryFile("w", suffix=".list") as toc:
                toc.write("\n".join(entries) + "\n")
                toc.flush()
                args, env = _pg_cli(work.url)
                done = subprocess.run(
                    [pg_restore, *args, "--no-owner", "--no-acl", "--clean", "--if-exists", "--single-transaction",
                     "--exit-on-error", "--use-list", toc.name, str(dump)],
                    capture_output=True, text=True, env=env, check=False,
                )
            if done.returncode != 0:
                raise BackupInvalid(f"pg_restore failed: {done.stderr.strip()}", field=dump.name)
            if renamed:
                with work.engine.begin() as tx:  # one transaction: the target schema is replaced, or not
                    _refuse_rows(tx, schema)  # still empty
                    tx.execute(text(f"DROP SCHEMA {q(schema)} CASCADE"))
                    tx.execute(text(f"ALTER SCHEMA {q(source_schema)} RENAME TO {q(schema)}"))
        except BaseException:
            if renamed:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {q(source_schema)} CASCADE"))
            raise
        finally:
            if parked:
                conn.execute(text(f"ALTER SCHEMA {q(parked)} RENAME TO {q(source_schema)}"))


def _copy_in(work: Store, folder: Path, manifest: dict[str, Any], schema: str) -> None:
    """A "copy" backup: the schema by migrations to the backup's revision, then the rows by COPY."""
    from psycopg import sql

    with work.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        if _existing_tables(conn, schema):  # empty tables of another schema version: start afresh
            conn.execute(text(f"DROP SCHEMA {_pg_ident(conn, schema)} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {_pg_ident(conn, schema)}"))
    upgrade(work, manifest.get("revision") or "head")
    sequences = json.loads((folder / SEQUENCES_FILE).read_text())
    with work.engine.begin() as conn:
        for name in reversed(list(manifest["tables"])):  # rows the migrations seeded
            conn.execute(table(name, schema=schema).delete())
        cursor = conn.connection.driver_connection.cursor()
        with closing(cursor):
            for name in manifest["tables"]:
                with (folder / COPY_DIR / f"{name}.copy").open("rb") as src, \
                        cursor.copy(sql.SQL("COPY {} FROM STDIN").format(sql.Identifier(schema, name))) as copy:
                    for chunk in iter(lambda: src.read(1 << 20), b""):  # noqa: B023 - used at once
                        copy.write(chunk)
            for name, value in sequences.items():
                if value is not None:
                    cursor.execute("SELECT setval(%s::regclass, %s, true)",
                                   (sql.Identifier(schema, name).as_string(cursor), value))
