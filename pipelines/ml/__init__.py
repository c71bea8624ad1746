"""Model code for the pipeline's ML assets: pure functions (arrays and polars frames in, numbers
and frames out), unit-tested with literal data; the Dagster assets that call them are thin."""
