"""The Dagster code location: store tables and landing files into the DuckDB warehouse, checks,
schedules, sensors, and the published read-only snapshot (see README.md in this folder)."""
