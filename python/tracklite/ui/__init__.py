"""The web UI: a static single-page app served by the tracking server from this package.

``/`` serves ``static/index.html`` and ``/static/...`` the app's files, including the chart
library it draws with (dygraphs, in ``static/vendor`` with its licence), so the UI never
loads anything from the network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: The app's files, shipped inside the package.
STATIC_DIR = Path(__file__).parent / "static"


def ui_routes(ctx: Any) -> list[Any]:
    """The UI's routes (pages and static assets) for the server's application.

    Args:
        ctx: The server's ``ServerContext`` (unused: the app talks to the JSON API).

    Returns:
        Starlette routes for ``/`` and ``/static/...``.
    """
    from starlette.requests import Request
    from starlette.responses import FileResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    async def index(request: Request) -> Response:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    return [
        Route("/", index, methods=["GET", "HEAD"]),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]
