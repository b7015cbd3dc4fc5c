"""tracklite's own JSON endpoints for the web UI (``/api/2.0/tracklite/...``)."""

from __future__ import annotations
