"""`ecom api [--port N] [--workers N]`: serve the channel API and the self-service site."""

from __future__ import annotations

import copy
from typing import Any

import typer

from ops_store.api.settings import SECRET_NAMES, ApiSettings, api_secret


def api_command(
    port: int = typer.Option(None, "--port", help="Port (default ECOM_API_PORT or 8000)."),
    host: str = typer.Option(None, "--host", help="Address to bind (default ECOM_API_HOST, loopback only)."),
    workers: int = typer.Option(None, "--workers", help="Worker processes (default ECOM_API_WORKERS or 2)."),
    access_log: bool = typer.Option(False, "--access-log/--no-access-log",
                                    help="Log each request: method, route template, status, time."),
) -> None:
    """Serve the API (OpenAPI page at /docs) and the customers' self-service site (/account)."""
    import uvicorn

    settings = ApiSettings()
    for name in SECRET_NAMES:  # made once here, before the workers start, so they all share them
        api_secret(name)
    host, port = host or settings.host, port or settings.port
    typer.echo(f"API on http://{host}:{port}/v1  (OpenAPI page: /docs, self-service: /account; Ctrl-C stops)")
    # uvicorn's own access log is off: it would print raw paths and query strings.
    uvicorn.run("ops_store.api.app:create_app", factory=True, host=host, port=port,
                workers=workers or settings.workers, access_log=False, log_level="info",
                log_config=_log_config(access_log),
                proxy_headers=False, server_header=False, date_header=True)


def _log_config(access_log: bool) -> dict[str, Any]:
    """uvicorn's logging, plus ours (each worker process applies it when it starts)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["ops_store"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    config["loggers"]["ops_store.api.access"] = {"handlers": ["default"], "propagate": False,
                                                 "level": "INFO" if access_log else "WARNING"}
    return config
