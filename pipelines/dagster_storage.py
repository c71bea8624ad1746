"""Dagster's SQLite event log (the default when ECOM_DAGSTER_STORAGE_URL is not set), with its
connections kept open.

Dagster writes every event of a run as it happens: a run of the daily build writes about 2,300
(a planned and a finished event for each of its 150 assets and 600 checks, the steps' own), one
transaction each. The stock SQLite event log builds a new SQLAlchemy engine, opens the file,
commits and throws the engine away for every one of them: about 4.8 ms an event, some 11 s of
that run (the 746 planned events before it starts took 6 s at 1M orders). This subclass keeps an
engine (one pooled connection) for each of the last few databases it used: 1.7 ms an event
(bench/dagster_events.py prints both). Everything else, the files and their layout included, is Dagster's:
an instance written by the stock class reads the same, and the other way round.

It leans on three internals of SqliteEventLogStorage (`_db_lock`, `_initialized_dbs`, `_initdb`),
so Dagster's version is pinned (requirements.lock) and every pipeline test runs through it.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dagster._core.storage.event_log.sqlite.sqlite_event_log import SQLITE_BUSY_TIMEOUT_SECONDS, SqliteEventLogStorage
from dagster._serdes import ConfigurableClassData
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool, QueuePool

ENGINES_KEPT = 8  # a webserver reads many runs' databases: only the latest few stay open


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """SqliteEventLogStorage that reuses one open connection per database file (LRU of ENGINES_KEPT)."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        super().__init__(base_dir, inst_data)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        # The lock is held for the whole transaction, as in the stock class, so a connection is
        # never used by two threads at once (hence check_same_thread off).
        with self._db_lock:
            if shard not in self._initialized_dbs:  # as the stock class does: an engine of its own
                init = create_engine(self.conn_string_for_shard(shard), poolclass=NullPool,
                                     connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
                self._initdb(init)
                init.dispose()
                self._initialized_dbs.add(shard)
            engine = self._engines.pop(shard, None)
            if engine is None:
                engine = create_engine(self.conn_string_for_shard(shard), poolclass=QueuePool, pool_size=1,
                                       max_overflow=0, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS,
                                                                     "check_same_thread": False})
                event.listen(engine, "connect", _no_fsync_per_commit)
            self._engines[shard] = engine  # the most recent last
            while len(self._engines) > ENGINES_KEPT:
                self._engines.popitem(last=False)[1].dispose()
            with engine.connect() as conn, conn.begin():
                yield conn

    def _close_all(self) -> None:
        with self._db_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()

    def wipe(self) -> None:
        self._close_all()  # the run databases' files are deleted: no connection may outlive them
        super().wipe()

    def dispose(self) -> None:
        super().dispose()
        self._close_all()

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None,
                          config_value: Any) -> PooledSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)


def _no_fsync_per_commit(dbapi_connection: Any, _record: Any) -> None:
    """The databases are in WAL mode (Dagster sets it): with synchronous=NORMAL a commit appends to
    the WAL without waiting for the disk, which syncs at each checkpoint. A killed process loses
    nothing; a power loss or an OS crash may lose the last events, never the database."""
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def event_log_yaml(base_dir: str) -> str:
    """The dagster.yaml section that puts this class where Dagster keeps its SQLite event logs."""
    return (f"event_log_storage:\n  module: {__name__}\n  class: {PooledSqliteEventLogStorage.__name__}\n"
            f"  config:\n    base_dir: {json.dumps(base_dir)}\n")  # a JSON string is a YAML string
