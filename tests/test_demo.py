"""The README's demo command works on the embedded defaults and tells the whole story."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.timeout(900)  # the whole tour: store, simulated shop, pipeline, dbt and the models
def test_demo_runs_end_to_end_on_embedded_defaults(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("OPS_STORE_URL", "ECOM_PII_KEY", "ECOM_USER")}
    env.update(ECOM_DATA_DIR=str(tmp_path), COLUMNS="200")
    ecom = Path(sys.executable).with_name("ecom")
    done = subprocess.run([str(ecom), "demo", "--no-serve"], env=env, capture_output=True, text=True, timeout=840)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "refused W-1002: not enough stock for: PAN-28" in out
    assert "replayed=True" in out
    assert "delivered" in out and "refunded 12.50" in out
    assert "open alerts now: TENT-2" in out
    assert "support sees Ada Lovelace" in out and "A*** L***" in out
    assert "verified manifest" in out
    assert "A simulated shop" in out and (tmp_path / "demo" / "shop.sqlite").exists()
    assert any((tmp_path / "landing" / "events").iterdir())
    assert (tmp_path / "demo" / "store.sqlite").exists()
    assert "8. The channel API" in out and "replayed=True, same body=True" in out
    assert "422 application/problem+json: lines[0].qty" in out and "orders 201" in out
    assert "9. The pipeline" in out and "every check passed" in out
    # the models ran on the 180-day shop and report against their baselines
    assert "demand forecast WAPE" in out and "recommendations NDCG@10" in out
    assert "churn model ROC AUC" in out  # 270 days: enough history to train it
    assert (tmp_path / "snapshots" / "current.duckdb").is_symlink()
    # one dashboard sign-in per role, printed once and kept in an owner-only file
    assert "10. Merchant reports" in out
    reports = sorted(p.relative_to(tmp_path / "reports").as_posix() for p in (tmp_path / "reports").rglob("*.pdf"))
    assert len(reports) == 2 and all(r.startswith("sim-shop-0") and "/weekly-" in r for r in reports), reports
    assert all(r.split("/")[-1] in out for r in reports)
    assert "11. The dashboards" in out and "Serve them with:" in out
    users = (tmp_path / "demo" / "dashboard-users.txt")
    assert users.stat().st_mode & 0o077 == 0
    rows = [line.split("\t") for line in users.read_text().splitlines()]
    assert [r[0] for r in rows] == ["demo-admin", "demo-merchant", "demo-analyst", "demo-support", "demo-engineer"]
    assert all(password in out for _, password, _ in rows)
    assert (tmp_path / "pii.keys.json").stat().st_mode & 0o077 == 0  # owner-only key file
    assert b"Lovelace" not in (tmp_path / "demo" / "store.sqlite").read_bytes()
