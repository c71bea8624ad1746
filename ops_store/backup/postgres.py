"""Backup and restore of a PostgreSQL store: pg_dump of one exported snapshot (or COPY of every
table in that snapshot without the client tools), and pg_restore (or migrations and COPY) back into
the schema the target URL selects."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from contextlib import closing
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, table, text
from sqlalchemy.engine import make_url

from ops_store.backup.errors import BackupFailed, BackupInvalid, RestoreRefused
from ops_store.backup.manifest import (
    COPY_DIR,
    PG_DUMP_FILE,
    SEQUENCES_FILE,
    Progress,
    digests,
    existing_tables,
    refuse_rows,
)
from ops_store.db import Store
from ops_store.migrate import revision_of, upgrade

# --------------------------------------------------------------------------- connection


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


# --------------------------------------------------------------------------- backup


def backup_postgres(store: Store, work: Path, progress: Progress | None) -> dict[str, Any]:
    pg_dump = shutil.which("pg_dump")
    with store.engine.connect() as conn:
        conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with conn.begin():
            schema = _pg_schema(conn, store.url)
            snapshot = conn.scalar(text("SELECT pg_export_snapshot()"))
            body: dict[str, Any] = {"schema": schema, "server_version": conn.scalar(text("SHOW server_version"))}
            if pg_dump is None:
                body["tables"] = digests(conn, schema, progress)
                _copy_out(conn, schema, list(body["tables"]), work)
                return {"format": "copy", "revision": revision_of(conn, schema), **body}
            args, env = _pg_cli(store.url)
            quoted = '"' + schema.replace('"', '""') + '"'
            command = [pg_dump, *args, "--format=custom", f"--snapshot={snapshot}", "--schema", quoted,
                       "--file", str(work / PG_DUMP_FILE)]
            with tempfile.TemporaryFile() as errors:
                proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=errors)
                try:  # the checksums come from the same snapshot, while pg_dump reads it
                    body["tables"] = digests(conn, schema, progress)
                    body["revision"] = revision_of(conn, schema)
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


def restore_postgres(work: Store, folder: Path, manifest: dict[str, Any]) -> str:
    """Restore into the target's schema; returns it."""
    with work.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        schema = _pg_schema(conn, work.url)
        if _pg_schema_exists(conn, schema):
            refuse_rows(conn, schema)
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
                    refuse_rows(tx, schema)  # still empty
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
        if existing_tables(conn, schema):  # empty tables of another schema version: start afresh
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
