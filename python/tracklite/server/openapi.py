"""The server's OpenAPI 3.0 description, built from the declared endpoints.

Every :data:`~tracklite.server.endpoints.ENDPOINTS` entry becomes an operation under the
prefix ``app.py`` mounts it at (the ``/ajax-api/`` mirror is left out): a GET's fields are
query parameters, other methods take a JSON body with the declared fields, artifact
uploads take raw bytes. Every operation answers 200, or MLflow's error body
``{"error_code", "message"}``. ``GET /api/2.0/tracklite/openapi.json`` serves it; the
fuzz tests (schemathesis) read it from there.
"""

from __future__ import annotations

import re
from typing import Any

from tracklite.server.app import ServerContext
from tracklite.server.endpoints import ENDPOINTS, Endpoint, endpoint

#: Where each endpoint prefix is mounted (the first of ``app._PREFIXES``; no ``/ajax-api``).
_MOUNTS = {
    "mlflow": "/api/2.0/mlflow/",
    "mlflow-artifacts": "/api/2.0/mlflow-artifacts/",
    "mlflow-3": "/api/3.0/mlflow/",
    "tracklite": "/api/2.0/tracklite/",
    "": "/",
}
_PATH_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::[a-z]+)?\}")

_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"error_code": {"type": "string"}, "message": {"type": "string"}},
    "required": ["error_code", "message"],
}


def full_path(ep: Endpoint) -> str:
    """The endpoint's URL path as OpenAPI writes it (``{name}`` without Starlette's ``:path``)."""
    return _PATH_PARAM.sub(r"{\1}", _MOUNTS[ep.prefix] + ep.path)


def _operation_id(ep: Endpoint, method: str) -> str:
    path = _PATH_PARAM.sub(r"\1", ep.path)
    words = re.sub(r"[^A-Za-z0-9]+", "_", f"{ep.prefix}_{path}").strip("_")
    return f"{method.lower()}_{words}"


def _operation(ep: Endpoint, method: str) -> dict[str, Any]:
    path_params = _PATH_PARAM.findall(ep.path)
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in path_params
    ]
    fields = {name: ftype for name, ftype in ep.fields.items() if name not in path_params}
    op: dict[str, Any] = {
        "operationId": _operation_id(ep, method),
        "summary": ep.summary,
        "tags": [ep.prefix or "server"],
    }
    body_method = method not in ("GET", "HEAD") and not ep.raw_body
    if ep.raw_body or not body_method:
        for name, ftype in fields.items():
            if ftype.kind in ("object", "key_values"):
                continue  # not expressible in a query string
            query_schema = {"type": "number"} if ftype.kind == "number" else ftype.json_schema()
            param: dict[str, Any] = {
                "name": name,
                "in": "query",
                "required": name in ep.required,
                "schema": query_schema,
            }
            if ftype.kind == "array":
                param.update(style="form", explode=True)
            params.append(param)
    if ep.raw_body and method == "PUT":
        op["requestBody"] = {
            "required": False,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    elif body_method:
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {name: ftype.json_schema() for name, ftype in fields.items()},
        }
        required = [name for name in ep.required if name in fields]
        if required:
            schema["required"] = required
        op["requestBody"] = {"required": bool(required), "content": {"application/json": {"schema": schema}}}
    if params:
        op["parameters"] = params
    op["responses"] = {
        "200": {
            "description": "Success: the response object (MLflow's protobuf-JSON).",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        "default": {
            "description": "An error: MLflow's error body.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        },
    }
    return op


def openapi_document(endpoints: list[Endpoint] | None = None) -> dict[str, Any]:
    """The OpenAPI 3.0 document describing ``endpoints`` (default: every declared endpoint).

    Args:
        endpoints: The endpoints to describe; ``ENDPOINTS`` when None.

    Returns:
        The document as a JSON-ready dict.
    """
    import tracklite

    paths: dict[str, dict[str, Any]] = {}
    for ep in ENDPOINTS if endpoints is None else endpoints:
        item = paths.setdefault(full_path(ep), {})
        for method in ep.methods:
            item[method.lower()] = _operation(ep, method)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "tracklite server",
            "version": tracklite.__version__,
            "description": "MLflow's REST API (tracking, registry, artifact proxy) plus tracklite's own endpoints.",
        },
        "paths": paths,
        "components": {"schemas": {"Error": _ERROR_SCHEMA}},
    }


@endpoint("openapi.json", "GET", need="PUBLIC", prefix="tracklite")
def openapi_json(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """This API's OpenAPI 3.0 description."""
    return openapi_document()


__all__ = ["full_path", "openapi_document"]
