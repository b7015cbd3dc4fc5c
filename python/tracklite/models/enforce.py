"""Checking a model's input against its signature before the model sees it, with MLflow's rules.

Column-based schemas: the input becomes a DataFrame; missing required columns are an
error naming them, extra columns are dropped (with a warning), columns come out in schema
order, an unnamed schema matches by position. Each column gets only MLflow's safe
conversions; the rule table and the conversions run in the Rust core
(``tracklite._core.enforce_action`` / ``cast_columns``) over the column's buffer, so the
cost is per column, not per row. Tensor-based schemas are strict: same dtype, compatible
shape, no casting.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from tracklite import _core
from tracklite.errors import InvalidParameterValue, TrackliteError
from tracklite.models import buffer_pool
from tracklite.types.schema import Array, DataType, Map, Object, Schema, TensorSpec

_logger = logging.getLogger("tracklite.models")

# Column dtypes the Rust core converts; others (float16, bool) take NumPy's own cast.
_RUST_SOURCES = frozenset(
    np.dtype(t)
    for t in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64")
)


def _is_pandas_string(dtype: Any) -> bool:
    import pandas as pd

    return isinstance(dtype, pd.StringDtype)


@dataclass(slots=True)
class _Cast:
    """A numeric column waiting for its conversion by ``_core.cast_columns``."""

    name: Any
    values: Any
    array: Any
    out: Any
    zero_one: bool


def _plan_column(name: Any, values: Any, dtype: DataType) -> Any:
    """The column to pass on, or a ``_Cast`` still to run.

    Raises:
        TrackliteError: MLflow's "Incompatible input types" message.
    """
    if values.dtype == object and dtype not in (DataType.binary, DataType.string):
        values = values.infer_objects()
    # pandas extension dtypes (nullable Int64, Arrow-backed ...) have no item size and never
    # equal a schema dtype: MLflow converts them with pandas (an NA then fails the cast).
    extension = not isinstance(values.dtype, np.dtype)
    text = _is_pandas_string(values.dtype)
    action = _core.enforce_action(values.dtype.kind, getattr(values.dtype, "itemsize", 0), text, dtype.name)
    target = dtype.to_numpy()
    if action == "keep" and extension and not text:
        action = "cast"
    if action == "keep":
        return values
    if action == "cast" and extension:
        numpy_dtype = getattr(values.dtype, "numpy_dtype", None)
        if numpy_dtype in _RUST_SOURCES and not values.hasnans:
            # An Arrow-backed (or nullable) numeric column without nulls: its values buffer,
            # viewed without a copy, goes to the Rust casts like a NumPy column.
            array = values.to_numpy(dtype=numpy_dtype)
            return _Cast(name, values, array, buffer_pool.pool().empty(len(array), target), zero_one=False)
        try:
            return values.astype(target)
        except (TypeError, ValueError) as exc:
            raise TrackliteError(str(exc)) from None
    if action == "to_datetime":
        if values.dtype == np.dtype("datetime64[ns]"):
            return values
        try:
            return values.astype(np.dtype("datetime64[ns]"))
        except (TypeError, ValueError) as exc:
            raise TrackliteError(f"Failed to convert column {name} from type {values.dtype} to {dtype!r}.") from exc
    array = values.to_numpy()
    if action in ("cast", "cast_if_zero_one") and array.dtype in _RUST_SOURCES and array.ndim == 1:
        return _Cast(name, values, array, buffer_pool.pool().empty(len(array), target), action == "cast_if_zero_one")
    if action == "cast":
        return values.astype(target)  # e.g. float16 or bool widening: NumPy's own cast
    raise _incompatible(name, values, target)


def _incompatible(name: Any, values: Any, target: np.dtype) -> TrackliteError:
    hint = ""
    if values.dtype == np.float64 and target.kind in "iu":
        array = values.to_numpy()
        finite = array[~np.isnan(array)]
        if len(finite) < len(array) and bool((finite == np.floor(finite)).all()):
            hint = (
                " Hint: the type mismatch is likely caused by missing values. Integer columns in python can not "
                "represent missing values and are therefore encoded as floats. Infer the model schema from a "
                "realistic data sample that includes missing values, or declare integer columns as doubles "
                "(float64) whenever these columns may have missing values."
            )
    return TrackliteError(
        f"Incompatible input types for column {name}. Can not safely convert {values.dtype} to {target}.{hint}"
    )


def _run_casts(columns: dict[Any, Any]) -> dict[Any, Any]:
    """``columns`` with every pending ``_Cast`` converted into its new column (all in one
    Rust call, on all cores)."""
    import pandas as pd

    casts = [c for c in columns.values() if isinstance(c, _Cast)]
    if not casts:
        return columns
    passed = _core.cast_columns([(c.array, c.out, c.zero_one) for c in casts])
    for cast, ok in zip(casts, passed, strict=True):
        if not ok:
            raise _incompatible(cast.name, cast.values, cast.out.dtype)
    # Wrapped as Series: pandas builds a frame from Series without copying, from bare
    # arrays it consolidates them into blocks (a copy of every converted column).
    return {
        name: pd.Series(c.out, index=c.values.index, name=c.values.name, copy=False) if isinstance(c, _Cast) else c
        for name, c in columns.items()
    }


def _enforce_one_column(name: Any, values: Any, dtype: DataType) -> Any:
    """One pandas column checked against a scalar schema type; the column to pass on.

    Raises:
        TrackliteError: MLflow's "Incompatible input types" message.
    """
    return _run_casts({name: _plan_column(name, values, dtype)})[name]


def _enforce_value(value: Any, spec_type: Any, required: bool) -> Any:
    """One cell of an array/object/map column (these are checked per value, as MLflow does)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        if required:
            raise TrackliteError(f"Expected a value of type {spec_type!r}, got None")
        return value
    if isinstance(spec_type, Array):
        if not isinstance(value, (list, np.ndarray)):
            raise TrackliteError(f"Expected a list for {spec_type!r}, got {type(value).__name__}")
        return [_enforce_value(v, spec_type.dtype, True) for v in value]
    if isinstance(spec_type, Object):
        if not isinstance(value, dict):
            raise TrackliteError(f"Expected a dict for {spec_type!r}, got {type(value).__name__}")
        props = {p.name: p for p in spec_type.properties}
        missing = [n for n, p in props.items() if p.required and n not in value]
        if missing:
            raise TrackliteError(f"Missing required properties {missing}")
        extra = [k for k in value if k not in props]
        if extra:
            raise TrackliteError(f"Invalid properties not defined in the schema found: {extra}")
        return {k: _enforce_value(v, props[k].dtype, props[k].required) for k, v in value.items()}
    if isinstance(spec_type, Map):
        if not isinstance(value, dict) or any(not isinstance(k, str) for k in value):
            raise TrackliteError(f"Expected a dict with string keys for {spec_type!r}")
        return {k: _enforce_value(v, spec_type.value_type, True) for k, v in value.items()}
    if isinstance(spec_type, DataType):
        import pandas as pd

        return _enforce_one_column("value", pd.Series([value]), spec_type).iloc[0]
    return value  # AnyType


