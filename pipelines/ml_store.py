"""Where the model assets read and write: marts in, `ml.*` tables and model files out.

Reads and writes each take the warehouse's writer lock only for as long as they touch the file,
so training (minutes on a large shop) never blocks the loads. A set of output tables is replaced
in one transaction: readers see all of a model's outputs from one run, or all from the previous.
Model files are written beside, then renamed over the old one (never half a file)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import joblib
import polars as pl

from pipelines.settings import PipelineSettings
from pipelines.warehouse import create_if_missing, writer

ML_SCHEMA = "ml"


class MissingInput(RuntimeError):
    """A mart a model reads is not there: the message says which command builds it."""


def read_frames(settings: PipelineSettings, queries: dict[str, str]) -> dict[str, pl.DataFrame]:
    """Run each query (SQL over the marts) and return its result as a polars frame."""
    with writer(settings) as con:
        out = {}
        for name, sql in queries.items():
            try:
                out[name] = con.sql(sql).pl()
            except Exception as error:  # duckdb.CatalogException and friends
                if "does not exist" in str(error):
                    raise MissingInput(f"{name}: {error}. Build the marts first: ecom pipeline run") from error
                raise
        return out


def replace_tables(settings: PipelineSettings, tables: dict[str, pl.DataFrame]) -> dict[str, int]:
    """Replace ml.<name> with each frame, all in one transaction; returns the row counts."""
    with writer(settings, hold=[f"{ML_SCHEMA}.{name}" for name in tables]) as con:
        create_if_missing(con, f"CREATE SCHEMA IF NOT EXISTS {ML_SCHEMA}")
        con.execute("BEGIN")
        try:
            for name, frame in tables.items():
                con.register("_frame", frame.to_arrow())
                con.execute(f'CREATE OR REPLACE TABLE {ML_SCHEMA}."{name}" AS SELECT * FROM _frame')
                con.unregister("_frame")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return {name: frame.height for name, frame in tables.items()}


def model_path(settings: PipelineSettings, name: str) -> Path:
    return settings.models_dir / f"{name}.joblib"


def save_model(settings: PipelineSettings, name: str, model: Any) -> Path:
    path = model_path(settings, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{name}.", suffix=".tmp")
    os.close(handle)
    try:
        joblib.dump(model, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_model(settings: PipelineSettings, name: str) -> Any:
    path = model_path(settings, name)
    if not path.exists():
        raise MissingInput(f"no trained model at {path}: materialise its training asset first "
                           "(ecom pipeline run trains every model)")
    return joblib.load(path)


def delete_model(settings: PipelineSettings, name: str) -> None:
    model_path(settings, name).unlink(missing_ok=True)
