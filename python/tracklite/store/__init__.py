"""Storage backends behind the tracking API, chosen by tracking URI (see ``base``)."""

from __future__ import annotations

import os
import threading

from tracklite.store.base import TrackingStore

_STORES: dict[str, TrackingStore] = {}
_LOCK = threading.Lock()


def get_store(uri: str) -> TrackingStore:
    """The process's store object for a tracking URI: a file path or ``file:`` path, a
    ``ducklake:`` URI (a ``LakeStore``), or a tracking server's ``http(s)://`` URL (a
    ``RestStore``, one per URL)."""
    if uri.startswith(("http://", "https://")):
        key = uri.rstrip("/")
        with _LOCK:
            remote = _STORES.get(key)
            if remote is None:
                from tracklite.store.rest_store import RestStore

                remote = RestStore(key)
                _STORES[key] = remote
            return remote
    if uri.startswith("ducklake:"):
        from tracklite.store.lake import parse_lake_uri

        key = parse_lake_uri(uri).uri
        with _LOCK:
            lake = _STORES.get(key)
            if lake is None:
                from tracklite.store.lake_store import LakeStore

                lake = LakeStore(uri)
                _STORES[key] = lake
            return lake
    path = os.path.abspath(uri.removeprefix("file://").removeprefix("file:").removeprefix("duckdb:///"))
    with _LOCK:
        store = _STORES.get(path)
        if store is None:
            from tracklite.store.duckdb_store import DuckDBStore

            store = DuckDBStore(path)
            _STORES[path] = store
        return store


__all__ = ["TrackingStore", "get_store"]
