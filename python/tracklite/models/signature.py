"""Model signatures: what a model takes and returns, and inferring that from example data.

DataFrames, Series, dicts of scalars/lists and lists of dicts give column-based schemas;
NumPy arrays (and dicts of them) give tensor-based ones, with the first dimension variable.
``params`` give a ``ParamSchema`` whose defaults are the example values.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from typing import Any

import numpy as np

from tracklite.errors import InvalidParameterValue, TrackliteError
from tracklite.types.schema import (
    AnyType,
    Array,
    ColSpec,
    ColumnType,
    DataType,
    Object,
    ParamSchema,
    ParamSpec,
    Property,
    Schema,
    TensorSpec,
)


class ModelSignature:
    """A model's input and output schemas and its inference params.

    Args:
        inputs: The input ``Schema``.
        outputs: The output ``Schema``.
        params: The ``ParamSchema`` of params ``predict`` accepts.

    Raises:
        TypeError: for arguments of the wrong types.
        ValueError: when all three are None.
    """

    def __init__(
        self, inputs: Schema | None = None, outputs: Schema | None = None, params: ParamSchema | None = None
    ) -> None:
        for label, value, kind in (("inputs", inputs, Schema), ("outputs", outputs, Schema)):
            if value is not None and not isinstance(value, kind):
                raise TypeError(
                    f"{label} must be either None or a tracklite.types.Schema, got '{type(value).__name__}'"
                )
        if params is not None and not isinstance(params, ParamSchema):
            raise TypeError(f"If params are provided, they must be a ParamSchema, got '{type(params).__name__}'")
        if inputs is None and outputs is None and params is None:
            raise ValueError("At least one of inputs, outputs or params must be provided")
        self.inputs = inputs
        self.outputs = outputs
        self.params = params

    def to_dict(self) -> dict[str, str | None]:
        """The ``MLmodel`` form: each part a JSON string (or None)."""
        return {
            "inputs": self.inputs.to_json() if self.inputs else None,
            "outputs": self.outputs.to_json() if self.outputs else None,
            "params": self.params.to_json() if self.params else None,
        }

    @classmethod
    def from_dict(cls, signature_dict: dict[str, Any]) -> ModelSignature:
        """A signature from its ``MLmodel`` form.

        Raises:
            TrackliteError: for a part that does not parse, naming it.
        """
        if not isinstance(signature_dict, dict):
            raise TrackliteError(
                f"A model signature must be a mapping of inputs/outputs/params, got {signature_dict!r}"
            )
        parts: dict[str, Any] = {}
        for part, parse in (
            ("inputs", Schema.from_json),
            ("outputs", Schema.from_json),
            ("params", ParamSchema.from_json),
        ):
            text = signature_dict.get(part)
            try:
                parts[part] = parse(text) if text else None
            except (TrackliteError, TypeError, KeyError) as exc:
                message = exc.message if isinstance(exc, TrackliteError) else str(exc)
                raise TrackliteError(f"The signature's {part} do not parse: {message}") from None
        if all(v is None for v in parts.values()):
            raise TrackliteError("A model signature needs at least one of inputs, outputs or params.")
        return cls(**parts)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ModelSignature) and (self.inputs, self.outputs, self.params) == (
            other.inputs,
            other.outputs,
            other.params,
        )

    def __hash__(self) -> int:
        return hash((self.inputs, self.outputs, self.params))

    def __repr__(self) -> str:
        return f"inputs: \n  {self.inputs!r}\noutputs: \n  {self.outputs!r}\nparams: \n  {self.params!r}\n"


def infer_signature(
    model_input: Any = None, model_output: Any = None, params: dict[str, Any] | None = None
) -> ModelSignature:
    """A signature from example input, output and params.

    Args:
        model_input: A DataFrame, Series, ndarray, dict of ndarrays, dict of scalars/lists,
            list of dicts, list of scalars or a scalar.
        model_output: The model's output on that input, in any of the same forms.
        params: Inference params and their default values.

    Raises:
        InvalidParameterValue: for data whose types cannot be mapped to a schema.

    Examples:
        >>> import pandas as pd
        >>> infer_signature(pd.DataFrame({"x": [1.0, 2.0]})).inputs
        ['x': double (required)]
    """
    inputs = infer_schema(model_input) if model_input is not None else None
    outputs = infer_schema(model_output) if model_output is not None else None
    param_schema = infer_param_schema(params) if params else None
    return ModelSignature(inputs, outputs, param_schema)


def clean_tensor_type(dtype: np.dtype) -> np.dtype:
    """``dtype`` without the size of flexible string/bytes types (``<U5`` -> ``str``)."""
    if dtype.char == "U":
        return np.dtype("str")
    if dtype.char == "S":
        return np.dtype("bytes")
    return dtype


def datatype_of_dtype(dtype: Any) -> DataType:
    """The ``DataType`` of a NumPy dtype or pandas extension dtype.

    Raises:
        TrackliteError: for dtypes with no column type (complex, object).
    """
    kind, size = dtype.kind, dtype.itemsize
    if kind == "b":
        return DataType.boolean
    if kind in "iu":
        if size < 4 or (kind == "i" and size == 4):
            return DataType.integer
        if size < 8 or (kind == "i" and size == 8):
            return DataType.long
    if kind == "f":
        return DataType.float if size <= 4 else DataType.double
    if kind == "U":
        return DataType.string
    if kind == "S":
        return DataType.binary
    if kind == "M":
        return DataType.datetime
    raise TrackliteError(f"Unsupported numpy data type '{dtype}', kind '{kind}'")


def _is_missing(x: Any) -> bool:
    import pandas as pd

    if isinstance(x, float):
        return bool(np.isnan(x))
    return x is None or x is pd.NA or x is pd.NaT


def _scalar_type(value: Any) -> DataType:
    for dtype in (DataType.boolean, DataType.string, DataType.binary):
        if type(value) is dtype.to_python():
            return dtype
    if isinstance(value, (bytes, bytearray)):
        return DataType.binary
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return DataType.long if isinstance(value, int) else datatype_of_dtype(np.asarray(value).dtype)
    if isinstance(value, (float, np.floating, np.bool_, np.datetime64, np.str_, np.bytes_)):
        return datatype_of_dtype(np.asarray(value).dtype)
    import datetime as dt

    if isinstance(value, (dt.date, dt.datetime)):
        return DataType.datetime
    raise TrackliteError(f"Data {value!r} is not one of the supported DataType")


def _value_type(value: Any) -> ColumnType | None:
    """The type of one cell; None for a missing value."""
    if _is_missing(value):
        return None
    if isinstance(value, dict):
        if any(not isinstance(k, str) for k in value):
            raise TrackliteError(f"Expected dictionary keys to be strings, got {list(value)}")
        props = []
        for key, item in value.items():
            item_type = _value_type(item)
            props.append(
                Property(key, item_type if item_type is not None else AnyType(), required=item_type is not None)
            )
        return Object(props)
    if isinstance(value, (list, np.ndarray)) and not (isinstance(value, np.ndarray) and value.ndim == 0):
        return _list_type(list(value))
    return _scalar_type(value)


def _merge(a: ColumnType | None, b: ColumnType | None) -> ColumnType | None:
    if a is None or b is None:
        return a if b is None else b
    if a == b:
        return a
    if isinstance(a, Object) and isinstance(b, Object):
        props = {p.name: p for p in a.properties}
        others = {p.name: p for p in b.properties}
        merged = []
        for name in sorted(set(props) | set(others)):
            pa_, pb_ = props.get(name), others.get(name)
            if pa_ is None or pb_ is None:
                one = pa_ or pb_
                assert one is not None
                merged.append(Property(name, one.dtype, required=False))
            else:
                dtype = _merge(pa_.dtype, pb_.dtype)
                merged.append(Property(name, dtype if dtype is not None else AnyType(), pa_.required and pb_.required))
        return Object(merged)
    if isinstance(a, Array) and isinstance(b, Array):
        inner = _merge(a.dtype, b.dtype)
        return Array(inner if inner is not None else AnyType())
    if isinstance(a, AnyType) or isinstance(b, AnyType):
        return AnyType()
    raise TrackliteError(f"Expected all values in list to be of same type, got {a!r} and {b!r}")


def _list_type(values: list[Any]) -> Array:
    merged: ColumnType | None = None
    for value in values:
        merged = _merge(merged, _value_type(value))
    return Array(merged if merged is not None else AnyType())


def _column_type(column: Any) -> ColumnType:
    """The type of a pandas column."""
    if column.dtype.kind == "O":
        column = column.infer_objects()
    if column.dtype.kind != "O":
        return datatype_of_dtype(column.dtype)
    try:
        return _list_type(column.to_list()).dtype
    except TrackliteError:
        import pandas as pd

        if pd.api.types.is_string_dtype(column):
            return DataType.string
        raise


def _required(values: Any) -> bool:
    import pandas as pd

    if isinstance(values, pd.Series):
        return not bool(values.isna().any()) if values.dtype.kind != "O" else not any(_is_missing(x) for x in values)
    if isinstance(values, list):
        return not any(_is_missing(x) for x in values)
    return not _is_missing(values)


def _tensor_shape(array: np.ndarray) -> tuple[int, ...]:
    return (-1, *array.shape[1:]) if array.ndim else ()


def infer_schema(data: Any) -> Schema:
    """The schema of one example dataset (see ``infer_signature``).

    Raises:
        InvalidParameterValue: for data whose types cannot be mapped to a schema.
    """
    import pandas as pd

    try:
        if isinstance(data, list) and not data:
            schema = Schema([ColSpec(DataType.string)])
        elif isinstance(data, list) and all(isinstance(v, dict) for v in data):
            columns: dict[str, list[Any]] = defaultdict(list)
            for item in data:
                for key, value in item.items():
                    columns[key].append(value)
            schema = Schema(
                [
                    ColSpec(
                        _list_type(values).dtype,
                        name=key,
                        required=all(item.get(key) is not None for item in data),
                    )
                    for key, values in columns.items()
                ]
            )
        elif isinstance(data, dict) and data and all(isinstance(v, np.ndarray) for v in data.values()):
            schema = Schema([TensorSpec(clean_tensor_type(a.dtype), _tensor_shape(a), name=k) for k, a in data.items()])
        elif isinstance(data, dict):
            if any(not isinstance(k, str) for k in data):
                raise TrackliteError("The dictionary keys are not all strings.")
            schema = Schema(
                [
                    ColSpec(
                        _list_type(v).dtype if isinstance(v, list) else _value_type(v) or AnyType(), k, _required(v)
                    )
                    for k, v in data.items()
                ]
            )
        elif isinstance(data, pd.Series):
            schema = Schema([ColSpec(_column_type(data), data.name, _required(data))])
        elif isinstance(data, pd.DataFrame):
            schema = Schema([ColSpec(_column_type(data[c]), c, _required(data[c])) for c in data.columns])
        elif isinstance(data, np.ndarray):
            schema = Schema([TensorSpec(clean_tensor_type(data.dtype), _tensor_shape(data))])
        elif _is_sparse(data):
            schema = Schema([TensorSpec(clean_tensor_type(data.data.dtype), _tensor_shape(data))])
        elif isinstance(data, list):
            schema = Schema([ColSpec(_list_type(data).dtype)])
        else:
            schema = Schema([ColSpec(_scalar_type(data))])
    except TrackliteError as exc:
        raise InvalidParameterValue(
            "Failed to infer schema. Expected a pandas DataFrame or Series, a numpy ndarray, a dict of "
            f"ndarrays, a dict or list of dicts of scalars and lists, a list of scalars or a scalar, but got "
            f"{type(data).__name__}. Error: {exc.message}"
        ) from None
    if not schema.is_tensor_spec() and any(t in (DataType.integer, DataType.long) for t in schema.input_types()):
        warnings.warn(
            "Hint: Inferred schema contains integer column(s). Integer columns in Python cannot represent "
            "missing values. If your input data contains missing values at inference time, it will be encoded "
            "as floats and will cause a schema enforcement error. Infer the schema from a realistic sample that "
            "includes missing values, or declare such columns as doubles.",
            UserWarning,
            stacklevel=3,
        )
    return schema


def _is_sparse(data: Any) -> bool:
    module = type(data).__module__
    return module.startswith("scipy.sparse") and hasattr(data, "data") and hasattr(data, "shape")


def infer_param_schema(params: dict[str, Any]) -> ParamSchema:
    """A ``ParamSchema`` whose defaults are the given values.

    Raises:
        InvalidParameterValue: listing the params whose type cannot be inferred.
    """
    if not isinstance(params, dict):
        raise InvalidParameterValue(f"Expected parameters to be dict, got {type(params).__name__}")
    specs, invalid = [], []
    for name, value in params.items():
        try:
            dtype, shape = _param_type(value)
            specs.append(ParamSpec(name, dtype, value, shape))
        except TrackliteError as exc:
            invalid.append((name, value, exc.message))
    if invalid:
        raise InvalidParameterValue(f"Failed to infer schema for parameters: {invalid}")
    return ParamSchema(specs)


def _param_type(value: Any) -> tuple[DataType | Object, tuple[int, ...] | None]:
    import datetime as dt

    if isinstance(value, (list, np.ndarray)):
        array = np.array(value)
        if array.ndim != 1:
            raise TrackliteError(f"Expected parameters to be 1D array or scalar, got {array.ndim}D array")
        if value and all(isinstance(v, (dt.date, dt.datetime, np.datetime64)) for v in value):
            return DataType.datetime, (-1,)
        return datatype_of_dtype(array.dtype), (-1,)
    if isinstance(value, (dt.date, dt.datetime, np.datetime64)):
        return DataType.datetime, None
    if isinstance(value, dict):
        inferred = _value_type(value)
        assert isinstance(inferred, Object)
        return inferred, None
    if np.isscalar(value):
        return datatype_of_dtype(np.array(value).dtype), None
    raise TrackliteError(f"Expected parameters to be 1D array or scalar, got {type(value).__name__}")


def infer_from_model(model: Any, input_example: Any, predict_fn: str = "predict") -> ModelSignature:
    """The signature of an input example and ``model.<predict_fn>`` on it.

    A model that cannot score its own example still gets the input schema.
    """
    data = input_example[0] if isinstance(input_example, tuple) else input_example
    try:
        output = getattr(model, predict_fn)(data)
    except Exception:  # noqa: BLE001  the input schema alone is still worth saving
        output = None
    return infer_signature(data, output)
