"""Model signature types, at MLflow's import paths and in MLflow's JSON form.

A ``Schema`` is a list of ``ColSpec`` (named or unnamed columns of one ``DataType``, or of
the richer ``Array``/``Object``/``Map``/``AnyType``) or of ``TensorSpec`` (a NumPy dtype
and a shape where -1 is a variable dimension), never both. ``ParamSchema`` describes the
inference-time params a model accepts. ``to_json``/``from_json`` read and write the JSON
strings stored in an ``MLmodel`` file's ``signature`` block.
"""

from __future__ import annotations

import builtins
import datetime as dt
import json
from enum import Enum
from typing import Any

import numpy as np

from tracklite.errors import InvalidParameterValue, TrackliteError


class DataType(Enum):
    """A column's scalar type: its NumPy dtype, the pandas dtype a column holds, its Python type."""

    boolean = 1
    integer = 2
    long = 3
    float = 4
    double = 5
    string = 6
    binary = 7
    datetime = 8

    def __repr__(self) -> str:
        return self.name

    def to_numpy(self) -> np.dtype:
        """The NumPy dtype of this type (``str``/``bytes`` for string/binary)."""
        return _NUMPY[self]

    def to_pandas(self) -> Any:
        """The dtype a pandas column of this type has (``object`` for string and binary)."""
        return object if self in (DataType.string, DataType.binary) else _NUMPY[self]

    def to_python(self) -> type:
        """The Python type of one value."""
        return _PYTHON[self]

    @classmethod
    def from_name(cls, name: str) -> DataType:
        """The type called ``name``.

        Raises:
            TrackliteError: naming the supported types, for any other name.
        """
        try:
            return cls[name]
        except KeyError:
            raise TrackliteError(
                f"Unsupported type '{name}', expected instance of DataType or one of {[t.name for t in cls]}"
            ) from None


_NUMPY = {
    DataType.boolean: np.dtype("bool"),
    DataType.integer: np.dtype("int32"),
    DataType.long: np.dtype("int64"),
    DataType.float: np.dtype("float32"),
    DataType.double: np.dtype("float64"),
    DataType.string: np.dtype("str"),
    DataType.binary: np.dtype("bytes"),
    DataType.datetime: np.dtype("datetime64[ns]"),
}
_PYTHON: dict[DataType, type] = {
    DataType.boolean: bool,
    DataType.integer: int,
    DataType.long: int,
    DataType.float: builtins.float,
    DataType.double: builtins.float,
    DataType.string: str,
    DataType.binary: bytes,
    DataType.datetime: dt.date,
}


def _parse_type(spec: dict[str, Any]) -> DataType | Array | Object | Map | AnyType:
    """A column or property type from its JSON dict (``{"type": ..., ...}``)."""
    kind = spec.get("type")
    if kind == "array":
        if "items" not in spec:
            raise TrackliteError("Missing keys in Array JSON. Expected to find key `items`")
        return Array(_parse_type(spec["items"]))
    if kind == "object":
        if "properties" not in spec:
            raise TrackliteError("Missing keys in Object JSON. Expected to find key `properties`")
        return Object([Property.from_json_dict(name=n, **p) for n, p in spec["properties"].items()])
    if kind == "map":
        if "values" not in spec:
            raise TrackliteError("Missing keys in Map JSON. Expected to find key `values`")
        return Map(_parse_type(spec["values"]))
    if kind == "any":
        return AnyType()
    if kind == "sparkml_vector":
        return Array(DataType.double)
    if not isinstance(kind, str):
        raise TrackliteError(f"Missing or invalid key `type` in {spec!r}")
    return DataType.from_name(kind)


def _type_dict(t: DataType | Array | Object | Map | AnyType) -> dict[str, Any]:
    return {"type": t.name} if isinstance(t, DataType) else t.to_dict()


class Array:
    """A list of values of one type (``{"type": "array", "items": {...}}``)."""

    def __init__(self, dtype: DataType | str | Array | Object | Map | AnyType) -> None:
        self.dtype = DataType.from_name(dtype) if isinstance(dtype, str) else dtype

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"type": "array", "items": _type_dict(self.dtype)}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Array) and self.dtype == other.dtype

    def __hash__(self) -> int:
        return hash(("array", repr(self.dtype)))

    def __repr__(self) -> str:
        return f"Array({self.dtype!r})"


