"""The scikit-learn flavor: save, log and load estimators in MLflow's directory layout.

Models are written with ``loader_module: mlflow.sklearn`` so MLflow loads them too. The
default serialization is cloudpickle, which saves every estimator; MLflow's default, skops,
refuses tree ensembles unless their types are listed in ``skops_trusted_types``. All three
formats load (skops needs the ``skops`` package).
"""

from __future__ import annotations

import os
import shutil
from typing import Any

from tracklite.autologging.sklearn import autolog
from tracklite.errors import InvalidParameterValue, TrackliteError
from tracklite.models.environment import ENV_BLOCK
from tracklite.models.model import PYFUNC_FLAVOR, Model
from tracklite.models.model_dir import copy_code_paths, finish_model_dir, new_model_dir
from tracklite.models.serialization import SUPPORTED_FORMATS, check_format, dump_estimator, load_estimator
from tracklite.models.signature import infer_from_model

FLAVOR_NAME = "sklearn"
SERIALIZATION_FORMAT_PICKLE = "pickle"
SERIALIZATION_FORMAT_CLOUDPICKLE = "cloudpickle"
SERIALIZATION_FORMAT_SKOPS = "skops"
SUPPORTED_SERIALIZATION_FORMATS = list(SUPPORTED_FORMATS)
_FILES = {"pickle": "model.pkl", "cloudpickle": "model.pkl", "skops": "model.skops"}
_PREDICT_FNS = ("predict", "predict_proba", "predict_log_proba", "predict_joint_log_proba", "score")


def save_model(
    sk_model: Any,
    path: str,
    code_paths: list[str] | None = None,
    mlflow_model: Model | None = None,
    serialization_format: str = SERIALIZATION_FORMAT_CLOUDPICKLE,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    pyfunc_predict_fn: str = "predict",
    metadata: dict[str, Any] | None = None,
    skops_trusted_types: list[str] | None = None,
) -> Model:
    """Write a scikit-learn model directory at ``path``.

    Args:
        sk_model: A fitted estimator or pipeline.
        path: The directory to create (must not exist or be empty).
        code_paths: Files or directories the model's code needs, copied into ``code/``.
        mlflow_model: A ``Model`` to fill in (used by ``log_model``).
        serialization_format: ``"cloudpickle"`` (default), ``"pickle"`` or ``"skops"``.
        signature: A ``ModelSignature``; inferred from ``input_example`` and the model's
            prediction on it when not given.
        input_example: Example input, saved beside the model.
        pip_requirements: Requirement lines replacing the defaults.
        extra_pip_requirements: Requirement lines added to the defaults.
        pyfunc_predict_fn: The estimator method pyfunc ``predict`` calls (``predict_proba`` ...).
        metadata: Free-form metadata stored in the ``MLmodel``.
        skops_trusted_types: With skops: the types to trust when loading (tree ensembles
            need ``["sklearn.tree._tree.Tree"]``).

    Returns:
        The ``Model`` written to ``path/MLmodel``.

    Raises:
        InvalidParameterValue: for an unknown format or predict function, an existing
            path, or a skops save with untrusted types.
    """
    import sklearn

    check_format(serialization_format)
    if pyfunc_predict_fn not in _PREDICT_FNS:
        raise InvalidParameterValue(f"pyfunc_predict_fn must be one of {list(_PREDICT_FNS)}, got {pyfunc_predict_fn!r}")
    new_model_dir(path)
    file = _FILES[serialization_format]
    try:
        dump_estimator(sk_model, os.path.join(path, file), serialization_format, skops_trusted_types)
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise
    if signature is None and input_example is not None:
        signature = infer_from_model(sk_model, input_example, pyfunc_predict_fn)
    code = copy_code_paths(path, code_paths)
    model = mlflow_model or Model()
    import platform

    model.add_flavor(
        PYFUNC_FLAVOR,
        env=ENV_BLOCK,
        loader_module="mlflow.sklearn",
        model_path=file,
        predict_fn=pyfunc_predict_fn,
        python_version=platform.python_version(),
        **({"code": code} if code else {}),
    )
    sk_flavor: dict[str, Any] = {
        "code": code,
        "pickled_model": file,
        "serialization_format": serialization_format,
        "sklearn_version": sklearn.__version__,
    }
    if serialization_format == SERIALIZATION_FORMAT_SKOPS:
        sk_flavor["skops_trusted_types"] = skops_trusted_types
    model.add_flavor(FLAVOR_NAME, **sk_flavor)
    requirements = ["scikit-learn", "numpy", "scipy", "pandas"]
    if serialization_format != SERIALIZATION_FORMAT_PICKLE:
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


