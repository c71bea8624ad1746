"""Backup and restore on SQLite and PostgreSQL: round trip, refusal, tampering, and a backup taken
while writers keep writing (orders placed through ``orders.place_order``, stock received): the
restore equals the moment of the backup, not the end, holds only whole orders and takes new ones.

A restore needs an EMPTY store: on SQLite a new file in tmp_path; on PostgreSQL a new database
created here on the fixture's server (and dropped after), by default into schema
``ecom_restored`` so the schema remapping is exercised (the source is ``public`` or the worker's
schema), or into ``public``.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, table, text
from sqlalchemy.engine import make_url
from typer import Typer
from typer.testing import CliRunner

from ops_store import backup
from ops_store.cli import output
from ops_store.cli.backup import backup_command, restore_command
from ops_store.db import Store
from ops_store.migrate import current_revision, head_revision
from ops_store.models import AuditEntry, Base, Order, Reservation, StockLevel, StockMovement
from ops_store.security.access import PermissionDenied, Principal, acting_as
from ops_store.services import orders, stock
from tests.factories import make_shop, order_doc
from tests.fault_support import assert_orders_whole

TableRows = dict[str, list[tuple[Any, ...]]]


@contextmanager
def empty_targets(source_url: str, tmp_path: Path) -> Iterator[Callable[..., Store]]:
    """A factory of empty stores (no tables at all) on the backend of ``source_url``."""
    made: list[Store] = []
    databases: list[str] = []
    postgres = make_url(source_url).get_backend_name() == "postgresql"
    server = make_url(source_url).difference_update_query(["options"])
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT") if postgres else None

    def make(schema: str | None = "ecom_restored") -> Store:
        if admin is None:
            target = Store(f"sqlite:///{tmp_path / f'restored-{uuid.uuid4().hex[:8]}.sqlite'}")
        else:
            name = f"ecom_restore_{uuid.uuid4().hex[:10]}"
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            databases.append(name)
            url = server.set(database=name)
            if schema:
                url = url.update_query_dict({"options": f"-csearch_path={schema}"})
            target = Store(url.render_as_string(hide_password=False))
        made.append(target)
        return target

    try:
        yield make
    finally:
        for target in made:
            target.dispose()
        if admin is not None:
            with admin.connect() as conn:
                for name in databases:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


@pytest.fixture
def restore_target(store: Store, tmp_path: Path) -> Iterator[Callable[..., Store]]:
    """Call to get an empty store on the same backend as ``store``: by default into schema
    ``ecom_restored`` on PostgreSQL (exercising the schema remapping), ``restore_target(None)``
    into ``public``."""
    with empty_targets(store.url, tmp_path) as make:
        yield make


def table_rows(store: Store) -> TableRows:
    """Every table's rows ordered by primary key (audit rows of backups themselves left out)."""
    out: TableRows = {}
    audit = AuditEntry.__table__
    with store.engine.connect() as conn:
        for t in Base.metadata.sorted_tables:
            query = select(t).order_by(*t.primary_key.columns)
            if t is audit:
                query = query.where(~audit.c.action.like("backup.%"))
            out[t.name] = [tuple(r) for r in conn.execute(query)]
        out["alembic_version"] = [tuple(r) for r in conn.execute(text("SELECT version_num FROM alembic_version"))]
    return out


def count(store: Store, name: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(table(name))))


def has_tables(store: Store) -> bool:
    with store.engine.connect() as conn:
        if store.is_postgres:
            return bool(conn.scalar(text("SELECT count(*) FROM pg_tables WHERE schemaname NOT IN "
                                         "('pg_catalog', 'information_schema')")))
        return bool(conn.scalar(text("SELECT count(*) FROM sqlite_master WHERE type = 'table'")))


def audit_actions(store: Store) -> list[str]:
    with store.engine.connect() as conn:
        return list(conn.scalars(select(AuditEntry.__table__.c.action).order_by(AuditEntry.__table__.c.id)))


def busy_shop(store: Store, n_orders: int = 4) -> None:
    make_shop(store)
    for i in range(n_orders):
        orders.place_order(store, order_doc(f"BK-{i}", [("SKU-1", 1), ("SKU-2", 1 + i % 2)], customer=f"C-{i}"))
    orders.cancel_order(store, 1, reason="changed mind")