def _column(name: Any, values: Any, spec_type: Any, required: bool) -> Any:
    import pandas as pd

    if isinstance(spec_type, DataType):
        return _plan_column(name, values, spec_type)
    return pd.Series([_enforce_value(v, spec_type, required) for v in values], index=values.index, name=name)


def _to_frame(data: Any, schema: Schema) -> Any:
    import pandas as pd

    if isinstance(data, pd.Series):
        return pd.DataFrame(data)
    if isinstance(data, pd.DataFrame):
        return data
    if np.isscalar(data):
        return pd.DataFrame([data])
    if isinstance(data, dict):
        complex_types = any(isinstance(c.type, (Array, Object)) for c in schema.inputs)
        scalars = all(
            np.isscalar(v) or v is None or (isinstance(v, list) and all(isinstance(x, str) for x in v))
            for v in data.values()
        )
        try:
            if complex_types or scalars:
                return pd.DataFrame([data])
            return pd.DataFrame(
                {k: v.tolist() if isinstance(v, np.ndarray) and v.ndim > 1 else v for k, v in data.items()}
            )
        except ValueError as exc:
            raise TrackliteError(
                "This model contains a column-based signature, which suggests a DataFrame input. "
                f"There was an error casting the input data to a DataFrame: {exc}"
            ) from None
    if isinstance(data, (list, np.ndarray)):
        return pd.DataFrame(data)
    raise TrackliteError(f"Expected input to be DataFrame. Found: {type(data).__name__}")


def _check_names(data: Any, schema: Schema) -> Any:
    import pandas as pd

    required = schema.required_input_names()
    optional = set(schema.optional_input_names())
    if len(required) == 1 and isinstance(data, np.ndarray):
        return {required[0]: data}, set(required)
    if isinstance(data, pd.DataFrame):
        actual = list(data.columns)
    elif isinstance(data, dict):
        actual = list(data)
    else:
        actual = []
    missing = [c for c in required if c not in set(actual)]
    extra = [c for c in actual if c not in set(required) and c not in optional]
    if missing:
        message = f"Model is missing inputs {missing}."
        if extra:
            message += f" Note that there were extra inputs: {extra}."
        raise TrackliteError(message)
    if extra:
        _logger.warning(
            "Found extra inputs in the model input that are not defined in the model signature: "
            f"`{extra}`. These inputs will be ignored."
        )
    return data, set(actual)


