"""Self-service pages (to come in this step)."""

from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Mount the self-service pages under /account."""
