"""Custom pyfunc models on disk: a cloudpickled ``PythonModel`` with its artifacts and code.

The layout is MLflow's (``loader_module: mlflow.pyfunc.model``, ``python_model.pkl``,
``artifacts/<name>``), so either tool loads the directory back, given the classes the
pickle refers to are importable.
"""

from __future__ import annotations

import inspect
import os
import shutil
from typing import Any

from tracklite.errors import InvalidParameterValue, TrackliteError
from tracklite.models.environment import ENV_BLOCK
from tracklite.models.model import Model
from tracklite.models.model_dir import copy_code_paths, finish_model_dir, new_model_dir
from tracklite.pyfunc import PythonModel, PythonModelContext, add_to_model

PYTHON_MODEL_FILE = "python_model.pkl"
MLFLOW_LOADER = "mlflow.pyfunc.model"


class _FunctionModel(PythonModel):
    """A plain function ``f(model_input)`` as a PythonModel."""

    def __init__(self, func: Any) -> None:
        self.func = func

    def predict(self, context: PythonModelContext, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        del context, params
        return self.func(model_input)


class _Wrapper:
    """What ``PyFuncModel`` calls: ``predict(data, params)`` on the user's PythonModel."""

    def __init__(self, python_model: Any, context: PythonModelContext) -> None:
        self.python_model = python_model
        self.context = context
        parameters = inspect.signature(python_model.predict).parameters
        self._with_context = "context" in parameters or len(parameters) >= 3

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        if self._with_context:
            return self.python_model.predict(self.context, data, params=params)
        return self.python_model.predict(data, params=params)


def _copy_artifacts(path: str, artifacts: dict[str, str] | None) -> dict[str, dict[str, str]] | None:
    if not artifacts:
        return None
    from tracklite.models.uri import local_artifact

    config = {}
    root = os.path.join(path, "artifacts")
    os.makedirs(root, exist_ok=True)
    for name, uri in artifacts.items():
        source = local_artifact(uri)
        dest = os.path.join(root, os.path.basename(os.path.normpath(source)))
        if os.path.exists(dest):
            dest = os.path.join(root, name, os.path.basename(os.path.normpath(source)))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
        if os.path.isdir(source):
            shutil.copytree(source, dest)
        else:
            shutil.copy2(source, dest)
        config[name] = {"path": os.path.relpath(dest, path).replace(os.sep, "/"), "uri": uri}
    return config


def save_python_model(
    path: str,
    python_model: Any,
    *,
    artifacts: dict[str, str] | None,
    code_paths: list[str] | None,
    signature: Any,
    input_example: Any,
    pip_requirements: list[str] | None,
    extra_pip_requirements: list[str] | None,
    metadata: dict[str, Any] | None,
    model_config: dict[str, Any] | None,
    mlflow_model: Model | None,
) -> Model:
    """Write a ``PythonModel`` (or function) model directory at ``path``."""
    import cloudpickle

    if not isinstance(python_model, PythonModel) and not hasattr(python_model, "predict"):
        if not callable(python_model):
            raise InvalidParameterValue(
                f"python_model must be a PythonModel subclass instance or a function, got {type(python_model).__name__}"
            )
        python_model = _FunctionModel(python_model)
    new_model_dir(path)
    try:
        with open(os.path.join(path, PYTHON_MODEL_FILE), "wb") as fh:
            cloudpickle.dump(python_model, fh)
    except Exception as exc:  # pickling runs arbitrary __reduce__ code
        raise InvalidParameterValue(f"Failed to serialize the Python model with cloudpickle: {exc}") from exc
    model = mlflow_model or Model()
    artifacts_config = _copy_artifacts(path, artifacts)
    code = copy_code_paths(path, code_paths)
    extra: dict[str, Any] = {
        "cloudpickle_version": cloudpickle.__version__,
        "python_model": PYTHON_MODEL_FILE,
        "streamable": False,
        "env": ENV_BLOCK,
    }
    if artifacts_config:
        extra["artifacts"] = artifacts_config
    if model_config:
        extra["model_config"] = model_config
    add_to_model(model, MLFLOW_LOADER, code=code, **extra)
    return finish_model_dir(
        path,
        model,
        signature=signature,
        input_example=input_example,
        requirements=["tracklite", "cloudpickle", "numpy", "pandas"],
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        metadata=metadata,
    )


def save_loader_module(
    path: str,
    loader_module: str,
    *,
    data_path: str | None,
    code_paths: list[str] | None,
    signature: Any,
    input_example: Any,
    pip_requirements: list[str] | None,
    extra_pip_requirements: list[str] | None,
    metadata: dict[str, Any] | None,
    mlflow_model: Model | None,
) -> Model:
    """Write a model directory loaded by ``loader_module._load_pyfunc(data_path)``."""
    new_model_dir(path)
    data = None
    if data_path is not None:
        if not os.path.exists(data_path):
            raise InvalidParameterValue(f"data_path '{data_path}' does not exist.")
        data = os.path.basename(os.path.normpath(data_path))
        dest = os.path.join(path, data)
        if os.path.isdir(data_path):
            shutil.copytree(data_path, dest)
        else:
            shutil.copy2(data_path, dest)
    model = mlflow_model or Model()
    add_to_model(model, loader_module, data=data, code=copy_code_paths(path, code_paths), env=ENV_BLOCK)
    return finish_model_dir(
        path,
        model,
        signature=signature,
        input_example=input_example,
        requirements=["tracklite"],
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        metadata=metadata,
    )


def _load_pyfunc(data_path: str, model_config: dict[str, Any] | None = None, model_path: str | None = None) -> _Wrapper:
    """Load a custom model directory (``data_path`` is the directory itself)."""
    import cloudpickle

    path = model_path or data_path
    conf = Model.load(path).flavors["python_function"]
    file = conf.get("python_model")
    if not file:
        raise TrackliteError(f"Python model path was not specified in the model configuration of {path}")
    try:
        with open(os.path.join(path, file), "rb") as fh:
            python_model = cloudpickle.load(fh)
    except FileNotFoundError:
        raise TrackliteError(f"The model file '{file}' named in {path}/MLmodel is missing.") from None
    except Exception as exc:
        raise TrackliteError(
            f"The Python model in '{os.path.join(path, file)}' cannot be unpickled: {exc}. "
            "The classes it refers to must be importable (see code_paths)."
        ) from exc
    artifacts = {
        name: os.path.join(path, *spec["path"].split("/")) for name, spec in (conf.get("artifacts") or {}).items()
    }
    config = {**(conf.get("model_config") or {}), **(model_config or {})}
    context = PythonModelContext(artifacts, config)
    if hasattr(python_model, "load_context"):
        python_model.load_context(context)
    return _Wrapper(python_model, context)
