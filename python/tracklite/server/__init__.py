"""The tracking server: MLflow's REST API and the web UI over one store.

``tracklite server`` runs it; :func:`create_app` builds the ASGI application for tests
or for embedding. The server process owns the store file; clients talk HTTP.
"""

from __future__ import annotations

import os
from typing import Any

from tracklite.server.app import create_app


def run_server(
    store_uri: str,
    *,
    host: str = "127.0.0.1",
    port: int = 5000,
    workers: int = 1,
    auth: bool = False,
    ui: bool = True,
    log_level: str = "warning",
) -> None:
    """Serve ``store_uri`` until interrupted (uvicorn; ``workers`` processes share the store).

    Args:
        store_uri: The store file the server owns, or a ``ducklake:`` lake it shares with
            other servers and clients.
        host: Interface to listen on.
        port: TCP port.
        workers: Worker processes; each takes turns on the store file with the others.
        auth: Require HTTP basic auth and check permissions (users in the store).
        ui: Serve the web UI at ``/``.
        log_level: uvicorn's log level.
    """
    import uvicorn

    os.environ["TRACKLITE_SERVER_STORE"] = (
        store_uri if store_uri.startswith("ducklake:") else os.path.abspath(store_uri)
    )
    os.environ["TRACKLITE_SERVER_AUTH"] = "1" if auth else "0"
    os.environ["TRACKLITE_SERVER_UI"] = "1" if ui else "0"
    os.environ["TRACKLITE_SERVER_WORKERS"] = str(workers)
    options: dict[str, Any] = {"host": host, "port": port, "log_level": log_level, "factory": True}
    if workers > 1:
        options["workers"] = workers
    uvicorn.run("tracklite.server.app:app_from_environment", **options)


__all__ = ["create_app", "run_server"]
