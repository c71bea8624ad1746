"""`ecom import`: valid rows in, bad rows quarantined with row number and reason (table and
rejects file), re-imports skip, a killed import leaves nothing, stock keeps the ledger invariants."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
import typer
from sqlalchemy import func, select

from ops_store.importer import frames, import_file
from ops_store.models import (
    Customer,
    CustomerConsent,
    DeliveryOption,
    Order,
    OrderEvent,
    OrderLine,
    Payment,
    Product,
    RejectedRequest,
    Reservation,
    StockLevel,
    StockMovement,
    StockValuation,
)
from ops_store.security.access import PermissionDenied, Principal, acting_as
from ops_store.services import catalog, customers
from ops_store.services.ledger import weighted_average
from tests.factories import make_shop
from tests.test_stock_invariants import check_invariants


def write_csv(path: Path, header: str, *rows: str) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def rejects_file(result) -> dict[int, dict[str, str]]:  # type: ignore[no-untyped-def]
    with open(result.rejects_file, newline="") as fh:
        return {int(r["row"]): r for r in csv.DictReader(fh)}


def quarantined(store, entity: str) -> dict[int, RejectedRequest]:  # type: ignore[no-untyped-def]
    with store.read() as session:
        rows = session.scalars(select(RejectedRequest).where(RejectedRequest.kind == f"import:{entity}"))
        return {json.loads(r.payload)["_row"]: r for r in rows}


def count(store, model) -> int:  # type: ignore[no-untyped-def]
    with store.read() as session:
        return session.scalar(select(func.count()).select_from(model))


# --- products -----------------------------------------------------------------------------------------------


def test_products_import_quarantines_bad_rows_and_skips_on_reimport(store, tmp_path):
    make_shop(store, stock_w1=0, stock_w2=0)
    path = write_csv(
        tmp_path / "products.csv", "merchant,sku,name,category,price,cost,active",
        "M1,P-1,Tea,drinks,3.50,1.2000,",            # 1 ok
        "M1,P-2,Coffee,drinks,abc,2.00,",            # 2 price not a number
        "M1,P-3,Cocoa,drinks,4.00,1.00,",            # 3 duplicate sku ...
        "M1,P-3,Cocoa 2,drinks,4.00,1.00,",          # 4 ... twice
        "ZZ,P-4,Juice,drinks,2.00,1.00,",            # 5 unknown merchant
        "M1,P-5,,drinks,2.00,1.00,",                 # 6 missing name
        "M1,P-6,Water,drinks,-1.00,0.10,",           # 7 negative price
        "M1,P-7,Milk,dairy,1.999,0.5,",              # 8 three decimals
        "M1,P-8,Soda,drinks,1.00,0.40,false",        # 9 ok, inactive
    )
    result = import_file(store, "products", path)
    assert (result.accepted, result.rejected, result.skipped) == (2, 7, 0)
    with store.read() as session:
        made = {p.sku: p for p in session.scalars(select(Product).where(Product.sku.in_(["P-1", "P-8"])))}
    assert made["P-1"].price == Decimal("3.50") and made["P-1"].unit_cost == Decimal("1.2000")
    assert made["P-1"].currency == "USD" and made["P-1"].active and not made["P-8"].active
    expected = {2: ("price", "must be a number"), 3: ("sku", "more than once"), 4: ("sku", "more than once"),
                5: ("merchant", "does not exist"), 6: ("name", "required"), 7: ("price", "negative"),
                8: ("price", "decimal places")}
    in_file, in_table = rejects_file(result), quarantined(store, "products")
    assert set(in_file) == set(in_table) == set(expected)
    for row, (field, words) in expected.items():
        assert in_file[row]["field"] == field and words in in_file[row]["reason"]
        assert in_table[row].field == field and words in in_table[row].message
        assert in_table[row].message.startswith(f"row {row}:")

    again = import_file(store, "products", path)
    assert (again.accepted, again.rejected, again.skipped) == (0, 7, 2)
    assert len(quarantined(store, "products")) == 7  # refused rows are kept once, not per run
    assert count(store, Product) == 5


# --- customers ----------------------------------------------------------------------------------------------


def test_customers_import_encrypts_personal_data(store, tmp_path):
    customers.add_customer(store, name="Old", email="taken@example.org", customer_ref="OLD-1")
    path = write_csv(
        tmp_path / "customers.csv", "customer_ref,name,email,phone,region,country,consent_email,consent_sms",
        "K-1,Ann Lee,Ann@Example.org,+49 170 1234567,Berlin,de,yes,no",   # 1 ok
        "K-2,Bob,not-an-email,,,,,",                                       # 2 bad email
        "K-3,Cy,taken@example.org,,,,,",                                   # 3 email of another customer
        "K-4,Di,di@example.org,,,DEU,,",                                   # 4 bad country
        "K-5,Ed,ed@example.org,12,,,,",                                    # 5 bad phone
        "K-6,Flo,flo@example.org,,,,maybe,",                               # 6 bad consent
        "OLD-1,Old,old@example.org,,,,,",                                  # 7 imported before -> skipped
        "K-8,Gil,gil@example.org,,,,,",                                    # 8 ok
    )
    result = import_file(store, "customers", path)
    assert (result.accepted, result.rejected, result.skipped) == (2, 5, 1)
    assert set(rejects_file(result)) == set(quarantined(store, "customers")) == {2, 3, 4, 5, 6}
    # Quarantined personal data is masked.
    assert "taken@example.org" not in quarantined(store, "customers")[3].payload
    with store.read() as session:
        ann = session.scalar(select(Customer).where(Customer.customer_ref == "K-1"))
        consents = {c.channel: c.granted for c in session.scalars(
            select(CustomerConsent).where(CustomerConsent.customer_id == ann.id))}
    assert "Ann" not in (ann.name_enc or "") and "example" not in (ann.email_enc or "")
    assert store.cipher.decrypt(ann.name_enc) == "Ann Lee" and store.cipher.decrypt(ann.email_enc) == "ann@example.org"
    assert ann.country == "DE" and consents == {"email": True, "sms": False}
    found = customers.find_customers(store, email="ANN@example.org", clear=True)
    assert [c["customer_ref"] for c in found] == ["K-1"] and found[0]["phone"] == "+491701234567"

    again = import_file(store, "customers", path)
    assert (again.accepted, again.skipped) == (0, 3)
    assert count(store, Customer) == 3


# --- stock --------------------------------------------------------------------------------------------------


def test_stock_import_posts_receipts_and_keeps_the_ledger_invariants(store, tmp_path):
    make_shop(store, stock_w1=10, stock_w2=0)  # receipts at the catalog cost: SKU-1 10 units at 5.00
    path = write_csv(
        tmp_path / "stock.csv", "sku,warehouse,quantity,unit_cost",
        "SKU-1,W1,5,6.00",        # 1
        "SKU-1,W2,3,7.1234",      # 2
        "SKU-2,W2,4,8.00",        # 3
        "SKU-1,W9,1,1.00",        # 4 unknown warehouse
        "NOPE,W1,1,1.00",         # 5 unknown sku
        "SKU-2,W1,0,1.00",        # 6 zero quantity
        "SKU-2,W1,2,x",           # 7 cost not a number
        "SKU-3,W1,-2,1.00",       # 8 negative quantity
        "SKU-3,W1,1.5,1.00",      # 9 not whole
    )
    result = import_file(store, "stock", path)
    assert (result.accepted, result.rejected, result.skipped) == (3, 6, 0)
    assert set(rejects_file(result)) == set(quarantined(store, "stock")) == {4, 5, 6, 7, 8, 9}
    check_invariants(store)
    avg = weighted_average(10, Decimal("5.0000"), 5, Decimal("6.00"))
    avg = weighted_average(15, avg, 3, Decimal("7.1234"))
    with store.read() as session:
        sku1 = session.scalar(select(Product.id).where(Product.sku == "SKU-1"))
        assert session.get(StockValuation, sku1).avg_unit_cost == avg
        assert session.get(StockLevel, (sku1, 1)).on_hand == 15
    again = import_file(store, "stock", path)
    assert (again.accepted, again.skipped) == (0, 3)
    check_invariants(store)
    assert count(store, StockMovement) == 3 + 3  # make_shop received 3, the file 3


# --- orders -------------------------------------------------------------------------------------------------

ORDER_HEADER = "order_ref,customer_ref,ordered_at,sku,quantity,unit_price,discount,shipping,status,merchant"


def test_orders_import_records_finished_history_without_touching_stock(store, tmp_path):
    make_shop(store)
    with store.read() as session:
        levels_before = {(lv.product_id, lv.warehouse_id): (lv.on_hand, lv.reserved)
                         for lv in session.scalars(select(StockLevel))}
    movements_before = count(store, StockMovement)
    path = write_csv(
        tmp_path / "orders.csv", ORDER_HEADER,
        "A-1,C-1,2024-03-01,SKU-1,2,9.99,1.00,4.90,,",                 # 1 order A-1
        "A-1,C-1,2024-03-01,SKU-2,1,15.00,,4.90,,",                    # 2
        "A-2,C-2,2024-03-02T10:30:00+02:00,SKU-3,1,40.00,,,cancelled,",  # 3 order A-2
        "A-3,C-1,2024-03-05,SKU-3,3,39.50,,,,M1",                      # 4 order A-3
    )
    result = import_file(store, "orders", path, merchant="M1")
    assert (result.accepted, result.rejected, result.skipped) == (4, 0, 0)
    assert result.rejects_file is None and result.details["orders"] == 3
    with store.read() as session:
        orders = {o.channel_order_ref: o for o in session.scalars(select(Order))}
        a1 = orders["A-1"]
        lines = list(session.scalars(select(OrderLine).where(OrderLine.order_id == a1.id).order_by(OrderLine.line_no)))
        events = [(e.from_status, e.to_status, e.actor) for e in
                  session.scalars(select(OrderEvent).where(OrderEvent.order_id == a1.id).order_by(OrderEvent.id))]
        pay = session.scalar(select(Payment).where(Payment.order_id == a1.id))
        pay2 = session.scalar(select(Payment).where(Payment.order_id == orders["A-2"].id))
        option = session.get(DeliveryOption, a1.delivery_option_id)
        assert count(store, Reservation) == 0
        levels_after = {(lv.product_id, lv.warehouse_id): (lv.on_hand, lv.reserved)
                        for lv in session.scalars(select(StockLevel))}
    assert levels_after == levels_before and count(store, StockMovement) == movements_before
    assert a1.status == "completed" and a1.channel == "web" and a1.currency == "USD"
    assert (a1.subtotal, a1.discount, a1.shipping, a1.tax, a1.total) == (
        Decimal("34.98"), Decimal("1.00"), Decimal("4.90"), Decimal("0.00"), Decimal("38.88"))
    assert [(ln.sku, ln.quantity, ln.unit_price, ln.discount, ln.line_total) for ln in lines] == [
        ("SKU-1", 2, Decimal("9.99"), Decimal("1.00"), Decimal("18.98")),
        ("SKU-2", 1, Decimal("15.00"), Decimal("0.00"), Decimal("15.00"))]
    assert events == [(None, "placed", "import"), ("placed", "completed", "import")]
    assert (pay.method, pay.status, pay.amount, pay.captured_amount) == (
        "bank_transfer", "captured", Decimal("38.88"), Decimal("38.88"))
    assert option.code == "import" and a1.promised_on.isoformat() == "2024-03-01"
    assert a1.placed_at.isoformat() == "2024-03-01T00:00:00+00:00"
    assert orders["A-2"].status == "cancelled" and pay2.status == "voided" and pay2.captured_amount == 0
    assert orders["A-2"].placed_at.isoformat() == "2024-03-02T08:30:00+00:00"
    assert count(store, Customer) == 2

    again = import_file(store, "orders", path, merchant="M1")
    assert (again.accepted, again.rejected, again.skipped) == (0, 0, 4)
    assert count(store, Order) == 3 and count(store, OrderLine) == 4 and count(store, Payment) == 3


def test_orders_import_refuses_bad_orders_whole_with_reasons(store, tmp_path):
    make_shop(store)
    catalog.add_merchant(store, "M2", "Shop Two")
    path = write_csv(
        tmp_path / "orders.csv", ORDER_HEADER,
        "B-1,C-1,2024-03-01,SKU-1,1,9.99,,,,",       # 1 ok
        "B-2,C-1,2024-03-01,SKU-1,1,9.99,,,,",       # 2 order B-2 refused whole because of row 3
        "B-2,C-1,2024-03-01,NOPE,1,9.99,,,,",        # 3 unknown sku
        "B-3,C-1,2024-03-01,SKU-1,0,9.99,,,,",       # 4 zero quantity
        "B-4,C-1,2024-03-01,SKU-1,1,cheap,,,,",      # 5 price not a number
        "B-5,C-1,2999-01-01,SKU-1,1,9.99,,,,",       # 6 future date
        "B-6,C-1,2024-03-01,SKU-1,1,9.99,,,,",       # 7 duplicate order_ref + sku ...
        "B-6,C-1,2024-03-01,SKU-1,2,9.99,,,,",       # 8 ...
        "B-7,C-1,2024-03-01,SKU-1,1,9.99,,,,",       # 9 lines disagree on the customer ...
        "B-7,C-9,2024-03-01,SKU-2,1,15.00,,,,",      # 10 ...
        "B-8,C-1,2024-03-01,SKU-1,1,9.99,,,,XX",     # 11 unknown merchant
        "B-9,C-1,2024-03-01,SKU-1,1,9.99,,,,M2",     # 12 sku not in M2's catalog
        "B-10,C-1,yesterday,SKU-1,1,9.99,,,,",       # 13 not a date
        "B-11,,2024-03-01,SKU-1,1,9.99,,,,",         # 14 missing customer
        "B-12,C-1,2024-03-01,SKU-1,1,9.99,,,pending,",  # 15 status not a final one
        "B-13,C-1,2024-03-01,SKU-1,1,9.99,10.00,,,",   # 16 discount above the line
        "B-14,C-1,2024-03-01,SKU-1,1,0.00,,,,",       # 17 zero price
    )
    result = import_file(store, "orders", path, merchant="M1")
    assert (result.accepted, result.rejected, result.skipped) == (1, 16, 0)
    expected = {
        2: ("order_ref", "row 3"), 3: ("sku", "not in merchant M1's catalog"), 4: ("quantity", "positive"),
        5: ("unit_price", "must be a number"), 6: ("ordered_at", "future"), 7: ("sku", "more than once"),
        8: ("sku", "more than once"), 9: ("customer_ref", "disagree"), 10: ("customer_ref", "disagree"),
        11: ("merchant", "does not exist"), 12: ("sku", "M2's catalog"), 13: ("ordered_at", "not a date"),
        14: ("customer_ref", "required"), 15: ("status", "not one of"), 16: ("discount", "more than"),
        17: ("unit_price", "positive"),
    }
    in_file, in_table = rejects_file(result), quarantined(store, "orders")
    assert set(in_file) == set(in_table) == set(expected)
    for row, (field, words) in expected.items():
        assert in_file[row]["field"] == field and words in in_file[row]["reason"], in_file[row]
        assert in_table[row].field == field and words in in_table[row].message
    assert in_table[3].reference == "B-2"
    with store.read() as session:
        assert list(session.scalars(select(Order.channel_order_ref))) == ["B-1"]
    again = import_file(store, "orders", path, merchant="M1")
    assert (again.accepted, again.rejected, again.skipped) == (0, 16, 1)


def test_a_killed_import_leaves_nothing_and_a_rerun_imports_all(store, tmp_path, monkeypatch):
    make_shop(store)
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER,
                     *(f"K-{i},C-{i % 7},2024-01-0{1 + i % 9},SKU-{1 + i % 3},{1 + i % 4},9.99,,,,"
                       for i in range(40)), "K-bad,C-1,2024-01-01,NOPE,1,1.00,,,,")
    real = frames.write_frame
    for fail_at in (2, 4):  # big tables in order: orders, order lines, events, payments (customers before)
        calls = {"n": 0}

        def failing(*args, fail_at=fail_at, calls=calls, **kwargs):  # type: ignore[no-untyped-def]
            calls["n"] += 1
            if calls["n"] == fail_at:
                raise RuntimeError("killed")
            return real(*args, **kwargs)

        monkeypatch.setattr(frames, "write_frame", failing)
        with pytest.raises(RuntimeError, match="killed"):
            import_file(store, "orders", path, merchant="M1")
        for model in (Order, OrderLine, OrderEvent, Payment, Customer, RejectedRequest):
            assert count(store, model) == 0, model
        with store.read() as session:
            assert session.scalar(select(DeliveryOption).where(DeliveryOption.code == "import")) is None
    monkeypatch.setattr(frames, "write_frame", real)
    result = import_file(store, "orders", path, merchant="M1")
    assert (result.accepted, result.rejected, result.skipped) == (40, 1, 0)
    assert count(store, Order) == 40 and count(store, OrderLine) == 40 and count(store, RejectedRequest) == 1


def test_parquet_input_and_the_cli(store, tmp_path, cli_invoke):
    make_shop(store)
    frame = pl.DataFrame({"order_ref": ["P-1", "P-1", "P-2"], "customer_ref": ["C-1", "C-1", "C-2"],
                          "ordered_at": ["2024-05-01", "2024-05-01", "2024-05-02T12:00:00Z"],
                          "sku": ["SKU-1", "SKU-2", "SKU-9"], "quantity": [1, 2, 1],
                          "unit_price": ["9.99", "15.00", "1.00"]})
    path = tmp_path / "orders.parquet"
    frame.write_parquet(path)
    from ops_store.cli.importing import import_command

    app = typer.Typer()
    app.command("import")(import_command)
    out = cli_invoke(app, "orders", str(path), "--merchant", "M1")
    assert out == {"accepted": 2, "rejected": 1, "skipped": 0, "rejects_file": str(path) + ".rejects.csv"}
    assert cli_invoke(app, "orders", str(path), "--merchant", "M1")["skipped"] == 2
    text = cli_invoke(app, "orders", str(path), "--merchant", "M1", as_json=False)
    assert "skipped (imported before): 2" in text
    bad = cli_invoke(app, "things", str(path), ok=False)
    assert bad["error"]["code"] == "invalid_input"


def test_imports_need_the_permission_for_the_merchant(store, tmp_path):
    make_shop(store)
    catalog.add_merchant(store, "M2", "Shop Two")
    path = write_csv(tmp_path / "p.csv", "merchant,sku,name,category,price,cost", "M2,X-1,Thing,misc,1.00,0.50")
    with acting_as(Principal("user:mia", "merchant", merchant_id=1)), pytest.raises(PermissionDenied):
        import_file(store, "products", path)
    with acting_as(Principal("user:ann", "analyst")), pytest.raises(PermissionDenied):
        import_file(store, "products", path)
    assert count(store, Product) == 3
    with acting_as(Principal("user:mo", "merchant", merchant_id=2)):
        assert import_file(store, "products", path).accepted == 1


def test_the_frame_writer_stores_what_the_bulk_writer_stores(store):
    """The import's vectorised writer and ``bulk.insert_rows`` leave identical raw rows."""
    from datetime import UTC, date, datetime

    from sqlalchemy import text

    from ops_store import bulk

    make_shop(store, stock_w1=0, stock_w2=0)
    stamp = datetime(2024, 2, 29, 23, 59, 58, 120, tzinfo=UTC)
    values = [("F-1", "bank_transfer", "captured", Decimal("1234567.89"), Decimal("0.05"), date(2024, 3, 1), stamp),
              ("F-2", "card", "voided", Decimal("0.00"), Decimal("0.00"), date(2023, 12, 31), stamp)]
    cols = ["id", "merchant_id", "customer_id", "channel", "channel_order_ref", "payload_hash", "status", "currency",
            "subtotal", "discount", "shipping", "tax", "total", "delivery_option_id", "points_redeemed",
            "promised_on", "placed_at", "created_at", "updated_at"]
    with store.engine.begin() as conn:
        cust = bulk.reserve_ids(conn, "customers", 1)
        bulk.insert_rows(conn, "customers", ["id", "customer_ref", "created_at", "updated_at"],
                         [(cust, "F", stamp, stamp)])
        first = bulk.reserve_ids(conn, "orders", 4)
        rows = [(first + i + k * 2, 1, cust, "web", f"{ref}-{k}", "h", "completed", "USD", amount, small, small,
                 Decimal("0"), amount, 1, 0, day, at, at, at)
                for k in range(2) for i, (ref, _m, _s, amount, small, day, at) in enumerate(values)]
        bulk.insert_rows(conn, "orders", cols, rows[:2])
        frame = pl.DataFrame([list(r) for r in rows[2:]], schema=cols, orient="row").with_columns(
            *(pl.col(c).cast(pl.String) for c in ("subtotal", "discount", "shipping", "tax", "total")))
        frames.write_frame(conn, "orders", cols, frame)
        raw = conn.execute(text("SELECT * FROM orders ORDER BY id")).all()
    assert [tuple(r)[1:4] + tuple(r)[5:] for r in raw[:2]] == [tuple(r)[1:4] + tuple(r)[5:] for r in raw[2:]]
    with store.read() as session:
        read = list(session.scalars(select(Order).order_by(Order.id)))
    assert read[2].total == Decimal("1234567.89") and read[2].placed_at == stamp
    assert read[3].promised_on == date(2023, 12, 31)