def manifest_of(report: dict[str, Any]) -> dict[str, Any]:
    return json.loads((Path(report["path"]) / backup.MANIFEST).read_text())


# --------------------------------------------------------------------------- tests


def test_backup_writes_a_manifest_of_the_snapshot(store: Store, tmp_path: Path, monkeypatch) -> None:
    busy_shop(store)
    monkeypatch.setenv("ECOM_DATA_DIR", str(tmp_path / "data"))
    report = backup.backup(store)
    folder = Path(report["path"])
    assert folder.parent == tmp_path / "data" / "backups"
    manifest = manifest_of(report)
    assert manifest["backend"] == store.backend
    assert manifest["revision"] == current_revision(store) == head_revision()
    assert manifest["format"] == ("pg_dump" if store.is_postgres else "sqlite")
    expected = [t.name for t in Base.metadata.sorted_tables] + ["alembic_version"]
    assert list(manifest["tables"]) == expected
    for name, entry in manifest["tables"].items():
        live = count(store, name) - (1 if name == "audit_log" else 0)  # the backup.create row came after
        assert entry["rows"] == live, name
        assert len(entry["sha256"]) == 64
    assert manifest["tables"]["orders"]["rows"] == 4
    for name, entry in manifest["files"].items():
        assert (folder / name).stat().st_size == entry["bytes"]
    assert audit_actions(store)[-1] == "backup.create"
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".partial")]


def test_round_trip_restores_every_table_identically(store: Store, restore_target, tmp_path: Path) -> None:
    busy_shop(store)
    report = backup.backup(store, tmp_path / "backups")
    target = restore_target()
    restored = backup.restore(target, report["path"])

    assert table_rows(target) == table_rows(store)
    assert all(t["verified"] for t in restored["tables"])
    assert restored["rows"] == report["rows"]
    assert audit_actions(target)[-1] == "backup.restore"
    # the restored store is a working store: ids continue after the restored ones
    again = orders.place_order(target, order_doc("AFTER-1", [("SKU-3", 1)]))
    assert again["order_id"] == 5


def test_restore_into_a_store_with_rows_is_refused_and_changes_nothing(store: Store, tmp_path: Path) -> None:
    busy_shop(store)
    report = backup.backup(store, tmp_path / "backups")
    before = table_rows(store), audit_actions(store)
    with pytest.raises(backup.RestoreRefused) as refused:
        backup.restore(store, report["path"])
    assert "not empty" in refused.value.message
    assert "orders has 4 rows" in refused.value.message
    assert (table_rows(store), audit_actions(store)) == before


def test_restore_into_a_store_whose_tables_are_all_empty(store: Store, restore_target, tmp_path: Path) -> None:
    busy_shop(store)
    report = backup.backup(store, tmp_path / "backups")
    target = restore_target(None)
    Base.metadata.create_all(target.engine)  # tables, but no row (not even alembic_version)
    backup.restore(target, report["path"])
    assert table_rows(target) == table_rows(store)


def test_a_tampered_manifest_checksum_is_detected_and_named(store: Store, restore_target, tmp_path: Path) -> None:
    busy_shop(store)
    report = backup.backup(store, tmp_path / "backups")
    path = Path(report["path"]) / backup.MANIFEST
    manifest = json.loads(path.read_text())
    manifest["tables"]["order_lines"]["sha256"] = "0" * 64
    path.write_text(json.dumps(manifest))
    target = restore_target()
    with pytest.raises(backup.BackupInvalid) as invalid:
        backup.restore(target, report["path"])
    assert invalid.value.field == "order_lines"
    assert "table order_lines does not match" in invalid.value.message
    assert "backup.restore" not in audit_actions(target)  # the audit row comes only after verification


