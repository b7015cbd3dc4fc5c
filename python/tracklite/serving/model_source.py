"""The model a scoring server serves, and following a registry alias or stage as it moves.

A ``models:/name@alias``, ``models:/name/<stage>`` or ``models:/name/latest`` URI is
resolved to a version when the server starts. With watching on, a background thread
asks the registry every ``poll_interval`` seconds which version the reference means now;
when it moves, the new version is loaded beside the old one and swapped in with one
assignment, so requests in flight finish on the model they started with and none waits.
A version that fails to load is reported and the old one keeps serving.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from tracklite.errors import InvalidParameterValue

_logger = logging.getLogger("tracklite.serving")

_STAGES = {"none", "staging", "production", "archived", "latest"}


def movable_reference(model_uri: str) -> str | None:
    """The registry reference (``name@alias``, ``name/<stage>``, ``name/latest``) in
    ``model_uri`` that can point at another version later, or None for fixed URIs."""
    if not model_uri.startswith("models:/"):
        return None
    ref = model_uri[len("models:/") :].strip("/")
    if "@" in ref:
        return ref
    name, sep, tail = ref.rpartition("/")
    if sep and name and tail.lower() in _STAGES:
        return ref
    return None


class ModelSource:
    """The served ``PyFuncModel`` (``model``) and the registry version it came from.

    Args:
        model_uri: Any URI ``tracklite.pyfunc.load_model`` takes.
        watch: Follow a movable reference (alias, stage, latest) as it moves.
        poll_interval: Seconds between registry checks when watching.

    Raises:
        InvalidParameterValue: when ``watch`` is asked for a URI that names a fixed model.
    """

    def __init__(self, model_uri: str, *, watch: bool = False, poll_interval: float = 5.0) -> None:
        self.model_uri = model_uri
        self.reference = movable_reference(model_uri)
        if watch and self.reference is None:
            raise InvalidParameterValue(
                f"--reload-on-alias-change needs a model URI that can move: models:/NAME@ALIAS, models:/NAME/STAGE "
                f"or models:/NAME/latest, not {model_uri!r}."
            )
        self.poll_interval = poll_interval
        self.version: str | None = None
        self.model: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._watch = watch
        self.load()

    def _resolve(self) -> Any:
        """The registry version the reference names now (None for fixed URIs)."""
        if self.reference is None:
            return None
        from tracklite.tracking.client import Client

        return Client().store.registry.resolve_model_reference(self.reference)

    def load(self) -> None:
        """Load the model the URI names now (the version the reference points at)."""
        from tracklite.pyfunc import load_model

        found = self._resolve()
        if found is None:
            self.model = load_model(self.model_uri)
            return
        model = load_model(f"models:/{found.name}/{found.version}")
        self.model, self.version = model, str(found.version)

    def start(self) -> None:
        """Start following the reference (no-op unless watching)."""
        if self._watch and self._thread is None:
            self._thread = threading.Thread(target=self._follow, name="tracklite-model-watch", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop following the reference."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _follow(self) -> None:
        while not self._stop.wait(self.poll_interval):
            try:
                found = self._resolve()
                if found is not None and str(found.version) != self.version:
                    previous = self.version
                    self.load()
                    _logger.warning("%s moved: now serving version %s (was %s)", self.model_uri, self.version, previous)
            except Exception as exc:  # noqa: BLE001 - keep serving the loaded model whatever went wrong
                _logger.error(
                    "Checking %s for a new version failed; still serving version %s: %s",
                    self.model_uri,
                    self.version,
                    exc,
                )