class Property:
    """One named field of an ``Object``."""

    def __init__(
        self, name: str, dtype: DataType | str | Array | Object | Map | AnyType, required: bool = True
    ) -> None:
        if not isinstance(name, str) or not name:
            raise TrackliteError(f"Property name must be a non-empty string, got {name!r}")
        self.name = name
        self.dtype = DataType.from_name(dtype) if isinstance(dtype, str) else dtype
        self.required = required

    @classmethod
    def from_json_dict(cls, **kwargs: Any) -> Property:
        """A property from ``name`` plus its JSON dict."""
        name = kwargs.pop("name")
        required = kwargs.pop("required", True)
        return cls(name, _parse_type(kwargs), required)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, keyed by name."""
        return {self.name: {**_type_dict(self.dtype), "required": self.required}}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Property) and (self.name, self.dtype, self.required) == (
            other.name,
            other.dtype,
            other.required,
        )

    def __hash__(self) -> int:
        return hash((self.name, repr(self.dtype), self.required))

    def __repr__(self) -> str:
        return f"{self.name}: {self.dtype!r} ({'required' if self.required else 'optional'})"


class Object:
    """A dict with named, typed properties (``{"type": "object", "properties": {...}}``)."""

    def __init__(self, properties: list[Property]) -> None:
        names = [p.name for p in properties]
        if len(set(names)) != len(names):
            raise TrackliteError(f"Found duplicated property names in Object: {names}")
        self.properties = sorted(properties, key=lambda p: p.name)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        props: dict[str, Any] = {}
        for p in self.properties:
            props.update(p.to_dict())
        return {"type": "object", "properties": props}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Object) and self.properties == other.properties

    def __hash__(self) -> int:
        return hash(tuple(self.properties))

    def __repr__(self) -> str:
        return f"Object({self.properties!r})"


class Map:
    """A dict from string keys to values of one type (``{"type": "map", "values": {...}}``)."""

    def __init__(self, value_type: DataType | str | Array | Object | Map | AnyType) -> None:
        self.value_type = DataType.from_name(value_type) if isinstance(value_type, str) else value_type

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"type": "map", "values": _type_dict(self.value_type)}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Map) and self.value_type == other.value_type

    def __hash__(self) -> int:
        return hash(("map", repr(self.value_type)))

    def __repr__(self) -> str:
        return f"Map({self.value_type!r})"


class AnyType:
    """Any value (``{"type": "any"}``)."""

    name = "any"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"type": "any"}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AnyType)

    def __hash__(self) -> int:
        return hash("any")

    def __repr__(self) -> str:
        return "Any"


ColumnType = DataType | Array | Object | Map | AnyType


class ColSpec:
    """One column of a column-based schema: its type, optional name, and whether it is required.

    Args:
        type: A ``DataType``, its name (``"double"``), or ``Array``/``Object``/``Map``/``AnyType``.
        name: The column name; None for a schema matched by position.
        required: Whether the column must be present in the input.

    Raises:
        TrackliteError: for an unknown type name.
    """

    def __init__(self, type: ColumnType | str, name: str | None = None, required: bool = True) -> None:
        self.type: ColumnType = DataType.from_name(type) if isinstance(type, str) else type
        if not isinstance(self.type, (DataType, Array, Object, Map, AnyType)):
            raise TypeError(f"ColSpec type must be a DataType or a type name, got {type!r}")
        self.name = name
        self.required = bool(required)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``{"type": ..., "name": ..., "required": ...}``."""
        d = _type_dict(self.type)
        if self.name is not None:
            d["name"] = self.name
        d["required"] = self.required
        return d

    @classmethod
    def from_json_dict(cls, **kwargs: Any) -> ColSpec:
        """A column from its JSON dict; ``required`` defaults to true.

        Raises:
            TrackliteError: for a missing ``type`` or an unknown key (such as the old ``optional``).
        """
        if "type" not in kwargs:
            raise TrackliteError("Missing keys in ColSpec JSON. Expected to find key `type`")
        name = kwargs.pop("name", None)
        required = kwargs.pop("required", True)
        if kwargs["type"] in ("array", "object", "map", "any", "sparkml_vector"):
            return cls(_parse_type(kwargs), name, True if required is None else required)
        unknown = set(kwargs) - {"type"}
        if unknown:
            raise TrackliteError(f"ColSpec.__init__() got an unexpected keyword argument {sorted(unknown)[0]!r}")
        return cls(kwargs["type"], name, required)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ColSpec) and (self.type, self.name, self.required) == (
            other.type,
            other.name,
            other.required,
        )

    def __hash__(self) -> int:
        return hash((repr(self.type), self.name, self.required))

    def __repr__(self) -> str:
        required = "required" if self.required else "optional"
        return f"{self.type!r} ({required})" if self.name is None else f"{self.name!r}: {self.type!r} ({required})"


