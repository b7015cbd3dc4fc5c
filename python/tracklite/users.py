"""Who is acting: the user recorded on runs and in the registry's audit trail.

``TRACKLITE_USER`` names the user; otherwise the operating system's login name. A server
that authenticates its callers sets ``acting_user`` for the duration of a request, and
that name wins over both.
"""

from __future__ import annotations

import os
from contextvars import ContextVar

#: Set by a caller that knows better than the environment (an authenticated request).
acting_user: ContextVar[str | None] = ContextVar("tracklite_acting_user", default=None)


def current_user() -> str:
    """The acting user's name: ``acting_user``, else ``$TRACKLITE_USER``, else the login name."""
    import getpass

    named = acting_user.get() or os.environ.get("TRACKLITE_USER")
    if named:
        return named
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        return "unknown"
