"""Which store the tracking API talks to: ``set_tracking_uri`` and its defaults."""

from __future__ import annotations

import os

DEFAULT_TRACKING_URI = "mlruns.duckdb"
_tracking_uri: str | None = None


def set_tracking_uri(uri: str | os.PathLike[str]) -> None:
    """Choose the store for this process.

    Args:
        uri: A path to a ``.duckdb`` store file (created on first use), optionally
            prefixed ``file:``; a ``ducklake:`` URI (a lake, ``docs/scale-out.md``); or a
            tracking server's ``http(s)://`` URL. ``None`` resets to the default.
    """
    global _tracking_uri
    _tracking_uri = None if uri is None else os.fspath(uri)


def get_tracking_uri() -> str:
    """The current tracking URI: ``set_tracking_uri``'s, else ``$TRACKLITE_TRACKING_URI``,
    else ``./mlruns.duckdb`` (made absolute)."""
    uri = _tracking_uri or os.environ.get("TRACKLITE_TRACKING_URI") or DEFAULT_TRACKING_URI
    if uri.startswith("ducklake:") or ("://" in uri and not uri.startswith("file://")):
        return uri
    return os.path.abspath(uri.removeprefix("file://").removeprefix("file:"))


def is_tracking_uri_set() -> bool:
    """Whether a tracking URI was chosen explicitly or through the environment."""
    return _tracking_uri is not None or "TRACKLITE_TRACKING_URI" in os.environ