def test_the_documented_examples_import_cleanly(store, tmp_path):
    import shutil

    make_shop(store, stock_w1=0, stock_w2=0)
    examples = Path(__file__).resolve().parent.parent / "docs" / "examples"
    for entity, accepted in (("products", 3), ("customers", 2), ("stock", 3), ("orders", 3)):
        path = Path(shutil.copy(examples / f"import-{entity}.csv", tmp_path))
        result = import_file(store, entity, path, merchant="M1")
        assert (result.accepted, result.rejected, result.skipped) == (accepted, 0, 0), result
    check_invariants(store)
    with store.read() as session:
        h1 = session.scalar(select(Order).where(Order.channel_order_ref == "H-5001"))
    assert h1.total == Decimal("9.00") + Decimal("12.00") - Decimal("2.00") + Decimal("4.90")


def test_unreadable_files_are_refused_whole(store, tmp_path):
    from ops_store.errors import InvalidInput

    make_shop(store)
    lacking = write_csv(tmp_path / "o.csv", "order_ref,customer_ref,sku,quantity,unit_price", "X,C,SKU-1,1,1.00")
    with pytest.raises(InvalidInput, match="lacks the column"):
        import_file(store, "orders", lacking)
    other = tmp_path / "o.xlsx"
    other.write_text("x")
    with pytest.raises(InvalidInput, match=".csv or .parquet"):
        import_file(store, "orders", other)
    broken = tmp_path / "b.parquet"
    broken.write_text("not parquet")
    with pytest.raises(InvalidInput, match="could not be read"):
        import_file(store, "orders", broken)
    assert count(store, RejectedRequest) == 0


def test_a_grown_file_imports_only_its_new_orders(store, tmp_path):
    make_shop(store)
    rows = [f"G-{i},C-{i % 5},2024-04-{1 + i % 28:02d},SKU-{1 + i % 3},{1 + i % 3},{10 + i}.00,,,," for i in range(300)]
    first = write_csv(tmp_path / "first.csv", ORDER_HEADER, *rows[::3])
    assert import_file(store, "orders", first, merchant="M1").accepted == 100
    grown = write_csv(tmp_path / "grown.csv", ORDER_HEADER, *rows)
    result = import_file(store, "orders", grown, merchant="M1")
    assert (result.accepted, result.rejected, result.skipped) == (200, 0, 100)
    with store.read() as session:
        totals = dict(session.execute(select(Order.channel_order_ref, Order.total)).all())
    assert len(totals) == 300
    assert all(totals[f"G-{i}"] == (1 + i % 3) * Decimal(10 + i) for i in range(300))
