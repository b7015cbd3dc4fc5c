"""How a REST endpoint is declared: its path, methods, typed fields and permission.

Each API module declares its handlers with :func:`endpoint`. The declaration is the one
source for three things: parsing and type-checking a request into plain Python values
(a wrong type is a 400 ``INVALID_PARAMETER_VALUE`` naming the field, as MLflow answers),
the permission check of ``--auth``, and the OpenAPI description the fuzz tests use.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from tracklite.errors import InvalidParameterValue

#: What a handler needs on the resource its request names (``--auth``; MLflow's basic-auth
#: rules): ``READ``/``EDIT``/``MANAGE`` on the experiment, run's experiment or registered
#: model named by the request; ``CREATE`` any signed-in user; ``ADMIN`` an admin only;
#: ``PUBLIC`` no sign-in at all.
Need = Literal["READ", "EDIT", "MANAGE", "CREATE", "ADMIN", "PUBLIC", "USER"]
#: Which request field names the resource a permission is checked on.
Resource = Literal["experiment", "run", "registered_model", "logged_model", "artifact", "none"]


@dataclass(frozen=True)
class FieldType:
    """A request field's JSON type: ``string``, ``integer``, ``number``, ``boolean``,
    ``array`` of ``items``, or ``object`` (``key_values`` for MLflow's ``[{key, value}]``)."""

    kind: Literal["string", "integer", "number", "boolean", "array", "object", "key_values"]
    items: FieldType | None = None

    def json_schema(self) -> dict[str, Any]:
        """This type as a JSON Schema fragment (for the OpenAPI description)."""
        if self.kind == "key_values":
            return {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"key": {"type": "string"}, "value": {"type": "string"}},
                    "required": ["key"],
                },
            }
        if self.kind == "number":
            # MLflow sends NaN and the infinities as strings.
            return {"oneOf": [{"type": "number"}, {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}]}
        if self.kind == "array":
            assert self.items is not None
            return {"type": "array", "items": self.items.json_schema()}
        return {"type": self.kind}


STRING = FieldType("string")
INTEGER = FieldType("integer")
NUMBER = FieldType("number")
BOOLEAN = FieldType("boolean")
OBJECT = FieldType("object")
KEY_VALUES = FieldType("key_values")
STRINGS = FieldType("array", STRING)
OBJECTS = FieldType("array", OBJECT)

_NUMBER_STRINGS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf, "inf": math.inf, "-inf": -math.inf}


@dataclass(frozen=True)
class Endpoint:
    """A declared REST endpoint.

    Attributes:
        path: The path under the API prefix, e.g. ``"runs/log-batch"``; ``{name}`` parts are
            path parameters (``{path:path}`` takes the rest of the URL).
        methods: HTTP methods it answers.
        handler: Called with the parsed fields (and path parameters); returns the JSON
            response object, or a Starlette ``Response`` for raw bodies.
        fields: The request fields and their types.
        required: Fields that must be present.
        need: The permission the caller needs (see :data:`Need`).
        resource: Which field names the resource the permission is checked on.
        prefix: ``"mlflow"`` for ``/api/2.0/mlflow/``, ``"mlflow-artifacts"``, ``"tracklite"``
            (``/api/2.0/tracklite/``), ``"mlflow-3"`` (``/api/3.0/mlflow/``) or ``""`` (root).
        summary: One line for the OpenAPI description.
        raw_body: The handler takes the raw request body (artifact uploads).
        defaults: Values of fields a request leaves out or empty, filled in when it is parsed,
            so that the permission check and the handler see the same resource (a run
            created without ``experiment_id`` lands in, and is checked on, experiment 0).
    """

    path: str
    methods: tuple[str, ...]
    handler: Callable[..., Any]
    fields: Mapping[str, FieldType] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    need: Need = "READ"
    resource: Resource = "none"
    prefix: str = "mlflow"
    summary: str = ""
    raw_body: bool = False
    max_body: int | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)

    def parse(self, raw: Mapping[str, Any], *, from_query: bool) -> dict[str, Any]:
        """The request's declared fields, type-checked; unknown fields are ignored, as MLflow does.

        Args:
            raw: The JSON body, or the query parameters (lists of strings) of a GET.
            from_query: Values are strings from a query string and are converted.

        Raises:
            InvalidParameterValue: for a missing required field or a value of the wrong type.
        """
        out: dict[str, Any] = {}
        for name, ftype in self.fields.items():
            if name not in raw or raw[name] is None:
                continue
            out[name] = _convert(name, raw[name], ftype, from_query)
        for name in self.required:
            if name not in out or out[name] == "":
                raise InvalidParameterValue(
                    f"Missing value for required parameter '{name}'. "
                    "See the API docs for more information about request parameters."
                )
        for name, value in self.defaults.items():
            if out.get(name) in (None, ""):
                out[name] = value
        return out


