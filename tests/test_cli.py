"""The `ecom` command-line contract, run as a user runs it: a subprocess per command."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ops_store.db import Store
from tests.factories import order_doc

ECOM = Path(sys.executable).parent / "ecom"


class Cli:
    def __init__(self, data_dir: Path, store_url: str | None = None) -> None:
        self.env = {k: v for k, v in os.environ.items() if k not in ("OPS_STORE_URL", "ECOM_DATA_DIR")}
        self.env["ECOM_DATA_DIR"] = str(data_dir)
        if store_url is not None:
            self.env["OPS_STORE_URL"] = store_url

    def __call__(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(ECOM), *args], input=stdin, capture_output=True, text=True, env=self.env,
                              timeout=120, check=False)

    def ok(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        done = self(*args, stdin=stdin)
        assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done

    def json(self, *args: str, stdin: str | None = None) -> Any:
        return json.loads(self.ok(*args, "--json", stdin=stdin).stdout)

    def error(self, *args: str, stdin: str | None = None) -> dict[str, Any]:
        done = self(*args, "--json", stdin=stdin)
        assert done.returncode != 0, f"{args} should have failed:\n{done.stdout}"
        body = json.loads(done.stdout)
        assert set(body) == {"error"}
        assert isinstance(body["error"]["code"], str) and body["error"]["code"]
        assert isinstance(body["error"]["message"], str) and body["error"]["message"]
        return body["error"]


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "data")


@pytest.fixture(scope="module")
def shop_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with a shop set up through the CLI once; tests get a copy."""
    data = tmp_path_factory.mktemp("cli-shop") / "data"
    _set_up_shop(Cli(data))
    return data


@pytest.fixture
def shop_cli(shop_template: Path, tmp_path: Path) -> Cli:
    data = tmp_path / "data"
    data.mkdir()
    for f in shop_template.glob("store.sqlite*"):
        shutil.copy(f, data / f.name)
    return Cli(data)


def _set_up_shop(cli: Cli) -> None:
    cli.ok("db", "upgrade")
    cli.ok("merchant", "add", "--code", "M1", "--name", "N")
    cli.ok("warehouse", "add", "--code", "W1", "--name", "Main", "--priority", "1")
    cli.ok("warehouse", "add", "--code", "W2", "--name", "East", "--priority", "2")
    cli.ok("product", "add", "--merchant", "M1", "--sku", "SKU-1", "--name", "N", "--price", "9.99", "--cost", "5.00")
    cli.ok("stock", "receive", "--sku", "SKU-1", "--warehouse", "W1", "--qty", "10")
    cli.ok("stock", "receive", "--sku", "SKU-1", "--warehouse", "W2", "--qty", "3")
    cli.ok("carrier", "add", "--code", "FAST", "--name", "Fast Co")
    cli.ok("carrier", "add-option", "--code", "standard", "--carrier", "FAST", "--kind", "standard",
           "--name", "Standard", "--price", "4.90", "--promised-days", "3")


def _stock(cli: Cli) -> dict[str, dict[str, Any]]:
    rows = cli.json("stock", "show", "--sku", "SKU-1")
    return {r["warehouse"]: r for r in rows}


def _full_flow(cli: Cli) -> None:
    _set_up_shop(cli)

    merchants = cli.json("merchant", "list")
    assert isinstance(merchants, list)
    assert [(m["code"], m["name"]) for m in merchants] == [("M1", "N")]

    rows = cli.json("stock", "show", "--sku", "SKU-1")
    assert [r["warehouse"] for r in rows] == ["W1", "W2"]
    for r in rows:
        assert {"sku", "warehouse", "on_hand", "reserved", "available"} <= set(r)
        assert r["sku"] == "SKU-1"
        assert r["available"] == r["on_hand"] - r["reserved"]
    assert [(r["on_hand"], r["reserved"]) for r in rows] == [(10, 0), (3, 0)]

    placed = cli.json("order", "place", stdin=json.dumps(order_doc("CLI-1", [("SKU-1", 12)])))
    order_id = placed["order_id"]
    assert isinstance(order_id, int)
    assert placed["status"] == "paid"
    assert placed["total"] == "124.78"  # 12 x 9.99 + 4.90, an exact decimal string
    assert _stock(cli)["W1"]["reserved"] == 10
    assert _stock(cli)["W2"]["reserved"] == 2
    assert _stock(cli)["W2"]["available"] == 1

    again = cli.json("order", "place", stdin=json.dumps(order_doc("CLI-1", [("SKU-1", 12)])))
    assert (again["order_id"], again["replayed"]) == (order_id, True)

    shown = cli.json("order", "show", str(order_id))
    assert shown["order_id"] == order_id
    assert shown["status"] == "paid"
    assert shown["lines"][0]["sku"] == "SKU-1"
    assert [(a["warehouse"], a["qty"]) for a in shown["lines"][0]["allocations"]] == [("W1", 10), ("W2", 2)]
    assert shown["payment"]["status"] == "authorized"

    cancelled = cli.ok("order", "cancel", str(order_id))
    assert "cancelled" in cancelled.stdout
    after = cli.json("order", "show", str(order_id))
    assert after["status"] == "cancelled"
    assert after["payment"]["status"] == "voided"
    assert [(r["on_hand"], r["reserved"], r["available"]) for r in _stock(cli).values()] == [(10, 0, 10), (3, 0, 3)]

    err = cli.error("order", "cancel", str(order_id))
    assert err["code"] == "illegal_transition"


