"""Input examples: ``input_example.json`` and ``serving_input_example.json`` beside a model.

The encodings are MLflow's: a DataFrame as pandas "split" JSON without the index (the
serving file wraps it as ``dataframe_split``); an ndarray (or dict of them) as nested lists
(wrapped as ``inputs``); dicts, lists and scalars as plain JSON (``inputs``). A ``(data,
params)`` tuple stores both, ``{"inputs": data, "params": params}``.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np

from tracklite.errors import InvalidParameterValue, TrackliteError
from tracklite.types.schema import DataType

EXAMPLE_FILE = "input_example.json"
SERVING_EXAMPLE_FILE = "serving_input_example.json"


class _Encoder(json.JSONEncoder):
    """JSON for NumPy scalars and arrays, bytes (base64) and datetimes (ISO)."""

    def default(self, o: Any) -> Any:
        import base64
        import datetime as dt

        import pandas as pd

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, (bytes, bytearray)):
            return base64.b64encode(o).decode("ascii")
        if isinstance(o, (dt.date, dt.datetime, pd.Timestamp)):
            return o.isoformat()
        return super().default(o)


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _split_frame(df: Any) -> dict[str, Any]:
    data = [[_nan_to_none(v) for v in row] for row in df.itertuples(index=False, name=None)]
    out: dict[str, Any] = {"columns": list(df.columns), "data": data}
    if list(df.columns) == list(range(len(df.columns))):
        del out["columns"]  # a default column index is not written, as MLflow does
    return out


def save_example(path: str, input_example: Any) -> dict[str, Any]:
    """Write the example files into the model directory ``path``.

    Returns:
        The ``saved_input_example_info`` block for the ``MLmodel`` file.

    Raises:
        InvalidParameterValue: for an example type that cannot be stored as JSON.
    """
    import pandas as pd

    params = None
    data = input_example
    if isinstance(input_example, tuple) and len(input_example) == 2 and isinstance(input_example[1], dict):
        data, params = input_example
    info: dict[str, Any] = {"artifact_path": EXAMPLE_FILE}
    if params is not None:
        info["params"] = "true"
    if isinstance(data, pd.DataFrame):
        encoded: Any = _split_frame(data)
        serving: dict[str, Any] = {"dataframe_split": encoded}
        info.update({"type": "dataframe", "pandas_orient": "split" if "columns" in encoded else "values"})
    elif isinstance(data, np.ndarray) or (
        isinstance(data, dict) and data and all(isinstance(v, np.ndarray) for v in data.values())
    ):
        encoded = data.tolist() if isinstance(data, np.ndarray) else {k: v.tolist() for k, v in data.items()}
        serving = {"inputs": encoded}
        info["type"] = "ndarray"
    elif isinstance(data, (dict, list)) or np.isscalar(data):
        if isinstance(data, dict) and any(isinstance(v, np.ndarray) for v in data.values()):
            raise InvalidParameterValue(
                "Mixed types in dictionary are not supported as input examples: use all numpy arrays or none."
            )
        encoded = data
        serving = {"inputs": encoded}
        info["type"] = "json_object"
    else:
        raise InvalidParameterValue(
            "An input example must be a pandas DataFrame, a numpy ndarray, a dict of ndarrays, a dict, "
            f"a list or a scalar (optionally as a (data, params) tuple); got {type(data).__name__}."
        )
    if params is not None:
        encoded = {"inputs": encoded, "params": params}
        serving = {**serving, "params": params}
    with open(os.path.join(path, EXAMPLE_FILE), "w", encoding="utf-8") as fh:
        json.dump(encoded, fh, cls=_Encoder)
    with open(os.path.join(path, SERVING_EXAMPLE_FILE), "w", encoding="utf-8") as fh:
        json.dump(serving, fh, cls=_Encoder, indent=2)
    info["serving_input_path"] = SERVING_EXAMPLE_FILE
    return info


def load_example(path: str, info: dict[str, Any] | None, input_schema: Any = None) -> Any:
    """The input example stored in model directory ``path`` (None when there is none).

    Raises:
        TrackliteError: if the ``MLmodel`` names an example file that is missing or unreadable.
    """
    import pandas as pd

    if not info:
        return None
    file = os.path.join(path, info.get("artifact_path", EXAMPLE_FILE))
    try:
        with open(file, encoding="utf-8") as fh:
            stored = json.load(fh)
    except (OSError, ValueError) as exc:
        raise TrackliteError(f"The model's input example '{file}' cannot be read: {exc}") from None
    if info.get("params"):
        stored = stored["inputs"]
    kind = info.get("type")
    if kind == "dataframe":
        frame = pd.DataFrame(stored["data"], columns=stored.get("columns"))
        if input_schema is not None and not input_schema.is_tensor_spec() and input_schema.has_input_names():
            # JSON numbers come back as int64/float64: give numeric columns their schema types.
            for spec in input_schema.inputs:
                numeric = isinstance(spec.type, DataType) and spec.type.to_numpy().kind in "biuf"
                if numeric and spec.name in frame.columns:
                    frame[spec.name] = frame[spec.name].astype(spec.type.to_numpy())
        return frame
    if kind == "ndarray":
        if isinstance(stored, dict):
            return {k: np.asarray(v) for k, v in stored.items()}
        dtype = None
        if input_schema is not None and input_schema.is_tensor_spec() and not input_schema.has_input_names():
            dtype = input_schema.inputs[0].type
        return np.asarray(stored, dtype=dtype)
    return stored