def _bad(name: str, value: Any, expected: str) -> InvalidParameterValue:
    shown = repr(value)
    if len(shown) > 100:
        shown = shown[:100] + "..."
    return InvalidParameterValue(f"Invalid value {shown} for parameter '{name}' supplied: expected {expected}.")


def _convert_integer(name: str, value: Any, from_query: bool) -> int:
    if from_query:
        value = value[-1] if isinstance(value, list) else value
    if isinstance(value, bool):
        raise _bad(name, value, "an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)  # protobuf-JSON sends int64 as strings
        except ValueError:
            pass
    raise _bad(name, value, "an integer")


def _convert(name: str, value: Any, ftype: FieldType, from_query: bool) -> Any:
    if ftype.kind == "integer":
        number = _convert_integer(name, value, from_query)
        if not -(2**63) <= number < 2**63:
            raise _bad(name, value, "an integer that fits in 64 bits")
        return number
    if from_query:
        # A query string repeats a key for a list and sends everything as text.
        if ftype.kind == "array":
            assert ftype.items is not None
            return [_convert(name, v, ftype.items, True) for v in value]
        value = value[-1] if isinstance(value, list) else value
        if ftype.kind == "number":
            try:
                return float(value)
            except ValueError:
                raise _bad(name, value, "a number") from None
        if ftype.kind == "boolean":
            if value.lower() in ("true", "1"):
                return True
            if value.lower() in ("false", "0"):
                return False
            raise _bad(name, value, "true or false")
        if ftype.kind in ("object", "key_values"):
            raise _bad(name, value, "a JSON body (send this request as POST with a JSON body)")
        return value
    kind = ftype.kind
    if kind == "string":
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)  # MLflow's protobuf parser takes numbers for string fields
        raise _bad(name, value, "a string")
    if kind == "number":
        if isinstance(value, bool):
            raise _bad(name, value, "a number")
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str) and value in _NUMBER_STRINGS:
            return _NUMBER_STRINGS[value]
        raise _bad(name, value, "a number, or one of 'NaN', 'Infinity', '-Infinity'")
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        raise _bad(name, value, "true or false")
    if kind == "object":
        if isinstance(value, dict):
            return value
        raise _bad(name, value, "a JSON object")
    if kind == "key_values":
        if not isinstance(value, list):
            raise _bad(name, value, 'a list of {"key": ..., "value": ...} objects')
        pairs = []
        for item in value:
            if not isinstance(item, dict) or not isinstance(item.get("key"), str):
                raise _bad(name, item, 'a {"key": ..., "value": ...} object with a string key')
            v = item.get("value", "")
            if v is None:
                v = ""
            if not isinstance(v, str | int | float) or isinstance(v, bool):
                raise _bad(f"{name}.value", v, "a string")
            pairs.append((item["key"], str(v) if not isinstance(v, str) else v))
        return pairs
    assert ftype.items is not None
    if not isinstance(value, list):
        raise _bad(name, value, "a list")
    return [_convert(name, v, ftype.items, False) for v in value]


#: Every declared endpoint, in declaration order (the API modules append on import).
ENDPOINTS: list[Endpoint] = []


def endpoint(
    path: str,
    methods: str | tuple[str, ...],
    *,
    fields: Mapping[str, FieldType] | None = None,
    required: tuple[str, ...] = (),
    need: Need = "READ",
    resource: Resource = "none",
    prefix: str = "mlflow",
    raw_body: bool = False,
    summary: str | None = None,
    max_body: int | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare the decorated function as the handler of a REST endpoint (see :class:`Endpoint`)."""

    def register(handler: Callable[..., Any]) -> Callable[..., Any]:
        doc = (handler.__doc__ or "").strip().splitlines()
        ENDPOINTS.append(
            Endpoint(
                path=path,
                methods=(methods,) if isinstance(methods, str) else methods,
                handler=handler,
                fields=dict(fields or {}),
                required=required,
                need=need,
                resource=resource,
                prefix=prefix,
                summary=summary or (doc[0] if doc else path),
                raw_body=raw_body,
                max_body=max_body,
                defaults=dict(defaults or {}),
            )
        )
        return handler

    return register


__all__ = [
    "BOOLEAN",
    "ENDPOINTS",
    "INTEGER",
    "KEY_VALUES",
    "NUMBER",
    "OBJECT",
    "OBJECTS",
    "STRING",
    "STRINGS",
    "Endpoint",
    "FieldType",
    "Need",
    "Resource",
    "endpoint",
]
