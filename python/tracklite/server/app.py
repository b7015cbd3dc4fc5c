"""The server's ASGI application: routes from the declared endpoints, errors, limits.

Every declared endpoint (``endpoints.ENDPOINTS``) is served under its prefix and, for
MLflow's own routes, mirrored under ``/ajax-api/`` as MLflow's server does. A request is
parsed and type-checked from its declaration, authorised when ``--auth`` is on, and run
in a worker thread against the one store this process owns. Any ``TrackliteError``
becomes MLflow's error body with the error's HTTP status; anything else becomes a 500
with an ``INTERNAL_ERROR`` body, and the server keeps serving.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from tracklite.errors import InvalidParameterValue, TrackliteError
from tracklite.server.endpoints import ENDPOINTS, Endpoint

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

    from tracklite.tracking.client import Client

log = logging.getLogger("tracklite.server")

#: Largest JSON request body (MLflow's own limit for a log-batch body is 1,000,000 bytes).
MAX_JSON_BYTES = int(os.environ.get("TRACKLITE_SERVER_MAX_JSON_BYTES", str(16 * 1024 * 1024)))
#: Largest artifact upload in one request.
MAX_UPLOAD_BYTES = int(os.environ.get("TRACKLITE_SERVER_MAX_UPLOAD_BYTES", str(8 * 1024**3)))

_PREFIXES = {
    "mlflow": ("/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/"),
    "mlflow-artifacts": ("/api/2.0/mlflow-artifacts/", "/ajax-api/2.0/mlflow-artifacts/"),
    "mlflow-3": ("/api/3.0/mlflow/", "/ajax-api/3.0/mlflow/"),
    "tracklite": ("/api/2.0/tracklite/",),
    "": ("/",),
}


class RequestError(TrackliteError):
    """A request the server cannot read (not JSON, too large, wrong content): MLflow's
    ``BAD_REQUEST`` unless a status is given."""

    error_code = "BAD_REQUEST"
    http_status = 400

    def __init__(self, message: str, http_status: int = 400, error_code: str = "BAD_REQUEST") -> None:
        super().__init__(message)
        self.error_code = error_code
        self.http_status = http_status


class Authorizer(Protocol):
    """What ``--auth`` plugs into the request path (``tracklite.server.auth``)."""

    def authenticate(self, request: Request) -> str | None:
        """The signed-in user's name; None for an endpoint anyone may call.

        Raises:
            TrackliteError: 401 ``UNAUTHENTICATED`` for missing or wrong credentials.
        """
        ...

    def authorize(self, user: str | None, ep: Endpoint, args: dict[str, Any]) -> None:
        """Check ``user`` may make this request.

        Raises:
            TrackliteError: 403 ``PERMISSION_DENIED``.
        """
        ...

    def after(self, user: str | None, ep: Endpoint, args: dict[str, Any], result: Any) -> Any:
        """Adjust a successful result: grant the creator MANAGE, filter searches to what
        the user may read."""
        ...


@dataclass
class ServerContext:
    """What handlers work with: the client over the store this process owns.

    Attributes:
        client: A ``Client`` on the server's store file.
        store_uri: The store's path.
        authorizer: The ``--auth`` checks, or None when auth is off.
        extras: Per-feature state (e.g. the UI's caches).
        shared: Other worker processes serve the same store, so a write must reach the file
            before it is acknowledged to be readable through any of them.
    """

    client: Client
    store_uri: str
    authorizer: Authorizer | None = None
    shared: bool = False
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def store(self) -> Any:
        """The backend store (``TrackingStore``)."""
        return self.client.store


def error_response(err: TrackliteError) -> Response:
    """MLflow's JSON error body for ``err`` with its status."""
    from starlette.responses import Response

    headers = {"WWW-Authenticate": 'Basic realm="tracklite"'} if err.http_status == 401 else None
    return Response(
        err.serialize_as_json(), status_code=err.http_status, media_type="application/json", headers=headers
    )


def json_response(payload: Any, status: int = 200) -> Response:
    """``payload`` as a JSON response (NaN never appears: values are converted upstream)."""
    from starlette.responses import Response

    body = json.dumps(payload, separators=(",", ":"), allow_nan=False)
    return Response(body, status_code=status, media_type="application/json")


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF][0-9a-fA-F]{2}")


