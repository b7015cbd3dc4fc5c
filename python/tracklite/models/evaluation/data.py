"""Input normalisation for ``evaluate``: the model, the features and the targets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tracklite.errors import InvalidParameterValue

MODEL_TYPES = ("classifier", "regressor")


@dataclass(frozen=True)
class ResolvedModel:
    """What ``evaluate`` calls: the prediction function, class probabilities when the model has
    them, and the flavor's own object (for SHAP and ``score``)."""

    predict: Callable[..., Any]
    predict_proba: Callable[[Any], Any] | None
    raw: Any


def resolve_model(model: Any) -> ResolvedModel | None:
    """``model`` as ``evaluate`` uses it; a URI is loaded once with ``tracklite.pyfunc``."""
    if model is None:
        return None
    raw = model
    if isinstance(model, str):
        from tracklite.pyfunc import load_model

        model = load_model(model)
        raw = model.get_raw_model()
    elif hasattr(model, "get_raw_model"):  # a PyFuncModel
        raw = model.get_raw_model()
    if hasattr(model, "predict"):
        proba = getattr(raw, "predict_proba", None)
        return ResolvedModel(model.predict, proba if callable(proba) else None, raw)
    if callable(model):
        return ResolvedModel(model, None, None)
    raise InvalidParameterValue(
        f"model of type {type(model).__name__} has no predict method and is not callable; pass a fitted "
        "estimator, a callable, a PyFuncModel or a model URI"
    )


def split_data(data: Any, targets: Any, predictions: str | None) -> tuple[Any, np.ndarray, np.ndarray | None]:
    """``(features, targets, precomputed predictions or None)`` from ``data`` and ``targets``."""
    if isinstance(data, tuple):
        if len(data) != 2:
            raise InvalidParameterValue(f"data as a tuple must be (X, y), got {len(data)} items")
        x, y = data
        pred = None
    elif hasattr(data, "columns"):
        if not isinstance(targets, str) or targets not in data.columns:
            raise InvalidParameterValue(
                f"targets={targets!r} is not a column of the DataFrame (columns: {list(data.columns)}); "
                "pass targets=<label column name>"
            )
        y = data[targets].to_numpy()
        drop = [targets]
        pred = None
        if predictions is not None:
            if predictions not in data.columns:
                raise InvalidParameterValue(f"predictions={predictions!r} is not a column of the DataFrame")
            pred = data[predictions].to_numpy()
            drop.append(predictions)
        x = data.drop(columns=drop)
    else:
        if targets is None or isinstance(targets, str):
            raise InvalidParameterValue("with array data, targets must be an array of labels (or pass data=(X, y))")
        x, y, pred = data, targets, None
    y_arr = np.asarray(y)
    if len(x) != len(y_arr):
        raise InvalidParameterValue(
            f"data has {len(x)} rows but targets has {len(y_arr)} values; they must have the same length"
        )
    if len(y_arr) == 0:
        raise InvalidParameterValue("data is empty; evaluate needs at least one row")
    return x, y_arr, pred


def check_model_type(model_type: str) -> None:
    """Raise unless ``model_type`` is one ``evaluate`` knows."""
    if model_type not in MODEL_TYPES:
        raise InvalidParameterValue(f"model_type={model_type!r} is unknown; use one of {list(MODEL_TYPES)}")


def class_labels(y_true: np.ndarray, y_pred: np.ndarray, config: dict[str, Any]) -> list[Any]:
    """The classes, sorted: ``evaluator_config["label_list"]``, else every label seen in the
    targets or the predictions (so for binary data the last one is the positive class)."""
    given = config.get("label_list")
    if given is not None:
        return sorted(given)
    return sorted(set(np.unique(y_true).tolist()) | set(np.unique(y_pred).tolist()))
