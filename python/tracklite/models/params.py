"""Inference-time params: checking one value against its ``ParamSpec``, and a dict against a ``ParamSchema``.

MLflow's rules: a value of the spec's type passes (as the plain Python type); an integer
may stand for a long, float or double, a long for a float or double, a float for a double;
a datetime spec accepts anything NumPy reads as a date; shape ``(-1,)`` takes a 1-D list of
such values. Unknown params are dropped with a warning, missing ones get their defaults.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from tracklite.errors import InvalidParameterValue

if TYPE_CHECKING:
    from tracklite.types.schema import DataType, ParamSchema, ParamSpec

_logger = logging.getLogger("tracklite.models")


def _is_type(dtype: DataType, value: Any) -> bool:
    from tracklite.types.schema import DataType

    kinds: tuple[type, ...] = (dtype.to_python(), type(np.zeros(1, dtype.to_numpy())[0]))
    if dtype == DataType.datetime:
        kinds += (np.datetime64, dt.datetime)
    if dtype == DataType.binary:
        kinds += (bytearray,)
    if dtype in (DataType.integer, DataType.long) and type(value) is bool:
        return False  # bool is an int subclass, but not an integer param
    return type(value) in kinds


def _widening(dtype: DataType) -> tuple[DataType, ...]:
    from tracklite.types.schema import DataType

    return {
        DataType.long: (DataType.integer,),
        DataType.float: (DataType.integer, DataType.long),
        DataType.double: (DataType.integer, DataType.long, DataType.float),
    }.get(dtype, ())


def _scalar(value: Any, dtype: DataType) -> Any:
    """One value of a scalar param as its Python type, or an error saying why not."""
    from tracklite.types.schema import DataType

    if value is None:
        return None
    if dtype == DataType.datetime:
        try:
            parsed = np.datetime64(value).item()
        except ValueError as exc:
            raise InvalidParameterValue(
                f"Failed to convert value `{value}` from type `{type(value)}` to `{dtype}`"
            ) from exc
        if isinstance(parsed, int):
            raise InvalidParameterValue(
                f"Failed to convert value to `{dtype}`. It must be convertible to datetime.date/datetime, got `{value}`"
            )
        return parsed
    if not np.isscalar(value):
        raise InvalidParameterValue(f"Value must be a scalar for type `{dtype}`, got `{value}`")
    if _is_type(dtype, value) or any(_is_type(t, value) for t in _widening(dtype)):
        return dtype.to_python()(value)
    shown = str(value)  # as MLflow prints it (bytes as b'...')
    raise InvalidParameterValue(f"Can not safely convert `{type(value)}` to `{dtype}` for value `{shown}`")


def validate_param(spec: ParamSpec, value: Any) -> Any:
    """``value`` checked against ``spec`` and converted to plain Python values.

    Raises:
        InvalidParameterValue: naming the spec and what did not fit.
    """
    from tracklite.types.schema import Object

    if spec.shape == (-1,) and not (isinstance(value, (list, np.ndarray)) and np.array(value).ndim == 1):
        raise InvalidParameterValue(
            f"Value must be a 1D array with shape (-1,) for param {spec!r}, "
            f"received {type(value).__name__} with ndim {np.array(value).ndim}"
        )
    if spec.shape not in (None, (-1,)):
        raise InvalidParameterValue(
            "Shape must be None for scalar or dictionary value, or (-1,) for 1D array value "
            f"for ParamSpec {spec!r}), received {spec.shape}"
        )
    try:
        if isinstance(spec.dtype, Object):
            if not isinstance(value, dict):
                raise InvalidParameterValue(f"Expected a dict for an object param, got {type(value).__name__}")
            return value
        if spec.shape is None:
            return _scalar(value, spec.dtype)
        return [_scalar(v, spec.dtype) for v in value]
    except InvalidParameterValue as exc:
        raise InvalidParameterValue(f"Failed to validate type and shape for {spec!r}, error: {exc.message}") from None


def enforce_params(params: dict[str, Any] | None, schema: ParamSchema | None) -> dict[str, Any] | None:
    """The params ``predict`` receives: checked, converted, unknown ones dropped, defaults filled in.

    Raises:
        InvalidParameterValue: listing every param that does not fit its spec.
    """
    if schema is None:
        if params in (None, {}):
            return params
        ignored = (
            f"Ignoring provided params: {list(params)}"
            if isinstance(params, dict)
            else "Ignoring invalid params (not a dictionary)."
        )
        _logger.warning(
            "`params` can only be specified at inference time if the model signature defines a params schema. "
            f"This model does not define a params schema. {ignored}"
        )
        return {}
    params = {} if params is None else params
    if not isinstance(params, dict):
        raise InvalidParameterValue(f"Parameters must be a dictionary. Got type '{type(params).__name__}'.")
    params = {str(k): v for k, v in params.items()}
    allowed = {p.name for p in schema.params}
    unknown = [k for k in params if k not in allowed]
    if unknown:
        _logger.warning(
            f"Unrecognized params {unknown} are ignored for inference. Supported params are: {sorted(allowed)}. "
            "To enable them, please add corresponding schema in ModelSignature."
        )
    out: dict[str, Any] = {}
    invalid = []
    for spec in schema.params:
        if spec.name not in params:
            out[spec.name] = spec.default
            continue
        try:
            out[spec.name] = validate_param(spec, params[spec.name])
        except InvalidParameterValue as exc:
            invalid.append((spec.name, exc.message))
    if invalid:
        raise InvalidParameterValue(f"Invalid parameters found: {set(invalid)!r}")
    return out
