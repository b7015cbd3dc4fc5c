"""``tracklite server``, ``tracklite ui`` and ``tracklite users``: the tracking server."""

from __future__ import annotations

import click

from tracklite.cli_shared import STORE_OPTION
from tracklite.tracking._uri import get_tracking_uri


def _store_path(store: str | None) -> str:
    uri = store or get_tracking_uri()
    if "://" in uri and not uri.startswith("file://"):
        raise click.UsageError(f"--store must be a store file the server owns, not {uri!r}.")
    return uri


@click.command("server")
@STORE_OPTION
@click.option("--host", "-h", default="127.0.0.1", show_default=True, help="Interface to listen on (0.0.0.0: all).")
@click.option("--port", "-p", default=5000, show_default=True, type=click.IntRange(0, 65535), help="TCP port.")
@click.option("--workers", "-w", default=1, show_default=True, type=click.IntRange(1, 64), help="Worker processes.")
@click.option("--auth", is_flag=True, help="Require HTTP basic auth; users and permissions live in the store.")
@click.option("--no-ui", is_flag=True, help="Serve only the REST API, not the web UI.")
@click.option("--log-level", default="warning", show_default=True, help="uvicorn log level (info shows requests).")
def server(store: str | None, host: str, port: int, workers: int, auth: bool, no_ui: bool, log_level: str) -> None:
    """Serve a store over MLflow's REST API, with the web UI at /.

    MLflow clients use it with mlflow.set_tracking_uri("http://HOST:PORT"), tracklite's with
    tracklite.set_tracking_uri("http://HOST:PORT"). The server owns the store file.
    """
    from tracklite.server import run_server

    path = _store_path(store)
    if auth:
        from tracklite.server.auth import UserStore

        if not UserStore(path).has_admin():
            raise click.UsageError(
                "--auth needs an admin user first: run `tracklite users create NAME --admin --store "
                f"{path}` (it asks for the password)."
            )
    click.echo(f"tracklite server on http://{host}:{port} (store {path}{', auth on' if auth else ''})", err=True)
    run_server(path, host=host, port=port, workers=workers, auth=auth, ui=not no_ui, log_level=log_level)


@click.command("ui")
@STORE_OPTION
@click.option("--port", "-p", default=5000, show_default=True, type=click.IntRange(0, 65535), help="TCP port.")
def ui(store: str | None, port: int) -> None:
    """Serve the web UI (and the REST API) on localhost and print its URL."""
    from tracklite.server import run_server

    path = _store_path(store)
    click.echo(f"tracklite UI: http://127.0.0.1:{port}/  (store {path}; Ctrl+C stops it)")
    run_server(path, host="127.0.0.1", port=port)
