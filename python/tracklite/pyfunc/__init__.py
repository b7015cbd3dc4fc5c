"""The generic ``python_function`` flavor: any model behind one ``predict``, as MLflow's pyfunc.

``load_model`` reads a model directory's ``MLmodel``, imports the flavor's loader (MLflow's
``mlflow.sklearn`` and friends map to tracklite's own), and returns a ``PyFuncModel`` whose
``predict`` checks input and params against the signature before the model sees them.
``save_model``/``log_model`` write custom models: a ``PythonModel`` subclass (or a plain
function) with its artifacts and code, pickled with cloudpickle as MLflow does.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from abc import ABC, abstractmethod
from typing import Any, NamedTuple

from tracklite.errors import InvalidParameterValue, SchemaEnforcementError, TrackliteError
from tracklite.models.enforce import enforce_schema
from tracklite.models.model import MLMODEL_FILE_NAME, PYFUNC_FLAVOR, Model
from tracklite.models.params import enforce_params

FLAVOR_NAME = PYFUNC_FLAVOR

# MLflow's loader modules and the tracklite modules that load the same directories.
LOADERS = {
    "mlflow.sklearn": "tracklite.sklearn",
    "mlflow.pyfunc.model": "tracklite.pyfunc.model",
    "mlflow.xgboost": "tracklite.xgboost",
    "mlflow.lightgbm": "tracklite.lightgbm",
}


class PythonModelContext:
    """What a ``PythonModel`` gets in ``load_context`` and ``predict``.

    Attributes:
        artifacts: Artifact name -> absolute local path of its copy in the model directory.
        model_config: The model configuration given at save or load time.
    """

    def __init__(self, artifacts: dict[str, str], model_config: dict[str, Any] | None = None) -> None:
        self.artifacts = artifacts
        self.model_config = model_config or {}


class _TypeHints(NamedTuple):
    """The shape of MLflow's ``predict_type_hints``: the input and output type hints."""

    input: Any
    output: Any


_NO_TYPE_HINTS = _TypeHints(None, None)