def test_a_corrupted_backup_file_is_detected_before_the_target_is_touched(
    store: Store, restore_target, tmp_path: Path,
) -> None:
    busy_shop(store)
    report = backup.backup(store, tmp_path / "backups")
    data_file = backup.PG_DUMP_FILE if store.is_postgres else backup.SQLITE_FILE
    path = Path(report["path"]) / data_file
    raw = bytearray(path.read_bytes())
    middle = len(raw) // 2
    raw[middle:middle + 16] = bytes(b ^ 0xFF for b in raw[middle:middle + 16])
    path.write_bytes(bytes(raw))
    target = restore_target()
    with pytest.raises(backup.BackupInvalid) as invalid:
        backup.restore(target, report["path"])
    assert invalid.value.field == data_file
    assert f"backup file {data_file} is damaged" in invalid.value.message
    assert not has_tables(target)


def test_a_folder_that_is_not_a_backup_is_refused(store: Store, tmp_path: Path) -> None:
    with pytest.raises(backup.BackupInvalid, match="has no manifest.json"):
        backup.restore(store, tmp_path)
    report = backup.backup(store, tmp_path / "backups")
    (Path(report["path"]) / backup.MANIFEST).write_text("{not json")
    with pytest.raises(backup.BackupInvalid, match="manifest.json is unreadable"):
        backup.restore(store, report["path"])


def test_backup_and_restore_need_the_permission(store: Store, tmp_path: Path) -> None:
    report = backup.backup(store, tmp_path / "backups")
    with acting_as(Principal("user:ann", "analyst")):
        with pytest.raises(PermissionDenied):
            backup.backup(store, tmp_path / "backups")
        with pytest.raises(PermissionDenied):
            backup.restore(store, report["path"])
    with acting_as(Principal("user:eve", "engineer")):
        backup.backup(store, tmp_path / "backups")


