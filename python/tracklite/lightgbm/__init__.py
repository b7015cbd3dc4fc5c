"""The LightGBM flavor: boosters in LightGBM's native text format, scikit-learn-API models pickled.

The directory is MLflow's (``loader_module: mlflow.lightgbm``, ``model.lgb`` for a
``Booster``, ``model.pkl``/``model.skops`` for ``LGBMClassifier`` and friends), so each
tool loads the other's. Needs ``lightgbm`` (``pip install "tracklite[lightgbm]"``).
"""

from __future__ import annotations

import os
from typing import Any

from tracklite.autologging.lightgbm import autolog
from tracklite.models.environment import CONDA_FILE, PYTHON_ENV_FILE
from tracklite.models.model import Model
from tracklite.models.model_dir import copy_code_paths, finish_model_dir, new_model_dir
from tracklite.models.serialization import check_format, class_path, dump_estimator, load_estimator
from tracklite.models.signature import infer_from_model
from tracklite.pyfunc import add_to_model

FLAVOR_NAME = "lightgbm"
_BOOSTER = "lightgbm.basic.Booster"


def save_model(
    lgb_model: Any,
    path: str,
    serialization_format: str = "cloudpickle",
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    code_paths: list[str] | None = None,
    skops_trusted_types: list[str] | None = None,
    mlflow_model: Model | None = None,
) -> Model:
    """Write a LightGBM model directory at ``path``.

    Args:
        lgb_model: A ``lightgbm.Booster`` (saved natively) or a scikit-learn-API model
            (saved with ``serialization_format``: cloudpickle, pickle or skops).
        path: The directory to create.
        serialization_format: For scikit-learn-API models, as ``tracklite.sklearn``.
        signature: A ``ModelSignature``; inferred from ``input_example`` when not given.
        input_example: Example input saved beside the model.
        pip_requirements: Requirement lines replacing the defaults.
        extra_pip_requirements: Requirement lines added to the defaults.
        metadata: Free-form metadata stored in the ``MLmodel``.
        code_paths: Files or directories copied into ``code/``.
        skops_trusted_types: With skops: types to trust when loading.
        mlflow_model: A ``Model`` to fill in (used by ``log_model``).

    Raises:
        InvalidParameterValue: for an unknown format or an existing path.
    """
    import lightgbm

    check_format(serialization_format)
    new_model_dir(path)
    booster = isinstance(lgb_model, lightgbm.Booster)
    file = "model.lgb" if booster else ("model.skops" if serialization_format == "skops" else "model.pkl")
    if booster:
        lgb_model.save_model(os.path.join(path, file))
    else:
        dump_estimator(lgb_model, os.path.join(path, file), serialization_format, skops_trusted_types)
    if signature is None and input_example is not None:
        signature = infer_from_model(lgb_model, input_example, "predict")
    code = copy_code_paths(path, code_paths)
    model = mlflow_model or Model()
    add_to_model(model, "mlflow.lightgbm", data=file, code=code, conda_env=CONDA_FILE, python_env=PYTHON_ENV_FILE)
    model.add_flavor(
        FLAVOR_NAME,
        lgb_version=lightgbm.__version__,
        data=file,
        model_class=class_path(lgb_model),
        code=code,
        serialization_format=serialization_format,
        skops_trusted_types=skops_trusted_types,
    )
    requirements = ["lightgbm", "numpy", "pandas"]
    if not booster and serialization_format != "pickle":
        requirements.append(serialization_format)
    return finish_model_dir(
        path,
        model,
        signature=signature,
        input_example=input_example,
        requirements=requirements,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        metadata=metadata,
    )


def log_model(lgb_model: Any, name: str | None = None, **kwargs: Any) -> Any:
    """Save ``lgb_model`` into the store as a logged model of the active run (see ``save_model``)."""
    from tracklite.models.logged import log_flavor_model

    return log_flavor_model(save_model, lgb_model, name, kwargs)


def _load_dir(path: str) -> Any:
    conf = Model.load(path).flavor(FLAVOR_NAME, path)
    file = Model.file(path, conf.get("data", "model.lgb"))
    if conf.get("model_class", _BOOSTER) == _BOOSTER:
        import lightgbm

        return lightgbm.Booster(model_file=file)
    return load_estimator(file, conf.get("serialization_format", "cloudpickle"), conf.get("skops_trusted_types"))


def load_model(model_uri: str, dst_path: str | None = None) -> Any:
    """The LightGBM model saved at ``model_uri`` (a path, ``runs:/`` or ``models:/`` URI)."""
    from tracklite.models.uri import local_model_path

    return _load_dir(local_model_path(model_uri, dst_path))


class _Wrapper:
    def __init__(self, lgb_model: Any) -> None:
        self.raw_model = lgb_model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return self.raw_model.predict(data, **(params or {}))


def _load_pyfunc(data_path: str, model_config: dict[str, Any] | None = None, model_path: str | None = None) -> _Wrapper:
    del model_config
    return _Wrapper(_load_dir(model_path or os.path.dirname(data_path)))


__all__ = ["FLAVOR_NAME", "autolog", "load_model", "log_model", "save_model"]
