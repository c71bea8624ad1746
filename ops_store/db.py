"""Engines, sessions and the unit of work.

``Store`` wraps one database URL. ``store.write()`` opens a write unit of work: on SQLite it
starts with ``BEGIN IMMEDIATE`` (the write lock is taken up front, so two writers never both
read and then fail to upgrade); on PostgreSQL it is a READ COMMITTED transaction in which the
services take row locks (``SELECT ... FOR UPDATE``) in a fixed order. ``store.read()`` is a
plain transaction that is always rolled back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from ops_store.settings import StoreSettings

if TYPE_CHECKING:
    from ops_store.security.pii import PiiCipher

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 60_000
_IMMEDIATE = "ecom_begin_immediate"


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below emit BEGIN itself (pysqlite would defer it).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA synchronous=NORMAL")
        # Deleted or overwritten content is zeroed, so erased personal data leaves no bytes behind.
        cur.execute("PRAGMA secure_delete=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``. On PostgreSQL each engine keeps its own connection pool, sized by
    ECOM_STORE_POOL_SIZE / ECOM_STORE_MAX_OVERFLOW / ECOM_STORE_POOL_TIMEOUT_S (``kwargs`` win),
    and pings a pooled connection before lending it, so a restarted server costs no failed request.
    ECOM_STORE_PREPARED_STATEMENTS=false stops psycopg preparing statements on the server."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs)
        _configure_sqlite(engine)
        return engine
    settings = StoreSettings()
    kwargs.setdefault("pool_pre_ping", True)
    if "poolclass" not in kwargs:  # another pool class may not take these
        kwargs.setdefault("pool_size", settings.pool_size)
        kwargs.setdefault("max_overflow", settings.max_overflow)
        kwargs.setdefault("pool_timeout", settings.pool_timeout_s)
    if not settings.prepared_statements:  # e.g. behind PgBouncer < 1.21 in transaction pooling
        kwargs["connect_args"] = {**kwargs.get("connect_args", {}), "prepare_threshold": None}
    return create_engine(url, **kwargs)


class Store:
    """One operational store (one database)."""

    def __init__(self, url: str, engine: Engine | None = None, cipher: PiiCipher | None = None) -> None:
        self.url = url
        self.engine = engine or make_engine(url)
        self._cipher = cipher
        self.backend = self.engine.dialect.name
        write_engine = self.engine.execution_options(**{_IMMEDIATE: True})
        self._write_sessions = sessionmaker(write_engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: StoreSettings | None = None) -> Store:
        settings = settings or StoreSettings()
        settings.ensure_data_dir()
        return cls(settings.store_url)

    @property
    def cipher(self) -> PiiCipher:
        """The personal-data cipher (keys from the environment or the data dir's key file)."""
        if self._cipher is None:
            from ops_store.security.pii import load_cipher

            self._cipher = load_cipher(StoreSettings().ensure_data_dir())
        return self._cipher

    @cipher.setter
    def cipher(self, value: PiiCipher) -> None:
        self._cipher = value

    @property
    def is_postgres(self) -> bool:
        return self.backend == "postgresql"

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write unit of work: commits when the block ends, rolls back on any error."""
        with self._write_sessions() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only look; the transaction is discarded (objects stay usable, detached)."""
        with self._read_sessions() as session:
            yield session

    def run_write(self, work: Callable[[Session], T], *, attempts: int = 5) -> T:
        """Run ``work`` in a write unit of work, retrying transient lock failures
        (PostgreSQL deadlock or serialization failure, SQLite busy past its timeout)."""
        for attempt in range(1, attempts + 1):
            try:
                with self.write() as session:
                    return work(session)
            except OperationalError as exc:
                if attempt == attempts or not _is_transient(exc):
                    raise
                time.sleep(0.05 * attempt)
        raise AssertionError("unreachable")

    def dispose(self) -> None:
        self.engine.dispose()


# PostgreSQL: deadlock, serialization failure, lock not available (run_write retries them).
_LOCK_SQLSTATES = frozenset({"40P01", "40001", "55P03"})
# PostgreSQL: connection exceptions (class 08), the server shutting down, crashed or starting,
# too many connections; lock failures that outlasted run_write's retries.
_UNAVAILABLE_SQLSTATES = _LOCK_SQLSTATES | {"57P01", "57P02", "57P03", "53300"}
_SQLITE_UNAVAILABLE = ("database is locked", "database is busy", "unable to open database file", "disk i/o error")


def is_unavailable(exc: BaseException) -> bool:
    """The database is away or overloaded, and the request is not at fault: the same request
    later may succeed. A dropped or refused connection, a server shutting down, crashed or
    starting up, no connection free in the pool in time, a lock wait past its retries. Not: a bad
    statement, a missing table, a constraint violation."""
    if isinstance(exc, PoolTimeout):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, OperationalError):
        return False
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate:
        return sqlstate.startswith("08") or sqlstate in _UNAVAILABLE_SQLSTATES
    if type(exc.orig).__module__.startswith("psycopg"):
        return True  # raised by the client library itself: no server answered (refused, cut, closed)
    return any(text in str(exc.orig).lower() for text in _SQLITE_UNAVAILABLE)


def _is_transient(exc: OperationalError) -> bool:
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate in _LOCK_SQLSTATES:
        return True
    text = str(exc.orig).lower()
    return "database is locked" in text or "database is busy" in text