class PythonModel(ABC):
    """Base class of custom models: implement ``predict`` (and ``load_context`` if needed).

    ``predict(self, context, model_input, params=None)`` as MLflow's; a ``predict`` without
    the ``context`` argument works too.
    """

    def load_context(self, context: PythonModelContext) -> None:  # noqa: B027 - optional hook
        """Load what ``predict`` needs (files named in ``context.artifacts``); runs once at load."""

    @abstractmethod
    def predict(self, context: PythonModelContext, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        """The model's output for ``model_input``."""

    @property
    def predict_type_hints(self) -> _TypeHints:
        """No type-hint-driven input conversion. MLflow's pyfunc loader asks every custom model
        for this before ``predict``; without it MLflow could load tracklite's models but not
        predict with them."""
        return _NO_TYPE_HINTS


class PyFuncModel:
    """A loaded model behind MLflow's pyfunc interface.

    Args:
        model_meta: The model's ``MLmodel`` description.
        model_impl: The flavor's object with ``predict(data, params=None)``.
        model_path: The local model directory it was loaded from.
    """

    def __init__(self, model_meta: Model, model_impl: Any, model_path: str | None = None) -> None:
        self._meta = model_meta
        self._impl = model_impl
        self._path = model_path

    @property
    def metadata(self) -> Model:
        """The ``MLmodel`` description."""
        return self._meta

    @property
    def loader_module(self) -> str | None:
        """The ``python_function`` flavor's loader module as written in the ``MLmodel``."""
        loader = self._meta.flavors.get(PYFUNC_FLAVOR, {}).get("loader_module")
        return str(loader) if loader is not None else None

    @property
    def model_id(self) -> str | None:
        """The logged-model id, if the model was logged."""
        return self._meta.model_id

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        """Check ``data`` and ``params`` against the signature, then run the model.

        Raises:
            SchemaEnforcementError: when the input does not fit the input schema (MLflow's
                "Failed to enforce schema of data ..." message, error code INVALID_PARAMETER_VALUE).
            InvalidParameterValue: for params that do not fit the params schema.
        """
        schema = self._meta.get_input_schema()
        if schema is not None:
            try:
                data = enforce_schema(data, schema)
            except TrackliteError as exc:
                error = SchemaEnforcementError(
                    f"Failed to enforce schema of data '{data}' with schema '{schema}'. Error: {exc.message}"
                )
                error.reason = exc.message
                raise error from None
        params = enforce_params(params, self._meta.get_params_schema())
        if params and _accepts_params(self._impl.predict):
            return self._impl.predict(data, params=params)
        return self._impl.predict(data)

    def unwrap_python_model(self) -> Any:
        """The user's ``PythonModel`` object (custom models only).

        Raises:
            TrackliteError: for models of other flavors.
        """
        python_model = getattr(self._impl, "python_model", None)
        if python_model is None:
            raise TrackliteError("unwrap_python_model is only available for custom python_model flavors.")
        return python_model

    def get_raw_model(self) -> Any:
        """The flavor's own model object (the estimator, booster or PythonModel)."""
        return getattr(self._impl, "raw_model", None) or getattr(self._impl, "python_model", self._impl)

    def __repr__(self) -> str:
        return f"PyFuncModel(loader_module={self.loader_module!r}, path={self._path!r})"


def _accepts_params(fn: Any) -> bool:
    try:
        return "params" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def add_to_model(
    model: Model,
    loader_module: str,
    data: str | None = None,
    code: str | None = None,
    conda_env: str | None = None,
    python_env: str | None = None,
    **kwargs: Any,
) -> Model:
    """Add the ``python_function`` flavor block to ``model``, as MLflow lays it out."""
    import platform

    params: dict[str, Any] = {"loader_module": loader_module, "python_version": platform.python_version()}
    if code is not None:
        params["code"] = code
    if data is not None:
        params["data"] = data
    env: dict[str, str] = {}
    if conda_env:
        env["conda"] = conda_env
    if python_env:
        env["virtualenv"] = python_env
    if env:
        params["env"] = env
    params.update(kwargs)
    return model.add_flavor(PYFUNC_FLAVOR, **params)


def _add_code_to_path(model_path: str, conf: dict[str, Any]) -> None:
    code = conf.get("code")
    if not code:
        return
    code_dir = os.path.join(model_path, code)
    if not os.path.isdir(code_dir):
        return
    for entry in os.listdir(code_dir):
        # A module of the same name imported earlier (another model's code) would shadow this one.
        sys.modules.pop(entry.removesuffix(".py"), None)
    if code_dir not in sys.path:
        sys.path.insert(0, code_dir)


def load_model(
    model_uri: str,
    suppress_warnings: bool = False,
    dst_path: str | None = None,
    model_config: dict[str, Any] | None = None,
) -> PyFuncModel:
    """Load any model with a ``python_function`` flavor, from a path, ``runs:/`` or ``models:/`` URI.

    Args:
        model_uri: A local model directory, ``file://`` path, ``runs:/<run_id>/<name>`` or
            ``models:/<model_id>``.
        suppress_warnings: Accepted for MLflow compatibility.
        dst_path: Where to materialise a model from the store (default: the model cache).
        model_config: Configuration passed to custom models' ``load_context``.

    Raises:
        ResourceDoesNotExist: if there is no model at the URI.
        TrackliteError: if the model has no ``python_function`` flavor or its loader is unknown.
    """
    from tracklite.models.uri import local_model_path

    del suppress_warnings
    path = local_model_path(model_uri, dst_path)
    meta = Model.load(path)
    conf = meta.flavors.get(PYFUNC_FLAVOR)
    if conf is None:
        raise TrackliteError(
            f'Model does not have the "{PYFUNC_FLAVOR}" flavor: {model_uri} has {sorted(meta.flavors) or "no flavors"}.'
        )
    loader = conf.get("loader_module")
    if not isinstance(loader, str) or not loader:
        raise TrackliteError(f"The {PYFUNC_FLAVOR} flavor of {model_uri} names no loader_module.")
    module_name = LOADERS.get(loader, loader)
    if module_name.startswith("mlflow."):
        raise TrackliteError(
            f"tracklite cannot load models of MLflow's '{loader}' flavor; it loads {sorted(LOADERS)} "
            "and custom loader modules."
        )
    _add_code_to_path(path, conf)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise TrackliteError(f"The model's loader module '{module_name}' cannot be imported: {exc}") from None
    data_path = os.path.join(path, conf["data"]) if conf.get("data") else path
    if module_name in LOADERS.values():
        impl = module._load_pyfunc(data_path, model_config=model_config, model_path=path)
    elif "model_config" in inspect.signature(module._load_pyfunc).parameters:
        impl = module._load_pyfunc(data_path, model_config=model_config)
    else:
        impl = module._load_pyfunc(data_path)
    return PyFuncModel(meta, impl, path)


def save_model(
    path: str,
    loader_module: str | None = None,
    data_path: str | None = None,
    code_paths: list[str] | None = None,
    python_model: Any = None,
    artifacts: dict[str, str] | None = None,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    model_config: dict[str, Any] | None = None,
    mlflow_model: Model | None = None,
) -> Model:
    """Write a custom model directory: a ``python_model`` (or a ``loader_module`` + ``data_path``).

    Args:
        path: The directory to create (must not exist yet).
        loader_module: Instead of ``python_model``: a module with ``_load_pyfunc(data_path)``.
        data_path: A file or directory copied into the model for ``loader_module``.
        code_paths: Files or directories copied into ``code/`` and put on ``sys.path`` at load.
        python_model: A ``PythonModel`` instance or a function ``f(model_input)``.
        artifacts: Name -> local path (or ``runs:/`` URI) of files the model needs; copied into
            ``artifacts/`` and handed to ``load_context`` as local paths.
        signature: A ``ModelSignature``; inferred from ``input_example`` when not given.
        input_example: Example input (saved beside the model).
        pip_requirements: Requirement lines replacing the defaults.
        extra_pip_requirements: Requirement lines added to the defaults.
        metadata: Free-form metadata stored in the ``MLmodel``.
        model_config: Configuration stored with the model, handed to ``load_context``.
        mlflow_model: A ``Model`` to fill in (used by ``log_model``).

    Returns:
        The ``Model`` written to ``path/MLmodel``.

    Raises:
        InvalidParameterValue: for an existing path or an invalid combination of arguments.
    """
    from tracklite.pyfunc import model as custom

    if (python_model is None) == (loader_module is None):
        raise InvalidParameterValue(
            "Pass exactly one of python_model (a PythonModel or a function) or loader_module (with data_path)."
        )
    if python_model is not None:
        return custom.save_python_model(
            path,
            python_model,
            artifacts=artifacts,
            code_paths=code_paths,
            signature=signature,
            input_example=input_example,
            pip_requirements=pip_requirements,
            extra_pip_requirements=extra_pip_requirements,
            metadata=metadata,
            model_config=model_config,
            mlflow_model=mlflow_model,
        )
    assert loader_module is not None
    return custom.save_loader_module(
        path,
        loader_module,
        data_path=data_path,
        code_paths=code_paths,
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        metadata=metadata,
        mlflow_model=mlflow_model,
    )


def log_model(
    name: str | None = None,
    python_model: Any = None,
    artifacts: dict[str, str] | None = None,
    loader_module: str | None = None,
    data_path: str | None = None,
    code_paths: list[str] | None = None,
    signature: Any = None,
    input_example: Any = None,
    registered_model_name: str | None = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    model_config: dict[str, Any] | None = None,
    artifact_path: str | None = None,
    params: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
    model_type: str | None = None,
) -> Any:
    """Save a custom model into the store, linked to the active run; see ``save_model``.

    Returns:
        A ``ModelInfo`` with ``model_uri`` (``models:/<model_id>``) and ``model_id``.

    Raises:
        InvalidParameterValue: for both or neither of ``name``/``artifact_path``, and as ``save_model``.
    """
    from tracklite.models.logged import log_model as log

    def save(path: str, mlflow_model: Model) -> None:
        save_model(
            path,
            loader_module=loader_module,
            data_path=data_path,
            code_paths=code_paths,
            python_model=python_model,
            artifacts=artifacts,
            signature=signature,
            input_example=input_example,
            pip_requirements=pip_requirements,
            extra_pip_requirements=extra_pip_requirements,
            metadata=metadata,
            model_config=model_config,
            mlflow_model=mlflow_model,
        )

    return log(
        save,
        name=name,
        artifact_path=artifact_path,
        registered_model_name=registered_model_name,
        params=params,
        tags=tags,
        model_type=model_type,
    )


def predict_batches(model_uri: Any, batches: Any, params: dict[str, Any] | None = None) -> Any:
    """Predict an iterable of batches lazily, loading the model once.

    Args:
        model_uri: Any URI ``load_model`` takes, or a loaded ``PyFuncModel``.
        batches: DataFrames (or pyarrow tables / record batches), consumed one at a time.
        params: Inference params for every batch.

    Returns:
        An iterator of each batch's predictions, in order.

    Raises:
        SchemaEnforcementError: for a batch that does not fit the signature.
    """
    from tracklite.serving.batch import predict_batches as run

    return run(model_uri, batches, params)


__all__ = [
    "FLAVOR_NAME",
    "MLMODEL_FILE_NAME",
    "PyFuncModel",
    "PythonModel",
    "PythonModelContext",
    "add_to_model",
    "load_model",
    "log_model",
    "predict_batches",
    "save_model",
]