async def _read_json(request: Request, limit: int = MAX_JSON_BYTES) -> dict[str, Any]:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(
            f"Request body of {declared} bytes is over the server's limit of {limit} bytes; "
            "send smaller batches (or raise TRACKLITE_SERVER_MAX_JSON_BYTES on the server).",
            http_status=413,
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(
                f"Request body is over the server's limit of {limit} bytes; send smaller batches.",
                http_status=413,
            )
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body.strip():
        return {}
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise RequestError(f"Malformed JSON in the request body: {e}. Send a JSON object.") from None
    except RecursionError:
        raise RequestError(
            "The JSON request body is nested too deeply; send a flatter JSON object.",
            error_code="INVALID_PARAMETER_VALUE",
        ) from None
    if _SURROGATE_ESCAPE.search(body):
        # "\ud800" parses into a str that is not Unicode text; a surrogate pair (an emoji) is fine.
        try:
            json.dumps(parsed, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as e:
            raise InvalidParameterValue(
                f"The request holds an unpaired UTF-16 surrogate ({e.object[e.start : e.end]!r}), which is not "
                "Unicode text; send valid UTF-8 strings."
            ) from None
    if not isinstance(parsed, dict):
        raise RequestError(f"The request body must be a JSON object, got {type(parsed).__name__}.")
    return parsed


def _make_route_handler(ctx: ServerContext, ep: Endpoint) -> Any:
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import Response

    from tracklite.server.web_security import json_body_refusal
    from tracklite.users import acting_user
    from tracklite.validation import refuse_long_values

    async def handle(request: Request) -> Response:
        try:
            if not ep.raw_body:
                length = request.headers.get("content-length")
                has_body = bool(length and length.strip() != "0") or "transfer-encoding" in request.headers
                refused = json_body_refusal(request.method, request.headers.get("content-type"), has_body)
                if refused is not None:
                    raise RequestError(refused, http_status=415, error_code="INVALID_PARAMETER_VALUE")
            user = (
                await run_in_threadpool(ctx.authorizer.authenticate, request)
                if ctx.authorizer and ep.need != "PUBLIC"
                else None
            )
            if ep.raw_body:
                raw: dict[str, Any] = {k: request.query_params.getlist(k) for k in request.query_params}
                args = ep.parse(raw, from_query=True)
                args["body"] = request
            elif request.method in ("GET", "HEAD") or (
                request.method == "DELETE" and not request.headers.get("content-length")
            ):
                raw = {k: request.query_params.getlist(k) for k in request.query_params}
                args = ep.parse(raw, from_query=True)
            else:
                args = ep.parse(await _read_json(request, ep.max_body or MAX_JSON_BYTES), from_query=False)
            for name, value in request.path_params.items():
                args[name] = value
            if ctx.authorizer is not None and ep.need != "PUBLIC":
                await run_in_threadpool(ctx.authorizer.authorize, user, ep, args)
            if ep.raw_body:
                result = await ep.handler(ctx, args)
            else:

                def call() -> Any:
                    token = acting_user.set(user)
                    strict = refuse_long_values.set(True)
                    try:
                        return ep.handler(ctx, args)
                    finally:
                        refuse_long_values.reset(strict)
                        acting_user.reset(token)

                result = await run_in_threadpool(call)
            if ctx.authorizer is not None and ep.need != "PUBLIC":
                result = await run_in_threadpool(ctx.authorizer.after, user, ep, args, result)
        except TrackliteError as err:
            return error_response(err)
        except Exception:
            log.exception("%s %s failed", request.method, request.url.path)
            return error_response(
                TrackliteError(f"Internal error while serving {request.method} {request.url.path}; see the server log.")
            )
        if isinstance(result, Response):
            return result
        return json_response(result if result is not None else {})

    return handle


def _not_found(request: Request, exc: Exception) -> Response:
    from starlette.exceptions import HTTPException

    status = exc.status_code if isinstance(exc, HTTPException) else 404
    if status == 405:
        return error_response(
            RequestError(
                f"Method {request.method} is not allowed on {request.url.path}.",
                http_status=405,
                error_code="BAD_REQUEST",
            )
        )
    return error_response(
        RequestError(
            f"No endpoint {request.method} {request.url.path}; the API is listed at /api/2.0/tracklite/openapi.json.",
            http_status=status,
            error_code="ENDPOINT_NOT_FOUND",
        )
    )


def _load_api_modules() -> None:
    # Importing declares the endpoints (each module appends to ENDPOINTS once).
    import tracklite.server.artifacts_api
    import tracklite.server.bulk_api
    import tracklite.server.openapi
    import tracklite.server.registry_api
    import tracklite.server.tracking_api
    import tracklite.server.ui_api
    import tracklite.server.users_api  # noqa: F401


def create_app(
    store_uri: str,
    *,
    authorizer: Authorizer | None = None,
    ui: bool = True,
    shared: bool = False,
) -> Starlette:
    """The ASGI application serving one store.

    Args:
        store_uri: The store file this process owns.
        authorizer: ``--auth``'s checks (``tracklite.server.auth.BasicAuth``), or None.
        ui: Serve the web UI at ``/``.
        shared: Other processes serve the same store (``--workers N``): metric points are
            moved into the file before a write is acknowledged, not only made durable. Always
            so on a lake, which other servers and clients share.

    Returns:
        A Starlette application.
    """
    from starlette.applications import Starlette
    from starlette.routing import Route

    from tracklite.tracking.client import Client

    _load_api_modules()
    shared = shared or store_uri.startswith("ducklake:")
    ctx = ServerContext(client=Client(store_uri), store_uri=store_uri, authorizer=authorizer, shared=shared)
    routes: list[Any] = []
    for ep in ENDPOINTS:
        handler = _make_route_handler(ctx, ep)
        for prefix in _PREFIXES[ep.prefix]:
            routes.append(Route(prefix + ep.path, handler, methods=list(ep.methods)))
    if ui:
        from tracklite.ui import ui_routes

        routes.extend(ui_routes(ctx))
    from starlette.middleware import Middleware

    from tracklite.server.web_security import WebSecurity

    app = Starlette(
        routes=routes, exception_handlers={404: _not_found, 405: _not_found}, middleware=[Middleware(WebSecurity)]
    )
    app.state.ctx = ctx
    return app


def app_from_environment() -> Starlette:
    """The application for ``uvicorn --factory`` worker processes, configured by the
    environment ``tracklite server`` sets (``TRACKLITE_SERVER_STORE``, ``..._AUTH``, ``..._UI``,
    ``..._WORKERS``)."""
    store = os.environ["TRACKLITE_SERVER_STORE"]
    authorizer = None
    if os.environ.get("TRACKLITE_SERVER_AUTH") == "1":
        from tracklite.server.auth import BasicAuth

        authorizer = BasicAuth(store)
    return create_app(
        store,
        authorizer=authorizer,
        ui=os.environ.get("TRACKLITE_SERVER_UI", "1") == "1",
        shared=int(os.environ.get("TRACKLITE_SERVER_WORKERS", "1")) > 1,
    )


def invalid(message: str) -> InvalidParameterValue:
    """Shorthand for handlers: a 400 ``INVALID_PARAMETER_VALUE``."""
    return InvalidParameterValue(message)
