"""A PostgreSQL database a benchmark owns for one run: created fresh, dropped at the end (unless
kept, to look into or measure again)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


@contextmanager
def pg_database(server: str, prefix: str, *, keep: bool = False) -> Iterator[str]:
    """The URL of a new database `<prefix>_<pid>` on the server of `server`; dropped at the end
    unless `keep`."""
    name = f"{prefix}_{os.getpid()}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        if not keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
