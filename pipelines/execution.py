"""How a build job runs from the command line: in this process, or with Dagster's multiprocess
executor (every step in its own process, ECOM_PIPELINE_MAX_CONCURRENT at a time).

On a warehouse file every step queues on its one writer, so one process is the quickest (no
per-step start-up). On a DuckLake the steps write at once, and the multiprocess executor, the one
`dagster dev`, the daemon's schedules and a cluster use, runs the store-table groups and the model
families side by side; a step that dies takes only its own process with it. A step process
cannot be handed a job object, so it rebuilds the job from this module by name (`job_named`),
the way Dagster reconstructs any job in another process.
"""

from __future__ import annotations

import uuid
from typing import Literal

import dagster as dg

Executor = Literal["in_process", "multiprocess"]
INVOCATION_TAG = "ecom/invocation"


def job_named(name: str) -> dg.JobDefinition:
    """The code location's job `name`, with its resources (what each step process rebuilds)."""
    from pipelines.definitions import build_definitions

    return build_definitions().resolve_job_def(name)


def execute(defs: dg.Definitions, job_name: str, instance: dg.DagsterInstance, *, executor: Executor,
            run_config: dict[str, object], tags: dict[str, str] | None = None,
            asset_selection: list[dg.AssetKey] | None = None,
            partition_key: str | None = None) -> tuple[str, dg.ExecuteInProcessResult | dg.ExecuteJobResult]:
    """Run `job_name` to the end; returns the run id and Dagster's result (failures inside it)."""
    if executor == "in_process" or partition_key is not None:  # a partitioned run is one step: no gain
        run_id = str(uuid.uuid4())
        result = defs.resolve_job_def(job_name).execute_in_process(
            instance=instance, run_id=run_id, run_config=run_config, raise_on_error=False, tags=tags,
            asset_selection=asset_selection, partition_key=partition_key)
        return run_id, result
    job = dg.build_reconstructable_job("pipelines.execution", "job_named", reconstructable_args=(job_name,))
    result = dg.execute_job(job, instance=instance, run_config=run_config, tags=tags, raise_on_error=False,
                            asset_selection=asset_selection)
    return result.run_id, result