def log_model(
    sk_model: Any,
    name: str | None = None,
    serialization_format: str = SERIALIZATION_FORMAT_CLOUDPICKLE,
    registered_model_name: str | None = None,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    pyfunc_predict_fn: str = "predict",
    metadata: dict[str, Any] | None = None,
    code_paths: list[str] | None = None,
    skops_trusted_types: list[str] | None = None,
    artifact_path: str | None = None,
    params: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
    model_type: str | None = None,
) -> Any:
    """Save ``sk_model`` into the store as a logged model of the active run (see ``save_model``).

    Returns:
        A ``ModelInfo``: ``model_uri`` (``models:/<model_id>``), ``model_id``, ``run_id``,
        ``signature`` and more.

    Examples:
        >>> import tempfile, os, tracklite
        >>> from sklearn.linear_model import LinearRegression
        >>> tracklite.set_tracking_uri(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
        >>> with tracklite.start_run():
        ...     info = log_model(LinearRegression().fit([[0], [1]], [0, 1]), name="model")
        >>> float(tracklite.sklearn.load_model(info.model_uri).predict([[2]])[0])
        2.0
    """
    from tracklite.models.logged import log_model as log

    def save(path: str, mlflow_model: Model) -> None:
        save_model(
            sk_model,
            path,
            code_paths=code_paths,
            mlflow_model=mlflow_model,
            serialization_format=serialization_format,
            signature=signature,
            input_example=input_example,
            pip_requirements=pip_requirements,
            extra_pip_requirements=extra_pip_requirements,
            pyfunc_predict_fn=pyfunc_predict_fn,
            metadata=metadata,
            skops_trusted_types=skops_trusted_types,
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


def _load_from_dir(path: str) -> tuple[Any, dict[str, Any]]:
    """The estimator in model directory ``path`` and the sklearn flavor settings."""
    meta = Model.load(path)
    conf = meta.flavors.get(FLAVOR_NAME)
    pyfunc_conf = meta.flavors.get(PYFUNC_FLAVOR, {})
    if conf is None and "model_path" not in pyfunc_conf:
        raise TrackliteError(f'Model does not have the "{FLAVOR_NAME}" flavor: {path} has {sorted(meta.flavors)}.')
    conf = conf or {}
    file = conf.get("pickled_model") or pyfunc_conf.get("model_path")
    if not file:
        raise TrackliteError(f"The sklearn flavor of {path} names no pickled_model file.")
    fmt = conf.get("serialization_format", SERIALIZATION_FORMAT_PICKLE)
    return load_estimator(Model.file(path, file), fmt, conf.get("skops_trusted_types")), pyfunc_conf


def load_model(model_uri: str, dst_path: str | None = None) -> Any:
    """The scikit-learn estimator saved at ``model_uri`` (a path, ``runs:/`` or ``models:/`` URI).

    Raises:
        ResourceDoesNotExist: if there is no model there.
        TrackliteError: if the model has no sklearn flavor or its file cannot be read.
    """
    from tracklite.models.uri import local_model_path

    return _load_from_dir(local_model_path(model_uri, dst_path))[0]


class _Wrapper:
    """The pyfunc view of an estimator: ``predict`` calls the saved ``predict_fn``."""

    def __init__(self, sk_model: Any, predict_fn: str) -> None:
        self.raw_model = sk_model
        self._predict = getattr(sk_model, predict_fn)

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        del params
        return self._predict(data)


def _load_pyfunc(data_path: str, model_config: dict[str, Any] | None = None, model_path: str | None = None) -> _Wrapper:
    """The pyfunc implementation for a model directory (``data_path``: the directory or model file)."""
    del model_config
    directory = model_path or (os.path.dirname(data_path) if os.path.isfile(data_path) else data_path)
    sk_model, pyfunc_conf = _load_from_dir(directory)
    return _Wrapper(sk_model, pyfunc_conf.get("predict_fn", "predict"))


__all__ = [
    "FLAVOR_NAME",
    "SERIALIZATION_FORMAT_CLOUDPICKLE",
    "SERIALIZATION_FORMAT_PICKLE",
    "SERIALIZATION_FORMAT_SKOPS",
    "SUPPORTED_SERIALIZATION_FORMATS",
    "autolog",
    "load_model",
    "log_model",
    "save_model",
]
