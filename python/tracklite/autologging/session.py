"""One autologged training call: the run it logs into, and the rule that logging never breaks it.

A patched ``fit`` opens a ``TrainingSession``. Calls made inside it (a pipeline fitting its
steps, a search fitting candidates, ``xgboost.train`` under ``XGBClassifier.fit``) see the outer
session and log nothing of their own, so one user call gives one record.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tracklite.autologging.config import AutologConfig

AUTOLOGGING_TAG = "mlflow.autologging"

_local = threading.local()


@dataclass
class TrainingSession:
    """The outermost patched training call on this thread."""

    flavor: str
    config: AutologConfig
    run_id: str | None  # None: nothing is logged (exclusive mode beside a user's run, or no run)
    state: dict[str, Any] = field(default_factory=dict)

    def warn(self, what: str, exc: BaseException) -> None:
        """Report a logging failure (unless ``silent``); training goes on."""
        warn(self.config, self.flavor, what, exc)


def warn(config: AutologConfig, flavor: str, what: str, exc: BaseException) -> None:
    """The warning for a failed autologging step: which integration, what it tried, why."""
    if not config.silent:
        warnings.warn(
            f"tracklite autologging ({flavor}) could not {what}: {exc!r}; training was not affected",
            stacklevel=_user_stacklevel(),
        )


# Frames of these modules sit between a warning and the user's call that caused it.
_LIBRARY_FRAMES = ("tracklite.", "contextlib", "sklearn", "xgboost", "lightgbm", "functools")


def _user_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the user's line, past autologging, the patched
    library and ``contextlib``."""
    level, frame = 2, sys._getframe(2)
    while frame.f_back is not None and str(frame.f_globals.get("__name__", "")).startswith(_LIBRARY_FRAMES):
        frame, level = frame.f_back, level + 1
    return level


def current() -> TrainingSession | None:
    """The session this thread is inside, if any."""
    return getattr(_local, "session", None)


@contextlib.contextmanager
def best_effort(session: TrainingSession, what: str) -> Iterator[None]:
    """Run a logging step; a failure becomes a warning instead of an error in the user's code."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - autologging must never break training
        session.warn(what, exc)


def _start_run(flavor: str, config: AutologConfig) -> tuple[str | None, bool]:
    """``(run id, whether this session created the run)``."""
    import tracklite

    active = tracklite.active_run()
    if active is not None:
        # exclusive: leave runs the user started alone.
        return (None, False) if config.exclusive else (active.info.run_id, False)
    tags = {AUTOLOGGING_TAG: flavor, **config.extra_tags}
    return tracklite.start_run(tags=tags).info.run_id, True


@contextlib.contextmanager
def training_session(flavor: str, config: AutologConfig) -> Iterator[TrainingSession | None]:
    """Open the outermost session (``None`` inside another one): start a run if none is active
    and end it afterwards, FAILED if training raised."""
    if current() is not None:
        yield None
        return
    import tracklite

    session = TrainingSession(flavor, config, None)
    created = False
    try:
        session.run_id, created = _start_run(flavor, config)
    except Exception as exc:  # noqa: BLE001 - no run to log into; train anyway
        session.warn("start a run", exc)
    _local.session = session
    try:
        yield session
    except BaseException:
        if created:
            with contextlib.suppress(Exception):
                tracklite.end_run("FAILED")
        raise
    else:
        if created:
            with best_effort(session, "end its run"):
                tracklite.end_run()
    finally:
        _local.session = None


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Mark this thread as inside a session without logging: for autologging's own calls to
    ``predict``, ``score`` and metrics, which must not be recorded as the user's."""
    outer = current()
    if outer is not None:
        yield
        return
    _local.session = TrainingSession("", AutologConfig(), None)
    try:
        yield
    finally:
        _local.session = None