def test_cli_full_flow_on_sqlite(cli: Cli, tmp_path: Path) -> None:
    _full_flow(cli)
    assert (tmp_path / "data" / "store.sqlite").exists()  # the default store lives in ECOM_DATA_DIR
    assert (tmp_path / "data" / "logs" / "ecom.log").exists()


@pytest.mark.postgres
def test_cli_full_flow_on_postgresql(fresh_store: Callable[[str], Store], tmp_path: Path) -> None:
    store = fresh_store("postgresql")
    cli = Cli(tmp_path / "data", store.url)
    _full_flow(cli)
    assert not (tmp_path / "data" / "store.sqlite").exists()
    from ops_store.services import orders

    assert [o["channel_order_ref"] for o in orders.list_orders(store)] == ["CLI-1"]


def test_db_upgrade_is_repeatable(cli: Cli) -> None:
    first = cli.json("db", "upgrade")
    second = cli.json("db", "upgrade")
    assert first["revision"] == second["revision"]
    assert first["revision"] not in (None, "base")


def test_unknown_merchant_is_an_error(cli: Cli) -> None:
    cli.ok("db", "upgrade")
    err = cli.error("product", "add", "--merchant", "NOPE", "--sku", "SKU-1", "--name", "N", "--price", "9.99",
                    "--cost", "5.00")
    assert err["code"] == "not_found"
    assert "NOPE" in err["message"]
    assert err["field"] == "merchant"
    plain = cli("product", "add", "--merchant", "NOPE", "--sku", "SKU-1", "--name", "N", "--price", "9.99",
                "--cost", "5.00")
    assert plain.returncode != 0
    assert "not_found" in plain.stderr


def test_duplicate_merchant_is_an_error(cli: Cli) -> None:
    cli.ok("db", "upgrade")
    cli.ok("merchant", "add", "--code", "M1", "--name", "N")
    err = cli.error("merchant", "add", "--code", "M1", "--name", "Other")
    assert err["code"] == "already_exists"
    assert [m["name"] for m in cli.json("merchant", "list")] == ["N"]


def test_short_stock_is_refused_and_reserves_nothing(shop_cli: Cli) -> None:
    cli = shop_cli
    err = cli.error("order", "place", stdin=json.dumps(order_doc("CLI-2", [("SKU-1", 14)])))
    assert err["code"] == "insufficient_stock"
    assert err["details"] == [{"sku": "SKU-1", "requested": 14, "available": 13}]
    assert "SKU-1" in err["message"]
    assert all(r["reserved"] == 0 for r in _stock(cli).values())
    assert cli.json("order", "list") == []


@pytest.mark.parametrize("stdin", ["{not json", "", "[1, 2"])
def test_bad_json_on_stdin_is_an_error(shop_cli: Cli, stdin: str) -> None:
    cli = shop_cli
    err = cli.error("order", "place", stdin=stdin)
    assert err["code"] == "invalid_input"
    assert err["field"] == "document"
    assert cli.json("order", "list") == []


def test_invalid_document_names_the_field(shop_cli: Cli) -> None:
    cli = shop_cli
    err = cli.error("order", "place", stdin=json.dumps(order_doc("CLI-3", [("SKU-1", 0)])))
    assert err["code"] == "invalid_input"
    assert err["field"] == "lines[0].qty"


def test_order_place_reads_a_file(shop_cli: Cli, tmp_path: Path) -> None:
    cli = shop_cli
    path = tmp_path / "order.json"
    path.write_text(json.dumps(order_doc("CLI-4", [("SKU-1", 1)], method="bank_transfer")))
    placed = cli.json("order", "place", "--file", str(path))
    assert placed["status"] == "placed"
    assert placed["payment"]["status"] == "pending"


def test_unknown_order_is_an_error(cli: Cli) -> None:
    cli.ok("db", "upgrade")
    err = cli.error("order", "show", "999")
    assert err["code"] == "not_found"
    assert cli("order", "show", "999").returncode != 0


def test_bad_decimal_is_an_error(cli: Cli) -> None:
    cli.ok("db", "upgrade")
    cli.ok("merchant", "add", "--code", "M1", "--name", "N")
    err = cli.error("product", "add", "--merchant", "M1", "--sku", "SKU-1", "--name", "N", "--price", "9.999",
                    "--cost", "5.00")
    assert err["code"] == "invalid_input"
    assert err["field"] == "price"
    assert cli.json("product", "list") == []