def test_a_backup_restores_only_into_its_own_backend(store: Store, tmp_path: Path) -> None:
    report = backup.backup(store, tmp_path / "backups")
    other = Store(f"sqlite:///{tmp_path / 'other.sqlite'}") if store.is_postgres else Store(
        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    with pytest.raises(backup.RestoreRefused, match=f"{store.backend} backup restores into {store.backend}"):
        backup.restore(other, report["path"])
    other.dispose()


def _assert_ledger_balances(store: Store) -> None:
    """on_hand == sum of movements and reserved == active reservations, for every stock level."""
    with store.read() as s:
        moved = dict(((p, w), int(q)) for p, w, q in s.execute(
            select(StockMovement.product_id, StockMovement.warehouse_id, func.sum(StockMovement.quantity))
            .group_by(StockMovement.product_id, StockMovement.warehouse_id)))
        held = dict(((p, w), int(q)) for p, w, q in s.execute(
            select(Reservation.product_id, Reservation.warehouse_id, func.sum(Reservation.quantity))
            .where(Reservation.status == "active").group_by(Reservation.product_id, Reservation.warehouse_id)))
        for level in s.scalars(select(StockLevel)):
            key = (level.product_id, level.warehouse_id)
            assert level.on_hand == moved.get(key, 0), key
            assert level.reserved == held.get(key, 0), key


def test_backup_while_writers_keep_writing(store: Store, restore_target, tmp_path: Path) -> None:
    make_shop(store, stock_w1=100_000, stock_w2=0)
    done: Counter[str] = Counter()
    errors: list[BaseException] = []
    stop = threading.Event()

    def buyer() -> None:
        for i in range(100_000):
            if stop.is_set():
                return
            orders.place_order(store, order_doc(f"BUSY-{i}", [("SKU-1", 1), ("SKU-3", 2)], customer=f"C-{i % 7}"))
            done["orders"] += 1

    def receiver() -> None:
        while not stop.is_set():
            stock.receive_stock(store, "SKU-2", "W1", 3, reason="busy test")
            done["receipts"] += 1

    def guarded(work: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                work()
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                errors.append(exc)
        return run

    def wait_for(orders_at_least: int, receipts_at_least: int) -> None:
        deadline = time.monotonic() + 15
        while done["orders"] < orders_at_least or done["receipts"] < receipts_at_least:
            assert not errors, errors
            assert time.monotonic() < deadline, f"writers too slow: {done}"
            time.sleep(0.01)

    threads = [threading.Thread(target=guarded(w)) for w in (buyer, receiver)]
    for t in threads:
        t.start()
    try:
        wait_for(5, 5)
        before = Counter(done)
        report = backup.backup(store, tmp_path / "backups")
        after = Counter(done)
        wait_for(after["orders"] + 5, after["receipts"] + 5)  # writes went on after the snapshot
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not errors, errors

    manifest = manifest_of(report)
    snap = {name: entry["rows"] for name, entry in manifest["tables"].items()}
    # the snapshot lies between the start and the end of the backup (one write may be in flight)
    assert before["orders"] <= snap["orders"] <= after["orders"] + 1
    receipts = snap["stock_movements"] - 3  # make_shop received each of the 3 SKUs once
    assert before["receipts"] <= receipts <= after["receipts"] + 1

    target = restore_target(None)
    restored = backup.restore(target, report["path"])
    assert {t["table"]: t["rows"] for t in restored["tables"]} == snap
    restored_counts = {name: count(target, name) for name in snap}
    restored_counts["audit_log"] -= 1  # the restore's own audit row
    assert restored_counts == snap
    for name in ("orders", "order_lines", "reservations", "stock_movements", "payments"):
        assert count(store, name) > snap[name], name  # the live store moved on
    _assert_ledger_balances(target)  # a consistent moment: ledger, balances and reservations agree
    _assert_ledger_balances(store)
    assert all(t["verified"] for t in restored["tables"])  # each table's checksum equals the manifest's
    assert_orders_whole(target)  # no order caught half-made: lines, reservations, payment, events
    # The restored store takes orders again, numbered after the restored ones.
    with target.read() as session:
        last = session.scalar(select(func.max(Order.id)))
    again = orders.place_order(target, order_doc("AFTER-RESTORE", [("SKU-1", 1), ("SKU-3", 1)], customer="C-new"))
    assert again["order_id"] > last and again["status"] == "paid"  # card authorised: the whole path works
    assert_orders_whole(target)


@pytest.fixture
def cli_env(monkeypatch, tmp_path: Path) -> Iterator[Callable[[str], None]]:
    """Point the CLI's cached store() at a URL; undone after the test."""
    monkeypatch.setenv("ECOM_DATA_DIR", str(tmp_path / "cli-data"))

    def use(url: str) -> None:
        if output.store.cache_info().currsize:
            output.store().dispose()
        output.store.cache_clear()
        monkeypatch.setenv("OPS_STORE_URL", url)

    handlers = list(output.logging.getLogger("ops_store").handlers)
    yield use
    use("")
    logger = output.logging.getLogger("ops_store")
    for handler in [h for h in logger.handlers if h not in handlers]:
        logger.removeHandler(handler)
        handler.close()


def test_cli_backup_and_restore(store: Store, restore_target, tmp_path: Path, cli_env) -> None:
    busy_shop(store)
    app = Typer()
    app.command("backup")(backup_command)
    app.command("restore")(restore_command)
    runner = CliRunner()

    cli_env(store.url)
    done = runner.invoke(app, ["backup", "--dest", str(tmp_path / "cli-backups"), "--json"])
    assert done.exit_code == 0, done.output
    made = json.loads(done.stdout)
    assert made["rows"] > 0 and Path(made["path"]).parent == tmp_path / "cli-backups"

    target = restore_target()
    cli_env(target.url)
    done = runner.invoke(app, ["restore", made["path"]])
    assert done.exit_code == 0, done.output
    assert "verified orders: 4 rows" in done.stdout
    assert f"{made['rows']} rows" in done.stdout

    done = runner.invoke(app, ["restore", made["path"], "--json"])
    assert done.exit_code == 1
    assert json.loads(done.stdout)["error"]["code"] == "restore_refused"


@pytest.mark.postgres
def test_postgres_copy_backup_without_client_tools(fresh_store, tmp_path: Path, monkeypatch) -> None:
    source = fresh_store("postgresql")
    busy_shop(source)
    monkeypatch.setattr(backup.postgres.shutil, "which", lambda name: None)
    report = backup.backup(source, tmp_path / "backups")
    assert report["format"] == "copy"
    assert (Path(report["path"]) / backup.COPY_DIR / "orders.copy").is_file()
    with empty_targets(source.url, tmp_path) as restore_target:
        target = restore_target()
        backup.restore(target, report["path"])
        assert table_rows(target) == table_rows(source)
        assert orders.place_order(target, order_doc("AFTER-1", [("SKU-3", 1)]))["order_id"] == 5