class TensorSpec:
    """One tensor of a tensor-based schema: a NumPy dtype, a shape (-1: any size), a name.

    Raises:
        TypeError: if ``type`` is not a ``numpy.dtype``.
        TrackliteError: for a flexible dtype with a size (``<U10``) or a bad shape.
    """

    def __init__(self, type: np.dtype, shape: tuple[int, ...] | list[int], name: str | None = None) -> None:
        if not isinstance(type, np.dtype):
            raise TypeError(f"Expected `type` to be instance of `{np.dtype}`, received `{type.__class__}`")
        if type.char in "SUV" and type.itemsize != 0:
            raise TrackliteError(
                f"MLflow does not support size information in flexible numpy data types. Use np.dtype('{type.char}')"
                f" instead of {type!r}"
            )
        if not isinstance(shape, (tuple, list)) or not all(isinstance(d, (int, np.integer)) for d in shape):
            raise TrackliteError(f"Expected `shape` to be a tuple or list of ints, received {shape!r}")
        self.type = type
        self.shape = tuple(int(d) for d in shape)
        self.name = name

    @property
    def required(self) -> bool:
        """Tensors are always required."""
        return True

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``{"name"?, "type": "tensor", "tensor-spec": {"dtype", "shape"}}``."""
        spec = {"dtype": str(self.type), "shape": list(self.shape)}
        if self.name is None:
            return {"type": "tensor", "tensor-spec": spec}
        return {"name": self.name, "type": "tensor", "tensor-spec": spec}

    @classmethod
    def from_json_dict(cls, **kwargs: Any) -> TensorSpec:
        """A tensor from its JSON dict.

        Raises:
            TrackliteError: for missing keys or an unknown dtype.
        """
        if not {"tensor-spec", "type"} <= set(kwargs):
            raise TrackliteError("Missing keys in TensorSpec JSON. Expected to find keys `tensor-spec` and `type`")
        if kwargs["type"] != "tensor":
            raise TrackliteError("Type mismatch, TensorSpec expects `tensor` as the type")
        spec = kwargs["tensor-spec"]
        if not {"dtype", "shape"} <= set(spec):
            raise TrackliteError("Missing keys in TensorSpec JSON. Expected to find keys `dtype` and `shape`")
        try:
            dtype = np.dtype(spec["dtype"])
        except TypeError as exc:
            raise TrackliteError(f"Unsupported tensor dtype {spec['dtype']!r}: {exc}") from None
        return cls(dtype, spec["shape"], kwargs.get("name"))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TensorSpec) and (self.type, self.shape, self.name) == (
            other.type,
            other.shape,
            other.name,
        )

    def __hash__(self) -> int:
        return hash((str(self.type), self.shape, self.name))

    def __repr__(self) -> str:
        info = f"Tensor({str(self.type)!r}, {self.shape!r})"
        return info if self.name is None else f"{self.name!r}: {info}"


class Schema:
    """A model's inputs or outputs: all ``ColSpec`` or all ``TensorSpec``, all named or all unnamed.

    Raises:
        InvalidParameterValue: for an empty list or a list that is not a list.
        TrackliteError: for mixed kinds, mixed naming, or unnamed optional columns.
    """

    def __init__(self, inputs: list[ColSpec | TensorSpec]) -> None:
        if not isinstance(inputs, list):
            raise InvalidParameterValue(f"Inputs of Schema must be a list, got type {type(inputs).__name__}")
        if not inputs:
            raise InvalidParameterValue("Creating Schema with empty inputs is not allowed.")
        named = [x.name is not None for x in inputs]
        if any(named) and not all(named):
            raise TrackliteError(
                "Creating Schema with a combination of named and unnamed inputs is not allowed. "
                f"Got input names {[x.name for x in inputs]}"
            )
        tensors = [isinstance(x, TensorSpec) for x in inputs]
        if any(tensors) and not all(tensors):
            raise TrackliteError(
                "Creating Schema with a combination of ColSpec and TensorSpec is not supported. "
                "Please choose one of ColSpec or TensorSpec"
            )
        if all(tensors) and len(inputs) > 1 and not all(named):
            raise TrackliteError(
                "Creating Schema with multiple unnamed TensorSpecs is not supported. "
                "Please provide names for each TensorSpec."
            )
        if not any(named) and not all(x.required for x in inputs):
            raise TrackliteError(
                "Creating Schema with unnamed optional inputs is not supported. "
                "Please name all inputs or make all inputs required."
            )
        self.inputs = inputs

    def __len__(self) -> int:
        return len(self.inputs)

    def __iter__(self) -> Any:
        return iter(self.inputs)

    def is_tensor_spec(self) -> bool:
        """Whether the schema is tensor-based."""
        return isinstance(self.inputs[0], TensorSpec)

    def has_input_names(self) -> bool:
        """Whether inputs are matched by name (else by position)."""
        return self.inputs[0].name is not None

    def input_names(self) -> list[str | int]:
        """Input names; positions for an unnamed schema."""
        return [x.name if x.name is not None else i for i, x in enumerate(self.inputs)]

    def required_input_names(self) -> list[str | int]:
        """Names of the required inputs."""
        return [n for n, x in zip(self.input_names(), self.inputs, strict=True) if x.required]

    def optional_input_names(self) -> list[str | int]:
        """Names of the optional inputs."""
        return [n for n, x in zip(self.input_names(), self.inputs, strict=True) if not x.required]

    def input_types(self) -> list[Any]:
        """Each input's type (``DataType``/complex type, or NumPy dtype for tensors)."""
        return [x.type for x in self.inputs]

    def input_dict(self) -> dict[str | int, ColSpec | TensorSpec]:
        """Inputs by name."""
        return dict(zip(self.input_names(), self.inputs, strict=True))

    def to_dict(self) -> list[dict[str, Any]]:
        """The JSON-ready list."""
        return [x.to_dict() for x in self.inputs]

    def to_json(self) -> str:
        """The JSON string stored in an ``MLmodel`` file."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, json_str: str) -> Schema:
        """A schema from its JSON string.

        Raises:
            TrackliteError: for JSON that is not a list of column or tensor specs.
        """
        try:
            items = json.loads(json_str)
        except (TypeError, ValueError) as exc:
            raise TrackliteError(f"Model schema is not valid JSON: {exc}") from None
        if not isinstance(items, list) or not all(isinstance(x, dict) for x in items):
            raise TrackliteError(f"Model schema must be a JSON list of objects, got {json_str!r}")
        return cls(
            [
                TensorSpec.from_json_dict(**x) if x.get("type") == "tensor" else ColSpec.from_json_dict(**x)
                for x in items
            ]
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schema) and self.inputs == other.inputs

    def __hash__(self) -> int:
        return hash(tuple(self.inputs))

    def __repr__(self) -> str:
        return repr(self.inputs)


class ParamSpec:
    """One inference-time parameter: name, type, default and shape (None: scalar; (-1,): a list).

    Raises:
        InvalidParameterValue: for a binary type, an unknown type, or a default that does not fit.
    """

    def __init__(
        self, name: str, dtype: DataType | Object | str, default: Any, shape: tuple[int, ...] | None = None
    ) -> None:
        if isinstance(dtype, str):
            try:
                dtype = DataType[dtype]
            except KeyError:
                raise InvalidParameterValue(
                    f"Unsupported type '{dtype}', expected instance of DataType or one of {[t.name for t in DataType]}"
                ) from None
        if dtype == DataType.binary:
            raise InvalidParameterValue(f"Binary type is not supported for parameters, ParamSpec '{name}'")
        self.name = name
        self.dtype = dtype
        self.shape = tuple(shape) if shape is not None else None
        from tracklite.models.params import validate_param

        self.default = default  # as given, so the spec can name itself in validation errors
        self.default = validate_param(self, default)

    @property
    def type(self) -> DataType | Object:
        """The parameter's type (alias of ``dtype``)."""
        return self.dtype

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``{"name", "type", "default", "shape"}``."""
        default = self.default
        if isinstance(default, np.ndarray):
            default = default.tolist()
        elif isinstance(default, (dt.date, dt.datetime)):
            default = default.isoformat()
        dtype = self.dtype.name if isinstance(self.dtype, DataType) else self.dtype.to_dict()
        return {
            "name": self.name,
            "type": dtype,
            "default": default,
            "shape": list(self.shape) if self.shape is not None else None,
        }

    @classmethod
    def from_json_dict(cls, **kwargs: Any) -> ParamSpec:
        """A param from its JSON dict.

        Raises:
            InvalidParameterValue: for missing keys.
        """
        if not {"name", "type", "default"} <= set(kwargs):
            raise InvalidParameterValue(
                "Missing keys in ParamSpec JSON. Expected to find keys `name`, `type` and `default`. "
                f"Received keys: {sorted(kwargs)}"
            )
        dtype = kwargs["type"]
        if isinstance(dtype, dict):
            dtype = _parse_type(dtype)
        shape = kwargs.get("shape")
        return cls(kwargs["name"], dtype, kwargs["default"], tuple(shape) if shape is not None else None)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ParamSpec):
            return False
        same_default = (
            np.array_equal(self.default, other.default)
            if isinstance(self.default, (list, np.ndarray))
            else self.default == other.default
        )
        return (self.name, self.dtype, self.shape) == (other.name, other.dtype, other.shape) and bool(same_default)

    def __hash__(self) -> int:
        return hash((self.name, repr(self.dtype), self.shape))

    def __repr__(self) -> str:
        shape = f" (shape: {self.shape})" if self.shape is not None else ""
        return f"{self.name!r}: {self.dtype!r} (default: {self.default}){shape}"


class ParamSchema:
    """The params a model's ``predict`` accepts, each with a default.

    Raises:
        InvalidParameterValue: for a non-list or duplicated names.
    """

    def __init__(self, params: list[ParamSpec]) -> None:
        if not isinstance(params, list) or not all(isinstance(p, ParamSpec) for p in params):
            raise InvalidParameterValue(f"ParamSchema needs a list of ParamSpec, got {params!r}")
        names = [p.name for p in params]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise InvalidParameterValue(f"Duplicated parameters found in schema: {duplicates}")
        self.params = params

    def __len__(self) -> int:
        return len(self.params)

    def __iter__(self) -> Any:
        return iter(self.params)

    def to_dict(self) -> list[dict[str, Any]]:
        """The JSON-ready list."""
        return [p.to_dict() for p in self.params]

    def to_json(self) -> str:
        """The JSON string stored in an ``MLmodel`` file."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, json_str: str) -> ParamSchema:
        """A param schema from its JSON string.

        Raises:
            TrackliteError: for JSON that is not a list of param specs.
        """
        try:
            items = json.loads(json_str)
        except (TypeError, ValueError) as exc:
            raise TrackliteError(f"Params schema is not valid JSON: {exc}") from None
        if not isinstance(items, list):
            raise TrackliteError(f"Params schema must be a JSON list, got {json_str!r}")
        return cls([ParamSpec.from_json_dict(**p) for p in items])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ParamSchema) and self.params == other.params

    def __hash__(self) -> int:
        return hash(tuple(self.params))

    def __repr__(self) -> str:
        return repr(self.params)
