"""Storage backends behind the tracking API, chosen by tracking URI (see ``base``)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from tracklite.store.base import TrackingStore

_STORES: dict[str, TrackingStore] = {}
_LOCK = threading.Lock()


def get_store(uri: str) -> TrackingStore:
    """The process's store object for a tracking URI: a file path or ``file:`` path, a
    ``ducklake:`` URI (a ``LakeStore``), or a tracking server's ``http(s)://`` URL (a
    ``RestStore``, one per URL)."""
    if uri.startswith(("http://", "https://")):
        from tracklite.store.rest_store import RestStore

        key = uri.rstrip("/")
        return _cached(key, lambda: RestStore(key))
    if uri.startswith("ducklake:"):
        from tracklite.store.lake import parse_lake_uri
        from tracklite.store.lake_store import LakeStore

        return _cached(parse_lake_uri(uri).uri, lambda: LakeStore(uri))
    from tracklite.store.duckdb_store import DuckDBStore

    path = os.path.abspath(uri.removeprefix("file://").removeprefix("file:").removeprefix("duckdb:///"))
    return _cached(path, lambda: DuckDBStore(path))


def _cached(key: str, make: Callable[[], TrackingStore]) -> TrackingStore:
    """The store kept under ``key``, made once per process."""
    with _LOCK:
        store = _STORES.get(key)
        if store is None:
            store = make()
            _STORES[key] = store
        return store


__all__ = ["TrackingStore", "get_store"]