def _enforce_tensor(values: Any, spec: TensorSpec) -> Any:
    shape, dtype = values.shape, values.dtype
    if len(spec.shape) == 1 and spec.shape[0] == -1 and spec.type == np.dtype("O"):
        return values
    if len(spec.shape) > 1 and -1 in spec.shape[1:] and len(shape) == 1 and dtype == np.dtype("O"):
        return values  # a ragged array
    if len(shape) != len(spec.shape) or any(e not in (-1, a) for e, a in zip(spec.shape, shape, strict=True)):
        raise TrackliteError(f"Shape of input {shape} does not match expected shape {spec.shape}.")
    actual = np.dtype("str") if dtype.char == "U" else np.dtype("bytes") if dtype.char == "S" else dtype
    if actual != spec.type:
        raise TrackliteError(f"dtype of input {dtype} does not match expected dtype {spec.type}")
    return values


def _enforce_tensors(data: Any, schema: Schema) -> Any:
    import pandas as pd

    if schema.has_input_names():
        if isinstance(data, dict):
            out = {}
            for name, spec in zip(schema.input_names(), schema.inputs, strict=True):
                if not isinstance(data[name], np.ndarray):
                    raise InvalidParameterValue(
                        "This model contains a tensor-based model signature with input names, which suggests a "
                        f"dictionary input mapping input name to a numpy array, but a dict with value type "
                        f"{type(data[name])} was found."
                    )
                assert isinstance(spec, TensorSpec)
                out[name] = _enforce_tensor(data[name], spec)
            return out
        if isinstance(data, pd.DataFrame):
            tensors = {}
            for name, spec in zip(schema.input_names(), schema.inputs, strict=True):
                assert isinstance(spec, TensorSpec)
                column = data[name]
                if np.isscalar(column.iloc[0]):
                    array = np.asarray(column, dtype=spec.type).reshape(spec.shape)
                else:
                    array = np.vstack(column.tolist()).reshape(spec.shape).astype(spec.type)
                tensors[name] = _enforce_tensor(array, spec)
            return tensors
        raise InvalidParameterValue(
            "This model contains a tensor-based model signature with input names, which suggests a dictionary "
            "input mapping input name to tensor, or a pandas DataFrame input containing columns mapping input "
            f"name to flattened list value from tensor, but an input of type {type(data)} was found."
        )
    spec = schema.inputs[0]
    assert isinstance(spec, TensorSpec)
    if isinstance(data, pd.DataFrame):
        if data.empty:
            raise TrackliteError("Input DataFrame is empty.")
        if len(data.columns) == 1:
            column = data[data.columns[0]]
            if np.isscalar(column.iloc[0]) and spec.shape in ((-1,), (-1, 1)):
                return _enforce_tensor(np.asarray(column, dtype=spec.type).reshape(spec.shape), spec)
            return _enforce_tensor(np.vstack(column.tolist()).reshape(spec.shape), spec)
        if spec.shape != (-1, len(data.columns)):
            raise InvalidParameterValue(
                "This model contains a model signature with an unnamed input. Since the input data is a pandas "
                "DataFrame containing multiple columns, the input shape must be of the structure "
                f"(-1, number_of_dataframe_columns). Instead, the input DataFrame passed had {len(data.columns)} "
                f"columns and an input shape of {spec.shape} with all values within the DataFrame of scalar type. "
                "Please adjust the passed in DataFrame to match the expected structure"
            )
        return _enforce_tensor(data.to_numpy(), spec)
    if isinstance(data, np.ndarray):
        return _enforce_tensor(data, spec)
    raise InvalidParameterValue(
        "This model contains a tensor-based model signature with no input names, which suggests a numpy array "
        f"input or a pandas dataframe input with proper column values, but an input of type {type(data)} was found."
    )


def enforce_schema(data: Any, schema: Schema) -> Any:
    """``data`` made to fit ``schema``, or an error saying what does not fit.

    Returns:
        For column schemas a DataFrame with the schema's columns in schema order (extra
        columns dropped); for tensor schemas the ndarray or dict of ndarrays.

    Raises:
        TrackliteError: naming the missing input or the column whose type does not fit.
    """
    import pandas as pd

    if not schema.is_tensor_spec():
        data = _to_frame(data, schema)
    if schema.has_input_names():
        data, _ = _check_names(data, schema)
    elif not schema.is_tensor_spec() and len(data.columns) < len(schema.inputs):
        raise TrackliteError(
            f"Model inference is missing inputs. The model signature declares {len(schema.inputs)} inputs  but the "
            f"provided value only has {len(data.columns)} inputs. Note: the inputs were not named in the signature "
            "so we can only verify their count."
        )
    if schema.is_tensor_spec():
        return _enforce_tensors(data, schema)
    columns: dict[Any, Any] = {}
    changed = False
    if schema.has_input_names():
        pairs = [(spec, spec.name, data[spec.name]) for spec in schema.inputs if spec.name in data.columns]
    else:
        pairs = [(spec, data.columns[i], data.iloc[:, i]) for i, spec in enumerate(schema.inputs)]
    for spec, name, values in pairs:  # optional columns that are absent are not in pairs
        columns[name] = _column(name, values, spec.type, spec.required)
        changed = changed or columns[name] is not values
    columns = _run_casts(columns)
    if not changed and list(columns) == list(data.columns):
        return data
    return pd.DataFrame(columns, index=data.index, copy=False)
