"""``log_model`` for every flavor: a logged model in the store, linked to the active run.

As in MLflow 3, logging creates a *logged model* (id ``m-<hex>``) in the run's experiment
(or the active experiment without a run), copies the run's params onto it, saves the model
directory with the flavor's ``save_model``, and stores the files inside the store file.
``runs:/<run_id>/<name>`` and ``models:/<model_id>`` both load it afterwards; with
``registered_model_name`` it also becomes the next version of that registered model.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tracklite.errors import InvalidParameterValue
from tracklite.models.model import Model


@dataclass(frozen=True)
class ModelInfo:
    """What ``log_model`` returns (MLflow's ``ModelInfo``)."""

    model_id: str
    name: str
    run_id: str | None
    artifact_path: str
    flavors: dict[str, Any]
    signature: Any
    saved_input_example_info: dict[str, Any] | None
    utc_time_created: str
    model_uuid: str
    metadata: dict[str, Any] | None = None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    registered_model_version: int | None = None

    @property
    def model_uri(self) -> str:
        """``models:/<model_id>``: loads this model."""
        return f"models:/{self.model_id}"

    @classmethod
    def of(
        cls, model: Model, name: str, params: dict[str, str] | None = None, tags: dict[str, str] | None = None
    ) -> ModelInfo:
        """The info of a saved ``model`` called ``name``."""
        return cls(
            model_id=model.model_id or model.model_uuid,
            name=name,
            run_id=model.run_id,
            artifact_path=model.artifact_path or "",
            flavors=model.flavors,
            signature=model.signature,
            saved_input_example_info=model.saved_input_example_info,
            utc_time_created=model.utc_time_created,
            model_uuid=model.model_uuid,
            metadata=model.metadata,
            params=dict(params or {}),
            tags=dict(tags or {}),
        )

    @property
    def run_uri(self) -> str | None:
        """``runs:/<run_id>/<name>`` when the model was logged in a run."""
        return f"runs:/{self.run_id}/{self.name}" if self.run_id else None


def log_model(
    save: Callable[[str, Model], object],
    *,
    name: str | None,
    artifact_path: str | None,
    registered_model_name: str | None,
    params: dict[str, Any] | None,
    tags: dict[str, str] | None,
    model_type: str | None,
) -> ModelInfo:
    """Create a logged model, save it with ``save(local_dir, model)`` and store the files.

    A failure while saving or storing marks the model FAILED; nothing is left half-written.

    Raises:
        InvalidParameterValue: for both ``name`` and ``artifact_path``, or neither.
    """
    from tracklite.entities import LoggedModelStatus
    from tracklite.tracking import fluent

    if name is not None and artifact_path is not None:
        raise InvalidParameterValue("Both `artifact_path` (deprecated) and `name` were given; pass only `name`.")
    name = name or artifact_path
    if not name:
        raise InvalidParameterValue("log_model needs a name for the model, e.g. log_model(model, name='model').")
    if registered_model_name is not None:
        from tracklite.store.registry import check_name

        check_name(registered_model_name, "registered_model_name")  # before anything is written
    store = fluent._client().store
    active = fluent.active_run()
    run_id = active.info.run_id if active is not None else None
    experiment_id = active.info.experiment_id if active is not None else fluent._resolve_experiment_id()
    model_params = dict(store.get_run(run_id).data.params) if run_id else {}
    model_params.update({k: str(v) for k, v in (params or {}).items()})
    logged = store.create_logged_model(experiment_id, name, run_id, model_params, tags, model_type)
    model = Model(
        artifact_path=logged.artifact_location, run_id=run_id, model_id=logged.model_id, model_uuid=logged.model_id
    )
    try:
        with tempfile.TemporaryDirectory(prefix="tracklite-model-") as tmp:
            local = f"{tmp}/model"
            save(local, model)
            store.log_model_files(logged.model_id, local)
    except BaseException:
        store.set_logged_model_status(logged.model_id, LoggedModelStatus.FAILED)
        raise
    info = ModelInfo.of(model, name, model_params, tags)
    if registered_model_name is None:
        return info
    from dataclasses import replace

    from tracklite.tracking.registry_fluent import register_model

    version = register_model(info.model_uri, registered_model_name)
    return replace(info, registered_model_version=version.version)


_LOGGING_KEYS = ("artifact_path", "registered_model_name", "params", "tags", "model_type")


def log_flavor_model(save_model: Callable[..., Model], obj: Any, name: str | None, kwargs: dict[str, Any]) -> ModelInfo:
    """``log_model`` for a flavor whose ``save_model(obj, path, mlflow_model=..., **kwargs)`` writes it.

    ``kwargs`` holds ``save_model``'s keyword arguments and ``log_model``'s own
    (``artifact_path``, ``registered_model_name``, ``params``, ``tags``, ``model_type``).
    """
    logging = {k: kwargs.pop(k, None) for k in _LOGGING_KEYS}
    return log_model(lambda path, model: save_model(obj, path, mlflow_model=model, **kwargs), name=name, **logging)


def get_model_info(model_uri: str) -> ModelInfo:
    """What ``log_model`` returned for the model at ``model_uri`` (a path, ``runs:/`` or ``models:/``).

    Raises:
        ResourceDoesNotExist: if there is no model there.
    """
    from tracklite.models.uri import local_model_path

    model = Model.load(local_model_path(model_uri))
    if model.model_id and model_uri.startswith(("runs:/", "models:/")):
        from tracklite.tracking import fluent

        logged = fluent._client().store.get_logged_model(model.model_id)
        return ModelInfo.of(model, logged.name, logged.params, logged.tags)
    if not model.artifact_path:
        model.artifact_path = model_uri
    return ModelInfo.of(model, os.path.basename(model_uri.rstrip("/")))
