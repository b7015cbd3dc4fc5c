"""What every ``tracklite`` subcommand shares: the ``--store`` option, a client, time format."""

from __future__ import annotations

import datetime as _dt
from typing import Any

import click

from tracklite.tracking._uri import get_tracking_uri


def fmt_time(ms: int | None) -> str:
    """Milliseconds since the epoch as local ``YYYY-mm-dd HH:MM:SS`` (empty for None)."""
    if ms is None:
        return ""
    return _dt.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def client_for(store: str | None) -> Any:
    """A ``Client`` on ``store``, or on the tracking URI in effect."""
    from tracklite.tracking.client import Client

    return Client(store or get_tracking_uri())


STORE_OPTION = click.option(
    "--store",
    "store",
    envvar="TRACKLITE_TRACKING_URI",
    default=None,
    help="Store file or ducklake: URI (default ./mlruns.duckdb, or $TRACKLITE_TRACKING_URI).",
)
