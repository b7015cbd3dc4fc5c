"""Storage backends behind the tracking API, chosen by tracking URI (see ``base``)."""

from __future__ import annotations

import os
import threading

from tracklite.store.base import TrackingStore

_STORES: dict[str, TrackingStore] = {}
_LOCK = threading.Lock()


def get_store(uri: str) -> TrackingStore:
    """The process's store object for a tracking URI (a file path or ``file:`` path).

    Raises:
        InvalidParameterValue: for URIs no backend serves yet.
    """
    from tracklite.errors import InvalidParameterValue

    if uri.startswith(("http://", "https://")):
        raise InvalidParameterValue(
            f"tracking URI '{uri}': the tracklite server client is not available in this version; "
            "use a store file path such as ./mlruns.duckdb"
        )
    path = os.path.abspath(uri.removeprefix("file://").removeprefix("file:").removeprefix("duckdb:///"))
    with _LOCK:
        store = _STORES.get(path)
        if store is None:
            from tracklite.store.duckdb_store import DuckDBStore

            store = DuckDBStore(path)
            _STORES[path] = store
        return store


__all__ = ["TrackingStore", "get_store"]
