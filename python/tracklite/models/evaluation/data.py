"""Input normalisation for ``evaluate``: the model, the features and the targets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tracklite.errors import InvalidParameterValue

MODEL_TYPES = ("classifier", "regressor")


def resolve_model(model: Any) -> Callable[[Any], Any] | None:
    """The prediction function of ``model``: a URI is loaded with ``tracklite.pyfunc``."""
    if model is None:
        return None
    if isinstance(model, str):
        from tracklite.pyfunc import load_model

        model = load_model(model)
    if hasattr(model, "predict"):
        return model.predict  # type: ignore[no-any-return]
    if callable(model):
        return model  # type: ignore[no-any-return]
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
