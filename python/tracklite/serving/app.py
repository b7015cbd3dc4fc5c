"""The scoring server's HTTP application: ``/invocations``, ``/ping``, ``/health``, ``/version``.

Endpoints and bodies are ``mlflow models serve``'s, so clients, load balancers and
health checks written for MLflow work unchanged. Parsing and ``predict`` run in the
thread pool, off the event loop; a request that takes longer than ``timeout`` seconds
gets MLflow's 504 while the server keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tracklite.errors import TrackliteError
from tracklite.serving import scoring
from tracklite.serving.model_source import ModelSource

_logger = logging.getLogger("tracklite.serving")

DEFAULT_TIMEOUT_S = 60.0


def _error(exc: TrackliteError) -> Response:
    return Response(exc.serialize_as_json(), status_code=exc.get_http_status_code(), media_type="application/json")


def _score(source: ModelSource, body: bytes, content_type: str | None) -> bytes:
    model = source.model  # one read: a reload swapping the model mid-request does not mix versions
    request = scoring.parse_request(body, content_type, model.metadata.get_input_schema())
    return scoring.predictions_response(scoring.predict(model, request))


def create_scoring_app(source: ModelSource, *, timeout: float = DEFAULT_TIMEOUT_S) -> Starlette:
    """The ASGI application serving ``source``'s model.

    Args:
        source: The model (and the registry reference it follows, if any).
        timeout: Seconds a request may take before the server answers 504.
    """

    async def ping(request: Request) -> Response:
        del request
        return Response("\n", status_code=200 if source.model is not None else 404, media_type="application/json")

    async def version(request: Request) -> Response:
        del request
        from tracklite import __version__

        return Response(__version__, media_type="application/json")

    async def invocations(request: Request) -> Response:
        body = await request.body()
        try:
            result = await asyncio.wait_for(
                asyncio.to_thread(_score, source, body, request.headers.get("content-type")), timeout
            )
        except scoring.UnsupportedContentType as exc:
            return PlainTextResponse(str(exc), status_code=415)
        except TrackliteError as exc:
            return _error(exc)
        except RecursionError:  # a deeply nested input that got past the JSON parser
            return _error(scoring.bad_request("The input is nested too deeply; send rows or columns of values."))
        except TimeoutError:
            # MLflow's text, but as a JSON error body: its server sends the bare text as JSON.
            message = f"Request processing time exceeded limit ({timeout:g} s)"
            return Response(
                json.dumps({"error_code": "DEADLINE_EXCEEDED", "message": message}),
                status_code=504,
                media_type="application/json",
            )
        return Response(result, media_type="application/json")

    routes = [
        Route("/ping", ping, methods=["GET"]),
        Route("/health", ping, methods=["GET"]),
        Route("/version", version, methods=["GET"]),
        Route("/invocations", invocations, methods=["POST"]),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        del app
        source.start()
        try:
            yield
        finally:
            source.stop()

    return Starlette(routes=routes, lifespan=lifespan)


def app_from_environment() -> Starlette:
    """The application for ``uvicorn --factory`` worker processes, configured by the
    environment ``tracklite models serve`` sets."""
    source = ModelSource(
        os.environ["TRACKLITE_SERVING_MODEL_URI"],
        watch=os.environ.get("TRACKLITE_SERVING_WATCH") == "1",
        poll_interval=float(os.environ.get("TRACKLITE_SERVING_POLL_INTERVAL", "5")),
    )
    return create_scoring_app(source, timeout=float(os.environ.get("TRACKLITE_SERVING_TIMEOUT", DEFAULT_TIMEOUT_S)))


def serve(
    model_uri: str,
    *,
    host: str = "127.0.0.1",
    port: int = 5001,
    workers: int = 1,
    timeout: float = DEFAULT_TIMEOUT_S,
    reload_on_alias_change: bool = False,
    poll_interval: float = 5.0,
    log_level: str = "warning",
) -> None:
    """Serve ``model_uri`` with MLflow's scoring protocol until interrupted.

    The model is loaded once here first, so a wrong URI or a model that does not load is an
    error before the port opens; with ``workers`` > 1 each worker process loads its own copy.

    Args:
        model_uri: A model path, ``runs:/``, ``models:/name/version``, ``models:/name/stage``
            or ``models:/name@alias`` URI.
        host: Interface to listen on.
        port: TCP port.
        workers: Worker processes (uvicorn).
        timeout: Seconds a request may take before the server answers 504.
        reload_on_alias_change: Follow a moving alias or stage without a restart.
        poll_interval: Seconds between registry checks when following.
        log_level: uvicorn's log level.

    Raises:
        TrackliteError: if the model cannot be found or loaded.
    """
    import uvicorn

    logging.basicConfig(format="%(asctime)s %(name)s %(levelname)s %(message)s")
    source = ModelSource(model_uri, watch=reload_on_alias_change, poll_interval=poll_interval)
    options: dict[str, Any] = {"host": host, "port": port, "log_level": log_level, "timeout_graceful_shutdown": 5}
    if workers == 1:
        uvicorn.run(create_scoring_app(source, timeout=timeout), **options)
        return
    os.environ.update(
        TRACKLITE_SERVING_MODEL_URI=model_uri,
        TRACKLITE_SERVING_WATCH="1" if reload_on_alias_change else "0",
        TRACKLITE_SERVING_POLL_INTERVAL=str(poll_interval),
        TRACKLITE_SERVING_TIMEOUT=str(timeout),
    )
    del source  # each worker loads its own
    uvicorn.run("tracklite.serving.app:app_from_environment", factory=True, workers=workers, **options)
