"""``tracklite.register_model``: the one-call way into the registry (MLflow's ``mlflow.register_model``)."""

from __future__ import annotations

from typing import Any

from tracklite.entities import ModelVersion


def register_model(model_uri: str, name: str, tags: dict[str, Any] | None = None) -> ModelVersion:
    """Register the model at ``model_uri`` as the next version of ``name``, creating the
    registered model if it does not exist yet (both in one transaction: a failed call
    changes nothing).

    Args:
        model_uri: ``runs:/<run_id>/<name>``, ``models:/<model_id>`` (``log_model``'s
            ``model_uri``), ``models:/<name>/<version>`` or a local model directory.
        name: The registered model.
        tags: Tags for the new version.

    Returns:
        The new version; its files are pinned in the store.

    Examples:
        >>> import tracklite  # doctest: +SKIP
        >>> info = tracklite.sklearn.log_model(model, name="model")  # doctest: +SKIP
        >>> tracklite.register_model(info.model_uri, "iris").version  # doctest: +SKIP
        1
    """
    from tracklite.tracking.fluent import _client

    return _client().store.registry.create_model_version(name, model_uri, tags=tags, create_model=True)
