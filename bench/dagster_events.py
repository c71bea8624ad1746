"""What Dagster's own bookkeeping costs a run, per event: a job of N trivial assets run in process
on an instance with the stock SQLite event log (the baseline) and on one with the pooled event
log that `ecom pipeline` configures (pipelines/dagster_storage.py), in the same process, each on a
fresh DAGSTER_HOME.

    .venv/bin/python bench/dagster_events.py [--assets 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.dagster_storage import event_log_yaml  # noqa: E402

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _job(n: int) -> dg.JobDefinition:
    def trivial(i: int) -> dg.AssetsDefinition:
        @dg.asset(name=f"asset_{i}")
        def _asset() -> None:
            return None
        return _asset

    defs = dg.Definitions(assets=[trivial(i) for i in range(n)],
                          jobs=[dg.define_asset_job("all_assets", selection=dg.AssetSelection.all())])
    return defs.resolve_job_def("all_assets")


def one_run(job: dg.JobDefinition, pooled: bool) -> tuple[float, int]:
    """Seconds of one run and the events it wrote, on a fresh instance."""
    home = Path(tempfile.mkdtemp(prefix="ecom_bench_dagster_"))
    try:
        config = "telemetry:\n  enabled: false\n"
        if pooled:
            config += event_log_yaml(str(home / "history" / "runs"))
        (home / "dagster.yaml").write_text(config)
        os.environ["DAGSTER_HOME"] = str(home)
        with dg.DagsterInstance.get() as instance:
            began = time.perf_counter()
            result = job.execute_in_process(instance=instance, run_config=QUIET)
            took = time.perf_counter() - began
            assert result.success
            return took, len(instance.all_logs(result.run_id))
    finally:
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assets", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each; the fastest counts")
    args = parser.parse_args()
    job = _job(args.assets)
    best: dict[bool, tuple[float, int]] = {}
    for _ in range(args.rounds):
        for pooled in (False, True):
            took, events = one_run(job, pooled)
            if pooled not in best or took < best[pooled][0]:
                best[pooled] = (took, events)
    for pooled, label in ((False, "stock SQLite event log (baseline)"), (True, "pooled SQLite event log")):
        took, events = best[pooled]
        print(f"{label:<36} {events:,} events in {took:.2f} s: {took / events * 1000:.2f} ms an event")
    print(f"ratio pooled / stock: {best[True][0] / best[False][0]:.2f}")


if __name__ == "__main__":
    main()
