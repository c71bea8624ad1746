"""Schema migrations (Alembic), callable from the CLI and from tests."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from ops_store.db import Store

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(store: Store, revision: str = "head") -> str:
    """Bring the store's schema to ``revision``; returns the revision now current."""
    cfg = alembic_config(store.url)
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    return current_revision(store) or "base"


def current_revision(store: Store) -> str | None:
    with store.engine.connect() as conn:
        return revision_of(conn)


def revision_of(connection: Connection, schema: str | None = None) -> str | None:
    """The revision recorded on ``connection`` (so in its transaction or snapshot, if one is open);
    ``schema`` names the schema of ``alembic_version``, by default the one the search path finds."""
    return MigrationContext.configure(connection, opts={"version_table_schema": schema}).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
