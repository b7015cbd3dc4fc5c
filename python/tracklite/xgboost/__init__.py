"""The XGBoost flavor: boosters and scikit-learn-API models in XGBoost's native format.

The directory is MLflow's (``loader_module: mlflow.xgboost``, ``model.<format>``,
``model_class``), so MLflow loads it and tracklite loads MLflow's. Needs ``xgboost``
(``pip install "tracklite[xgboost]"``).
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from tracklite.autologging.xgboost import autolog
from tracklite.errors import InvalidParameterValue, TrackliteError
from tracklite.models.environment import CONDA_FILE, PYTHON_ENV_FILE
from tracklite.models.model import Model
from tracklite.models.model_dir import copy_code_paths, finish_model_dir, new_model_dir
from tracklite.models.serialization import class_path
from tracklite.models.signature import infer_from_model
from tracklite.pyfunc import add_to_model

FLAVOR_NAME = "xgboost"
_FORMATS = ("ubj", "json", "xgb")


def _class(path: str) -> Any:
    module, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise TrackliteError(f"The model class '{path}' cannot be imported: {exc}") from None


def save_model(
    xgb_model: Any,
    path: str,
    model_format: str = "ubj",
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    code_paths: list[str] | None = None,
    mlflow_model: Model | None = None,
) -> Model:
    """Write an XGBoost model directory at ``path``.

    Args:
        xgb_model: An ``xgboost.Booster`` or a scikit-learn-API model (``XGBClassifier`` ...).
        path: The directory to create.
        model_format: ``"ubj"`` (default, as MLflow), ``"json"`` or ``"xgb"``.
        signature: A ``ModelSignature``; inferred from ``input_example`` when not given.
        input_example: Example input saved beside the model.
        pip_requirements: Requirement lines replacing the defaults.
        extra_pip_requirements: Requirement lines added to the defaults.
        metadata: Free-form metadata stored in the ``MLmodel``.
        code_paths: Files or directories copied into ``code/``.
        mlflow_model: A ``Model`` to fill in (used by ``log_model``).

    Raises:
        InvalidParameterValue: for an unknown format or an existing path.
    """
    import xgboost

    if model_format not in _FORMATS:
        raise InvalidParameterValue(f"model_format must be one of {list(_FORMATS)}, got {model_format!r}")
    new_model_dir(path)
    file = f"model.{model_format}"
    xgb_model.save_model(os.path.join(path, file))
    if signature is None and input_example is not None:
        signature = infer_from_model(_Wrapper(xgb_model), input_example, "predict")
    code = copy_code_paths(path, code_paths)
    model = mlflow_model or Model()
    add_to_model(model, "mlflow.xgboost", data=file, code=code, conda_env=CONDA_FILE, python_env=PYTHON_ENV_FILE)
    model.add_flavor(
        FLAVOR_NAME,
        xgb_version=xgboost.__version__,
        data=file,
        model_class=class_path(xgb_model),
        model_format=model_format,
        code=code,
    )
    return finish_model_dir(
        path,
        model,
        signature=signature,
        input_example=input_example,
        requirements=["xgboost", "numpy", "pandas"],
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        metadata=metadata,
    )


def log_model(xgb_model: Any, name: str | None = None, **kwargs: Any) -> Any:
    """Save ``xgb_model`` into the store as a logged model of the active run (see ``save_model``).

    Keyword arguments are ``save_model``'s, plus ``artifact_path``, ``registered_model_name``,
    ``params``, ``tags`` and ``model_type`` as in ``tracklite.sklearn.log_model``.
    """
    from tracklite.models.logged import log_flavor_model

    return log_flavor_model(save_model, xgb_model, name, kwargs)


def _load_dir(path: str) -> Any:
    conf = Model.load(path).flavor(FLAVOR_NAME, path)
    model = _class(conf.get("model_class", "xgboost.core.Booster"))()
    model.load_model(Model.file(path, conf.get("data", "model.xgb")))
    return model


def load_model(model_uri: str, dst_path: str | None = None) -> Any:
    """The XGBoost model saved at ``model_uri`` (a path, ``runs:/`` or ``models:/`` URI)."""
    from tracklite.models.uri import local_model_path

    return _load_dir(local_model_path(model_uri, dst_path))


class _Wrapper:
    """Pyfunc ``predict``: boosters get a ``DMatrix``, scikit-learn-API models the data as is."""

    def __init__(self, xgb_model: Any) -> None:
        self.raw_model = xgb_model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        import xgboost

        if isinstance(self.raw_model, xgboost.Booster):
            return self.raw_model.predict(xgboost.DMatrix(data), **(params or {}))
        return self.raw_model.predict(data, **(params or {}))


def _load_pyfunc(data_path: str, model_config: dict[str, Any] | None = None, model_path: str | None = None) -> _Wrapper:
    del model_config
    return _Wrapper(_load_dir(model_path or os.path.dirname(data_path)))


__all__ = ["FLAVOR_NAME", "autolog", "load_model", "log_model", "save_model"]
