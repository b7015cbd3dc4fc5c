"""The web UI: a static single-page app served by the tracking server from this package."""

from __future__ import annotations

from typing import Any


def ui_routes(ctx: Any) -> list[Any]:
    """The UI's routes (pages and static assets) for the server's application."""
    return []
