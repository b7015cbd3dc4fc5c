"""Writing what autologging found into a run: params, tags, metrics and files."""

from __future__ import annotations

from typing import Any

from tracklite.entities import Param, RunTag
from tracklite.validation import MAX_PARAM_VAL_LENGTH, MAX_PARAMS_TAGS_PER_BATCH


def param_text(value: Any) -> str:
    """A param value as stored: ``str``, cut to the store's limit."""
    text = str(value)
    return text if len(text) <= MAX_PARAM_VAL_LENGTH else text[: MAX_PARAM_VAL_LENGTH - 3] + "..."


def log_params(run_id: str, params: dict[str, Any]) -> None:
    """Log ``params`` in batches of the store's size."""
    import tracklite

    client = tracklite.Client()
    items = [Param(str(k), param_text(v)) for k, v in params.items()]
    for start in range(0, len(items), MAX_PARAMS_TAGS_PER_BATCH):
        client.log_batch(run_id, params=items[start : start + MAX_PARAMS_TAGS_PER_BATCH])


def set_tags(run_id: str, tags: dict[str, str]) -> None:
    """Set ``tags`` on the run."""
    import tracklite

    tracklite.Client().log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])


def log_metrics(run_id: str, metrics: dict[str, float], step: int = 0) -> None:
    """Log ``metrics`` at ``step`` through the run's metric writer (the ``log_metric`` path)."""
    import tracklite

    tracklite.log_metrics({k: float(v) for k, v in metrics.items()}, step=step, run_id=run_id)


def log_file(run_id: str, data: bytes, path: str) -> None:
    """Store ``data`` as the artifact file ``path`` of the run."""
    from tracklite.tracking.fluent import _client

    _client().store.log_artifact_bytes(run_id, data, path)
