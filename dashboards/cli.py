"""`ecom dashboard [--port N]`: serve the dashboards with `streamlit run` on this machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import typer

from dashboards.settings import DashboardSettings

APP = Path(__file__).resolve().with_name("app.py")
app = typer.Typer(help="The analytics dashboards (Streamlit), read from the published warehouse snapshot.")


def streamlit_command(port: int, address: str = "127.0.0.1") -> list[str]:
    """The `streamlit run` command line: headless, no usage statistics sent anywhere, no file
    watcher (the code does not change under a running server), bound to ``address``."""
    return [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port),
            "--server.address", address, "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none", "--global.developmentMode", "false",
            "--client.toolbarMode", "viewer"]


def serve(port: int | None = None, address: str = "127.0.0.1", env: dict[str, str] | None = None) -> int:
    """Run the dashboards until interrupted; returns Streamlit's exit code."""
    settings = DashboardSettings()
    port = port or settings.port
    if settings.current_snapshot() is None:
        typer.echo(f"No warehouse published under {settings.snapshot_dir} yet: the pages will say so until "
                   "`ecom pipeline run` has built one.", err=True)
    typer.echo(f"Dashboards on http://{address}:{port}  (Ctrl-C stops them)")
    try:
        return subprocess.call(streamlit_command(port, address), env={**os.environ, **(env or {})})
    except KeyboardInterrupt:
        return 0


@app.callback(invoke_without_command=True)
def dashboard(
    port: int = typer.Option(None, "--port", help="Port to serve on (default ECOM_DASHBOARD_PORT or 8501)."),
    address: str = typer.Option("127.0.0.1", "--address", help="Address to bind (default loopback only)."),
) -> None:
    """Serve the dashboards (sign in with a store user: `ecom user add`)."""
    raise typer.Exit(serve(port, address))
