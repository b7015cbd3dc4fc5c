"""The web UI: a static single-page app served by the tracking server from this package.

``/`` serves ``static/index.html``; ``/static/...`` the app's own files; and
``/static/vendor/plotly.min.js`` the Plotly bundle shipped inside the installed ``plotly``
Python package, so the UI never loads anything from the network. Without ``plotly`` the
UI still works and says how to get charts (``pip install plotly``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

#: The app's files, shipped inside the package.
STATIC_DIR = Path(__file__).parent / "static"


def plotly_bundle() -> Path | None:
    """The path of ``plotly.min.js`` inside the installed ``plotly`` package, or None."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "package_data" / "plotly.min.js"
        if candidate.is_file():
            return candidate
    return None


def ui_routes(ctx: Any) -> list[Any]:
    """The UI's routes (pages and static assets) for the server's application.

    Args:
        ctx: The server's ``ServerContext`` (unused: the app talks to the JSON API).

    Returns:
        Starlette routes for ``/``, ``/static/vendor/plotly.min.js`` and ``/static/...``.
    """
    from starlette.requests import Request
    from starlette.responses import FileResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    bundle = plotly_bundle()

    async def index(request: Request) -> Response:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    async def plotly_js(request: Request) -> Response:
        if bundle is None:
            return Response(
                "/* plotly is not installed on the server: pip install plotly */\n",
                status_code=404,
                media_type="text/javascript",
            )
        return FileResponse(bundle, media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"})

    return [
        Route("/", index, methods=["GET", "HEAD"]),
        Route("/static/vendor/plotly.min.js", plotly_js, methods=["GET", "HEAD"]),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]
