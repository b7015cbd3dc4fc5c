"""A tracking server as a store: ``set_tracking_uri("http://host:5000")``.

Every ``TrackingStore`` method is a call of MLflow's REST API (``/api/2.0/mlflow/``,
``/api/2.0/mlflow-artifacts/``), so the same client works against ``tracklite server``
and, for what MLflow's API covers, against ``mlflow server``. Methods without a REST
equivalent are built from REST calls (search pages as Arrow tables, metric history as
arrays, model files through the artifact proxy). Metrics take the spool in
``rest_metrics``.

HTTP: one ``requests`` session per thread (connection pooling), retries with backoff on
429/502/503/504 and connection errors (``TRACKLITE_HTTP_REQUEST_MAX_RETRIES``, default 5),
a timeout per request (``TRACKLITE_HTTP_REQUEST_TIMEOUT``, default 120 s), and HTTP basic
auth from ``TRACKLITE_TRACKING_USERNAME``/``TRACKLITE_TRACKING_PASSWORD`` (or MLflow's
``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``). Errors come back as the
tracklite exception of the server's ``error_code``, with the server's message.
"""

from __future__ import annotations

import contextlib
import math
import os
import posixpath
import threading
import urllib.parse
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from tracklite import errors
from tracklite.entities import (
    DatasetInput,
    Experiment,
    FileInfo,
    LoggedModel,
    Metric,
    ModelVersion,
    Param,
    RegisteredModel,
    RegistryEvent,
    Run,
    RunData,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)
from tracklite.store.base import RegistryStore, TrackingStore

if TYPE_CHECKING:
    from tracklite.store.rest_metrics import RemoteMetrics
    from tracklite.store.run_tables import RunTables

API = "/api/2.0/mlflow/"
ARTIFACTS_API = "/api/2.0/mlflow-artifacts/artifacts"
PROXY_SCHEME = "mlflow-artifacts:"
_VIEW_NAMES = {ViewType.ACTIVE_ONLY: "ACTIVE_ONLY", ViewType.DELETED_ONLY: "DELETED_ONLY", ViewType.ALL: "ALL"}
_ERRORS: dict[str, type[errors.TrackliteError]] = {
    "RESOURCE_DOES_NOT_EXIST": errors.ResourceDoesNotExist,
    "ENDPOINT_NOT_FOUND": errors.ResourceDoesNotExist,
    "NOT_FOUND": errors.ResourceDoesNotExist,
    "INVALID_PARAMETER_VALUE": errors.InvalidParameterValue,
    "BAD_REQUEST": errors.InvalidParameterValue,
    "MALFORMED_REQUEST": errors.InvalidParameterValue,
    "RESOURCE_ALREADY_EXISTS": errors.ResourceAlreadyExists,
    "INVALID_STATE": errors.InvalidState,
    "PERMISSION_DENIED": errors.PermissionDenied,
    "UNAUTHENTICATED": errors.Unauthenticated,
    "TEMPORARILY_UNAVAILABLE": errors.StoreLockedError,
}
_STATUS_ERRORS: dict[int, type[errors.TrackliteError]] = {
    400: errors.InvalidParameterValue,
    401: errors.Unauthenticated,
    403: errors.PermissionDenied,
    404: errors.ResourceDoesNotExist,
    503: errors.StoreLockedError,
}
_MODEL_STATUS = {
    "PENDING": "LOGGED_MODEL_PENDING",
    "READY": "LOGGED_MODEL_READY",
    "FAILED": "LOGGED_MODEL_UPLOAD_FAILED",
}


class ServerUnreachable(errors.TrackliteError):
    """No answer from the server at all (refused, timed out, DNS): unlike an error answer,
    this says nothing about what the server is."""

    error_code = "TEMPORARILY_UNAVAILABLE"
    http_status = 503


def _env(*names: str, default: str | None = None) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return default


def error_from_response(status: int, body: bytes, what: str) -> errors.TrackliteError:
    """The tracklite exception for an HTTP error answer (MLflow's JSON error body, or by status)."""
    import json

    code = message = None
    with contextlib.suppress(ValueError, UnicodeDecodeError):
        parsed = json.loads(body)
        if isinstance(parsed, dict):
            code, message = parsed.get("error_code"), parsed.get("message")
    if not isinstance(message, str) or not message:
        text = body.decode("utf-8", "replace").strip()[:500]
        message = f"{what} failed with HTTP {status}" + (f": {text}" if text else "")
    cls = _ERRORS.get(code or "") or _STATUS_ERRORS.get(status) or errors.TrackliteError
    err = cls(message)
    if cls is errors.TrackliteError and isinstance(code, str):
        err.error_code = code
    err.http_status = status
    return err


def _number(value: Any) -> float:
    if isinstance(value, str):
        return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}.get(value, float(value))
    return float(value)


def _kv(items: Any) -> dict[str, str]:
    return {i["key"]: i.get("value", "") for i in items or []}


def _to_kv(mapping: dict[str, Any] | None) -> list[dict[str, str]]:
    return [{"key": k, "value": str(v)} for k, v in (mapping or {}).items()]


def _opt_int(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


def experiment_of(d: dict[str, Any]) -> Experiment:
    """An ``Experiment`` from its REST JSON."""
    return Experiment(
        str(d["experiment_id"]),
        d.get("name", ""),
        d.get("artifact_location", ""),
        d.get("lifecycle_stage", "active"),
        _kv(d.get("tags")),
        _opt_int(d.get("creation_time")),
        _opt_int(d.get("last_update_time")),
    )


def run_info_of(d: dict[str, Any]) -> RunInfo:
    """A ``RunInfo`` from its REST JSON."""
    return RunInfo(
        d.get("run_id") or d["run_uuid"],
        str(d.get("experiment_id", "")),
        d.get("run_name", ""),
        d.get("user_id", ""),
        d.get("status", RunStatus.RUNNING),
        int(d.get("start_time") or 0),
        _opt_int(d.get("end_time")),
        d.get("artifact_uri", ""),
        d.get("lifecycle_stage", "active"),
    )


def _run_metrics(d: dict[str, Any]) -> list[Metric]:
    return [
        Metric(m["key"], _number(m.get("value", 0.0)), int(m.get("timestamp") or 0), int(m.get("step") or 0))
        for m in (d.get("data") or {}).get("metrics", [])
    ]


def run_of(d: dict[str, Any]) -> Run:
    """A ``Run`` from its REST JSON (metrics, params and tags sorted by key, as the file store gives)."""
    data = d.get("data") or {}
    metrics = {m.key: m.value for m in _run_metrics(d)}
    return Run(
        run_info_of(d["info"]),
        RunData(
            dict(sorted(metrics.items())),
            dict(sorted(_kv(data.get("params")).items())),
            dict(sorted(_kv(data.get("tags")).items())),
        ),
    )


def logged_model_of(d: dict[str, Any]) -> LoggedModel:
    """A ``LoggedModel`` from its REST JSON."""
    info, data = d.get("info", d), d.get("data") or {}
    status = info.get("status", "")
    for stored, wire in _MODEL_STATUS.items():
        if status == wire:
            status = stored
    return LoggedModel(
        info["model_id"],
        str(info.get("experiment_id", "")),
        info.get("name", ""),
        info.get("artifact_uri", ""),
        int(info.get("creation_timestamp_ms") or 0),
        int(info.get("last_updated_timestamp_ms") or 0),
        status,
        info.get("source_run_id") or None,
        info.get("model_type") or None,
        _kv(info.get("tags")),
        _kv(data.get("params")),
    )


def model_version_of(d: dict[str, Any]) -> ModelVersion:
    """A ``ModelVersion`` from its REST JSON."""
    return ModelVersion(
        d["name"],
        int(d["version"]),
        int(d.get("creation_timestamp") or 0),
        int(d.get("last_updated_timestamp") or 0),
        d.get("description") or None,
        d.get("user_id") or None,
        d.get("current_stage", "None"),
        d.get("source", ""),
        d.get("run_id") or None,
        d.get("status", "READY"),
        d.get("status_message") or None,
        _kv(d.get("tags")),
        d.get("run_link") or None,
        list(d.get("aliases") or []),
        d.get("model_id") or None,
    )


def registered_model_of(d: dict[str, Any]) -> RegisteredModel:
    """A ``RegisteredModel`` from its REST JSON."""
    return RegisteredModel(
        d["name"],
        int(d.get("creation_timestamp") or 0),
        int(d.get("last_updated_timestamp") or 0),
        d.get("description") or None,
        [model_version_of(v) for v in d.get("latest_versions") or []],
        _kv(d.get("tags")),
        {a["alias"]: int(a["version"]) for a in d.get("aliases") or []},
    )


def proxy_path(uri: str) -> str:
    """The artifact proxy path of an ``mlflow-artifacts:`` URI (``1/<run>/artifacts``).

    Raises:
        InvalidParameterValue: for a URI the server does not proxy.
    """
    if not uri.startswith(PROXY_SCHEME):
        raise errors.InvalidParameterValue(
            f"Artifact location '{uri}' is not served by the tracking server's artifact proxy; start the server "
            "with proxied artifacts (tracklite server does; mlflow server needs --serve-artifacts and "
            "--artifacts-destination)."
        )
    rest = uri[len(PROXY_SCHEME) :]
    if rest.startswith("//"):  # mlflow-artifacts://host:port/path
        rest = rest[2:].partition("/")[2]
    return rest.strip("/")


class _Http:
    """HTTP to one server: a ``requests`` session per thread, retries, timeouts, basic auth."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._local = threading.local()
        self._sessions: list[Any] = []
        self._lock = threading.Lock()
        self.timeout = float(
            _env("TRACKLITE_HTTP_REQUEST_TIMEOUT", "MLFLOW_HTTP_REQUEST_TIMEOUT", default="120") or 120
        )
        self.retries = int(
            _env("TRACKLITE_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_MAX_RETRIES", default="5") or 5
        )
        self.backoff = float(
            _env("TRACKLITE_HTTP_REQUEST_BACKOFF_FACTOR", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", default="0.5") or 0.5
        )
        user = _env("TRACKLITE_TRACKING_USERNAME", "MLFLOW_TRACKING_USERNAME")
        password = _env("TRACKLITE_TRACKING_PASSWORD", "MLFLOW_TRACKING_PASSWORD")
        self.auth = (user, password or "") if user else None

    def session(self) -> Any:
        s = getattr(self._local, "session", None)
        if s is None:
            import requests
            from requests.adapters import HTTPAdapter
            from urllib3.util.retry import Retry

            retry = Retry(
                total=self.retries,
                connect=self.retries,
                read=self.retries,
                status=self.retries,
                backoff_factor=self.backoff,
                backoff_max=30,
                status_forcelist=(429, 502, 503, 504),
                allowed_methods=None,  # every method, as MLflow's client retries
                raise_on_status=False,
                respect_retry_after_header=True,
            )
            s = requests.Session()
            adapter = HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=16)
            s.mount("http://", adapter)
            s.mount("https://", adapter)
            if self.auth is not None:
                s.auth = self.auth
            s.headers["User-Agent"] = "tracklite-client"
            self._local.session = s
            with self._lock:
                self._sessions.append(s)
        return s

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """The response of ``method path``; raises the mapped tracklite error for a non-2xx answer."""
        import requests

        url = self.base_url + path
        kwargs.setdefault("timeout", self.timeout)
        try:
            resp = self.session().request(method, url, **kwargs)
        except requests.exceptions.RequestException as exc:
            raise ServerUnreachable(
                f"Could not reach the tracking server at {self.base_url} ({method} {path}): {exc}. "
                "Check that it is running and the tracking URI is right."
            ) from None
        if resp.status_code >= 400:
            raise error_from_response(resp.status_code, resp.content, f"{method} {path}")
        return resp

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for s in sessions:
            with contextlib.suppress(Exception):
                s.close()
        self._local = threading.local()


class RestStore(TrackingStore):
    """The tracking store behind ``http(s)://`` tracking URIs (see the module docstring).

    Args:
        uri: The server's base URL, e.g. ``http://127.0.0.1:5000``.
    """

    def __init__(self, uri: str) -> None:
        from tracklite.store.rest_metrics import RemoteMetrics

        self.uri = uri.rstrip("/")
        #: Keys the model cache (``models/uri.py``) per server.
        self.path = self.uri
        self.http = _Http(self.uri)
        self.registry = RestRegistryStore(self)
        self._server_info: dict[str, Any] | None = None
        self._artifact_roots: dict[str, str] = {}
        self.metrics: RemoteMetrics = RemoteMetrics(self)

    # -- plumbing -------------------------------------------------------------------

    def call(self, method: str, path: str, *, json: dict[str, Any] | None = None, params: Any = None) -> dict[str, Any]:
        """A JSON API call: ``path`` under the server (``endpoint`` names are under ``/api/2.0/mlflow/``).

        GET sends ``json`` as the query string, other methods as the JSON body.
        """
        if not path.startswith("/"):
            path = API + path
        if method == "GET" and json is not None:
            params, json = _query(json), None
        resp = self.http.request(method, path, json=json, params=params)
        if not resp.content:
            return {}
        try:
            out = resp.json()
        except ValueError:
            raise errors.TrackliteError(
                f"{method} {path}: the server at {self.uri} answered with something that is not JSON; "
                "is the tracking URI a tracklite or MLflow server?"
            ) from None
        return out if isinstance(out, dict) else {}

    def server_info(self) -> dict[str, Any]:
        """``/api/3.0/mlflow/server-info`` (``{}`` for servers without it)."""
        if self._server_info is None:
            try:
                self._server_info = self.call("GET", "/api/3.0/mlflow/server-info")
            except errors.TrackliteError as exc:
                # Only an answer tells what the server is: a server that could not be reached
                # may still be a tracklite server (and must not be sent log-batch forever after).
                if isinstance(exc, errors.Unauthenticated | errors.PermissionDenied | ServerUnreachable):
                    raise
                self._server_info = {}
        return self._server_info

    def is_tracklite(self) -> bool:
        """Whether the server is a ``tracklite server``."""
        return self.server_info().get("store_type") == "tracklite"

    def close(self) -> None:
        """Send the spooled metrics (bounded by ``TRACKLITE_REMOTE_EXIT_TIMEOUT``) and close the sessions."""
        self.metrics.close()
        self.http.close()

    def flush(self) -> None:
        """Return once the server has every metric point this process logged."""
        self.metrics.flush()

    def _pages(
        self, method: str, endpoint: str, body: dict[str, Any], field: str, limit: int | None, offset: int, page: int
    ) -> list[Any]:
        """``offset`` then at most ``limit`` items of a paged search, following page tokens."""
        out: list[Any] = []
        token: str | None = None
        want = None if limit is None else offset + limit
        while True:
            size = page if want is None else max(1, min(page, want - len(out)))
            answer = self.call(method, endpoint, json={**body, "max_results": size, "page_token": token})
            out.extend(answer.get(field) or [])
            token = answer.get("next_page_token") or None
            if token is None or (want is not None and len(out) >= want):
                break
        return out[offset:want]

    # -- experiments ----------------------------------------------------------------

    def create_experiment(self, name: str, artifact_location: str | None, tags: dict[str, str]) -> str:
        body: dict[str, Any] = {"name": name, "tags": _to_kv(tags)}
        if artifact_location:
            body["artifact_location"] = artifact_location
        return str(self.call("POST", "experiments/create", json=body)["experiment_id"])

    def get_experiment(self, experiment_id: str) -> Experiment:
        return experiment_of(self.call("GET", "experiments/get", json={"experiment_id": experiment_id})["experiment"])

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        try:
            answer = self.call("GET", "experiments/get-by-name", json={"experiment_name": name})
        except errors.ResourceDoesNotExist:
            return None
        return experiment_of(answer["experiment"])

    def search_experiments(
        self,
        view_type: int,
        max_results: int | None,
        order_by: Sequence[str] | None,
        filter_string: str | None = None,
    ) -> list[Experiment]:
        body: dict[str, Any] = {"view_type": _VIEW_NAMES.get(view_type, "ACTIVE_ONLY")}
        if filter_string:
            body["filter"] = filter_string
        if order_by:
            body["order_by"] = list(order_by)
        found = self._pages("POST", "experiments/search", body, "experiments", max_results, 0, 1000)
        return [experiment_of(e) for e in found]

    def delete_experiment(self, experiment_id: str) -> None:
        self.call("POST", "experiments/delete", json={"experiment_id": experiment_id})

    def restore_experiment(self, experiment_id: str) -> None:
        self.call("POST", "experiments/restore", json={"experiment_id": experiment_id})

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self.call("POST", "experiments/update", json={"experiment_id": experiment_id, "new_name": new_name})

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        body = {"experiment_id": experiment_id, "key": key, "value": value}
        self.call("POST", "experiments/set-experiment-tag", json=body)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        self.call("POST", "experiments/delete-experiment-tag", json={"experiment_id": experiment_id, "key": key})

    # -- runs -----------------------------------------------------------------------

    def create_run(self, experiment_id: str, user_id: str, start_time: int, tags: dict[str, str], run_name: str) -> Run:
        body = {
            "experiment_id": experiment_id,
            "user_id": user_id,
            "start_time": start_time,
            "tags": _to_kv(tags),
            "run_name": run_name,
        }
        return run_of(self.call("POST", "runs/create", json=body)["run"])

    def _get_run_json(self, run_id: str) -> dict[str, Any]:
        return dict(self.call("GET", "runs/get", json={"run_id": run_id})["run"])

    def get_run(self, run_id: str) -> Run:
        self.metrics.flush(run_id)  # reads see this process's points, as with a store file
        return run_of(self._get_run_json(run_id))

    def mark_orphaned_runs_killed(self) -> list[str]:
        """Not over REST: the server's store decides which runs are orphaned.

        Raises:
            InvalidParameterValue: always, saying where to run it.
        """
        raise errors.InvalidParameterValue(
            f"Marking orphaned runs needs the store file; run `tracklite doctor` (or Client(<store path>)"
            f".mark_orphaned_runs_killed()) where the server {self.uri} keeps its store."
        )

    def update_run_info(self, run_id: str, status: str | None, end_time: int | None, run_name: str | None) -> RunInfo:
        if status is not None and RunStatus.is_terminated(status):
            self.metrics.retire(run_id)  # the server has every point before the run ends
        body: dict[str, Any] = {"run_id": run_id, "run_uuid": run_id}
        if status is not None:
            body["status"] = status
        if end_time is not None:
            body["end_time"] = end_time
        if run_name is not None:
            body["run_name"] = run_name
        answer = self.call("POST", "runs/update", json=body)
        if "run_info" in answer:
            info = run_info_of(answer["run_info"])
            if run_name is None or info.run_name == run_name:
                return info
        return self.get_run(run_id).info

    def delete_run(self, run_id: str) -> None:
        self.call("POST", "runs/delete", json={"run_id": run_id})

    def restore_run(self, run_id: str) -> None:
        self.call("POST", "runs/restore", json={"run_id": run_id})

    def log_batch(
        self, run_id: str, metrics: Sequence[Metric], params: Sequence[Param], tags: Sequence[RunTag]
    ) -> None:
        if params or tags:
            body = {
                "run_id": run_id,
                "params": [{"key": p.key, "value": p.value} for p in params],
                "tags": [{"key": t.key, "value": t.value} for t in tags],
            }
            self.call("POST", "runs/log-batch", json=body)
        if metrics:
            # Through the spool, so the points keep their order with those of log_metric.
            writer = self.metric_writer(run_id)
            for m in metrics:
                writer.log(m.key, m.value, m.step, m.timestamp)

    def delete_tag(self, run_id: str, key: str) -> None:
        self.call("POST", "runs/delete-tag", json={"run_id": run_id, "key": key})

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        items = []
        for d in datasets:
            dataset: dict[str, Any] = {"name": d.name, "digest": d.digest, "source_type": d.source_type}
            dataset["source"] = d.source
            if d.schema is not None:
                dataset["schema"] = d.schema
            if d.profile is not None:
                dataset["profile"] = d.profile
            items.append({"tags": _to_kv(d.tags), "dataset": dataset})
        self.call("POST", "runs/log-inputs", json={"run_id": run_id, "datasets": items})

    def get_run_inputs(self, run_id: str) -> list[DatasetInput]:
        out = []
        for item in (self._get_run_json(run_id).get("inputs") or {}).get("dataset_inputs") or []:
            d = item.get("dataset") or {}
            out.append(
                DatasetInput(
                    d.get("name", ""),
                    d.get("digest", ""),
                    d.get("source_type", ""),
                    d.get("source", ""),
                    d.get("schema"),
                    d.get("profile"),
                    _kv(item.get("tags")),
                )
            )
        return out

    def latest_metric_points(self, run_ids: Sequence[str]) -> dict[str, dict[str, Metric]]:
        self.flush()
        out: dict[str, dict[str, Metric]] = {}
        for run_id in run_ids:
            with contextlib.suppress(errors.ResourceDoesNotExist):
                out[run_id] = {m.key: m for m in _run_metrics(self._get_run_json(run_id))}
        return out

    def metric_writer(self, run_id: str) -> Any:
        """The Rust ``RunWriter`` spooling ``run_id``'s points for the server (``rest_metrics``)."""
        return self.metrics.writer(run_id)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        self.metrics.flush(run_id)
        body: dict[str, Any] = {"run_id": run_id, "run_uuid": run_id, "metric_key": key}
        points: list[dict[str, Any]] = []
        token = None
        while True:
            answer = self.call("GET", "metrics/get-history", json={**body, "page_token": token})
            points.extend(answer.get("metrics") or [])
            token = answer.get("next_page_token")
            if not token:
                break
        return [
            Metric(
                p.get("key", key), _number(p.get("value", 0.0)), int(p.get("timestamp") or 0), int(p.get("step") or 0)
            )
            for p in points
        ]

    def get_metric_arrays(self, run_id: str, key: str) -> Any:
        import numpy as np
        import pyarrow as pa

        points = self.get_metric_history(run_id, key)
        steps = np.fromiter((m.step for m in points), dtype=np.int64, count=len(points))
        stamps = np.fromiter((m.timestamp for m in points), dtype=np.int64, count=len(points))
        values = np.fromiter((m.value for m in points), dtype=np.float64, count=len(points))
        order = np.lexsort((stamps, steps))
        return pa.table({"step": steps[order], "timestamp": stamps[order], "value": values[order]})

    def list_runs(
        self, experiment_ids: Sequence[str], view_type: int = ViewType.ACTIVE_ONLY, max_results: int | None = None
    ) -> list[Run]:
        return self.search_runs(experiment_ids, view_type, None, None, max_results)

    def _search_run_json(
        self,
        experiment_ids: Sequence[str],
        view_type: int,
        filter_string: str | None,
        order_by: Sequence[str] | None,
        max_results: int | None,
        offset: int,
    ) -> list[dict[str, Any]]:
        self.flush()  # metric filters see this process's points
        body: dict[str, Any] = {
            "experiment_ids": [str(e) for e in experiment_ids],
            "run_view_type": _VIEW_NAMES.get(view_type, "ACTIVE_ONLY"),
        }
        if filter_string:
            body["filter"] = filter_string
        if order_by:
            body["order_by"] = list(order_by)
        return self._pages("POST", "runs/search", body, "runs", max_results, offset, 1000)

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        view_type: int = ViewType.ACTIVE_ONLY,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int | None = None,
        offset: int = 0,
    ) -> list[Run]:
        found = self._search_run_json(experiment_ids, view_type, filter_string, order_by, max_results, offset)
        return [run_of(r) for r in found]

    def search_run_tables(
        self,
        experiment_ids: Sequence[str],
        view_type: int = ViewType.ACTIVE_ONLY,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int | None = None,
        offset: int = 0,
    ) -> RunTables:
        return _run_tables(self.search_runs(experiment_ids, view_type, filter_string, order_by, max_results, offset))

    def run_tables(self, run_ids: Sequence[str]) -> RunTables:
        return _run_tables(self.get_runs(run_ids))

    def get_runs(self, run_ids: Sequence[str]) -> list[Run]:
        out = []
        for run_id in run_ids:
            with contextlib.suppress(errors.ResourceDoesNotExist):
                out.append(self.get_run(run_id))
        return out

    # -- logged models --------------------------------------------------------------

    def create_logged_model(
        self,
        experiment_id: str,
        name: str,
        source_run_id: str | None = None,
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
        model_type: str | None = None,
    ) -> LoggedModel:
        body: dict[str, Any] = {"experiment_id": experiment_id, "name": name}
        body["params"], body["tags"] = _to_kv(params), _to_kv(tags)
        if source_run_id:
            body["source_run_id"] = source_run_id
        if model_type:
            body["model_type"] = model_type
        return logged_model_of(self.call("POST", "logged-models", json=body)["model"])

    def _model_path(self, model_id: str) -> str:
        return f"/api/2.0/mlflow/logged-models/{urllib.parse.quote(model_id, safe='')}"

    def log_model_files(self, model_id: str, local_dir: str) -> None:
        root = proxy_path(self.get_logged_model(model_id).artifact_location)
        for dirpath, _dirs, files in os.walk(local_dir):
            for name in sorted(files):
                full = os.path.join(dirpath, name)
                rel = os.path.relpath(full, local_dir).replace(os.sep, "/")
                self._upload(root, rel, full)
        self.set_logged_model_status(model_id, "READY")

    def set_logged_model_status(self, model_id: str, status: str) -> None:
        body = {"model_id": model_id, "status": _MODEL_STATUS.get(status, status)}
        self.call("PATCH", self._model_path(model_id), json=body)

    def set_logged_model_tags(self, model_id: str, tags: dict[str, str]) -> None:
        self.call("PATCH", self._model_path(model_id) + "/tags", json={"model_id": model_id, "tags": _to_kv(tags)})

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        self.call("DELETE", self._model_path(model_id) + "/tags/" + urllib.parse.quote(key, safe=""))

    def log_logged_model_params(self, model_id: str, params: dict[str, str]) -> None:
        body = {"model_id": model_id, "params": _to_kv(params)}
        self.call("POST", self._model_path(model_id) + "/params", json=body)

    def delete_logged_model(self, model_id: str) -> None:
        self.call("DELETE", self._model_path(model_id))

    def get_logged_model(self, model_id: str) -> LoggedModel:
        return logged_model_of(self.call("GET", self._model_path(model_id))["model"])

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int | None = None,
        offset: int = 0,
    ) -> list[LoggedModel]:
        body: dict[str, Any] = {"experiment_ids": [str(e) for e in experiment_ids]}
        if filter_string:
            body["filter"] = filter_string
        if order_by:
            clauses = []
            for clause in order_by:
                field, _, direction = clause.strip().partition(" ")
                clauses.append({"field_name": field, "ascending": direction.strip().upper() != "DESC"})
            body["order_by"] = clauses
        found = self._pages("POST", "logged-models/search", body, "models", max_results, offset, 100)
        return [logged_model_of(m) for m in found]

    def find_run_model(self, run_id: str, name: str) -> str | None:
        """The newest READY model ``run_id`` logged as ``name``, else None."""
        run = self.get_run(run_id)
        escaped = name.replace("'", "\\'")
        models = self.search_logged_models(
            [run.info.experiment_id],
            f"source_run_id = '{run_id}' AND name = '{escaped}'",
            ["creation_timestamp DESC"],
            None,
        )
        for m in models:
            if m.status == "READY" and m.source_run_id == run_id and m.name == name:
                return m.model_id
        return None

    def logged_model_manifest(self, model_id: str) -> list[tuple[str, int, list[str]]]:
        """Every file of a logged model: ``(path, size, [version token])``.

        The proxy gives no content digests; the model's last update time stands in for
        them, so a changed model gets a fresh cache entry.
        """
        model = self.get_logged_model(model_id)
        token = [f"{model_id}@{model.last_updated_timestamp}"]
        return [(rel, size, token) for rel, size in self._walk(proxy_path(model.artifact_location), "")]

    def download_logged_model(self, model_id: str, dst_dir: str) -> str:
        root = proxy_path(self.get_logged_model(model_id).artifact_location)
        self._download_tree(root, "", dst_dir)
        return dst_dir

    # -- artifacts ------------------------------------------------------------------

    def _run_root(self, run_id: str) -> str:
        root = self._artifact_roots.get(run_id)
        if root is None:
            root = proxy_path(self.get_run(run_id).info.artifact_uri)
            self._artifact_roots[run_id] = root
        return root

    def _artifact_url(self, root: str, path: str) -> str:
        full = posixpath.join(root, path) if path else root
        return ARTIFACTS_API + "/" + urllib.parse.quote(full, safe="/")

    def _upload(self, root: str, path: str, source: str | bytes) -> None:
        from tracklite.store.artifacts import clean_artifact_path

        rel = clean_artifact_path(path)
        if not rel:
            raise errors.InvalidParameterValue("An artifact file needs a name; got an empty artifact path.")
        if isinstance(source, bytes):
            self.http.request("PUT", self._artifact_url(root, rel), data=source)
            return
        with open(source, "rb") as fh:
            self.http.request("PUT", self._artifact_url(root, rel), data=fh)

    def _list(self, root: str, path: str) -> list[FileInfo]:
        full = posixpath.join(root, path) if path else root
        answer = self.call("GET", ARTIFACTS_API, json={"path": full})
        out = []
        for f in answer.get("files") or []:
            rel = posixpath.join(path, f["path"]) if path else f["path"]
            out.append(FileInfo(rel, bool(f.get("is_dir")), None if f.get("is_dir") else _opt_int(f.get("file_size"))))
        return out

    def _walk(self, root: str, path: str) -> Iterator[tuple[str, int]]:
        for f in self._list(root, path):
            if f.is_dir:
                yield from self._walk(root, f.path)
            else:
                yield f.path, int(f.file_size or 0)

    def _download_file(self, root: str, path: str, dst: str) -> None:
        os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
        resp = self.http.request("GET", self._artifact_url(root, path), stream=True)
        tmp = dst + ".part"
        try:
            with open(tmp, "wb") as fh:
                for chunk in resp.iter_content(chunk_size=1024 * 1024):
                    fh.write(chunk)
            os.replace(tmp, dst)
        finally:
            resp.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def _download_tree(self, root: str, path: str, dst_dir: str) -> str:
        """Files at or below ``path`` of ``root`` into ``dst_dir`` (keeping ``path``); returns the local path."""
        from tracklite.store.artifacts import clean_artifact_path

        rel = clean_artifact_path(path)
        files = list(self._walk(root, rel))
        target = os.path.join(dst_dir, *rel.split("/")) if rel else dst_dir
        if not files and rel:
            self._download_file(root, rel, target)  # a file (raises if there is none)
            return target
        cut = len(rel) + 1 if rel else 0
        for file_path, _size in files:
            self._download_file(root, file_path, os.path.join(target, *file_path[cut:].split("/")))
        os.makedirs(target, exist_ok=True)
        return target

    def log_artifact_file(self, run_id: str, local_path: str, artifact_path: str) -> None:
        self._upload(self._run_root(run_id), artifact_path, local_path)

    def log_artifact_bytes(self, run_id: str, data: bytes, artifact_path: str) -> None:
        self._upload(self._run_root(run_id), artifact_path, data)

    def list_artifacts(self, run_id: str, path: str | None) -> list[FileInfo]:
        from tracklite.store.artifacts import clean_artifact_path

        return self._list(self._run_root(run_id), clean_artifact_path(path))

    def download_artifacts(self, run_id: str, path: str, dst_path: str) -> str:
        return self._download_tree(self._run_root(run_id), path, dst_path)

    def read_artifact_bytes(self, run_id: str, path: str) -> bytes:
        from tracklite.store.artifacts import clean_artifact_path

        resp = self.http.request("GET", self._artifact_url(self._run_root(run_id), clean_artifact_path(path)))
        return bytes(resp.content)

    # Artifacts by stored root (``<exp>/<run>/artifacts``): the proxy's own paths.

    def put_artifact_at(self, root: str, path: str, stream: Any) -> int:
        data = stream.read()
        self._upload(root, path, data)
        return len(data)

    def list_artifacts_at(self, root: str, path: str) -> list[FileInfo]:
        return self._list(root, path)

    def artifact_size_at(self, root: str, path: str) -> int | None:
        parent = path.rpartition("/")[0]
        for f in self._list(root, parent):
            if f.path == path and not f.is_dir:
                return f.file_size
        return None

    def iter_artifact_at(self, root: str, path: str) -> Any:
        resp = self.http.request("GET", self._artifact_url(root, path), stream=True)
        try:
            yield from resp.iter_content(chunk_size=1024 * 1024)
        finally:
            resp.close()

    def delete_artifacts_at(self, root: str, path: str) -> int:
        try:
            self.http.request("DELETE", self._artifact_url(root, path))
        except errors.ResourceDoesNotExist:
            return 0
        return 1

    def sql(self, query: str, *args: Any, **kwargs: Any) -> Any:
        """SQL runs where the store file is: not through a tracking-server client.

        Raises:
            InvalidParameterValue: always, saying where to run it.
        """
        raise errors.InvalidParameterValue(
            f"tracklite.sql() reads the store file, and the tracking URI is the server {self.uri}: run SQL on the "
            "server's machine (tracklite sql / tracklite.sql with the store path), on the server's SQL page, or "
            "through POST /api/2.0/tracklite/sql."
        )


def _query(body: dict[str, Any]) -> list[tuple[str, Any]]:
    """A JSON request as a query string (lists repeat the key; None is left out)."""
    out: list[tuple[str, Any]] = []
    for key, value in body.items():
        if value is None:
            continue
        if isinstance(value, list | tuple):
            out.extend((key, v) for v in value)
        elif isinstance(value, bool):
            out.append((key, "true" if value else "false"))
        else:
            out.append((key, value))
    return out


def _run_tables(runs: list[Run]) -> RunTables:
    """``RunTables`` (Arrow) for ``Run`` objects, as the file store builds them."""
    import pyarrow as pa

    from tracklite.store.run_tables import RunTables

    infos = [r.info for r in runs]
    table = pa.table(
        {
            "run_key": pa.array(range(len(runs)), pa.int64()),
            "run_id": pa.array([i.run_id for i in infos], pa.string()),
            "experiment_id": pa.array([i.experiment_id for i in infos], pa.string()),
            "run_name": pa.array([i.run_name for i in infos], pa.string()),
            "user_id": pa.array([i.user_id for i in infos], pa.string()),
            "status": pa.array([i.status for i in infos], pa.string()),
            "start_time": pa.array([i.start_time for i in infos], pa.int64()),
            "end_time": pa.array([i.end_time for i in infos], pa.int64()),
            "artifact_uri": pa.array([i.artifact_uri for i in infos], pa.string()),
            "lifecycle_stage": pa.array([i.lifecycle_stage for i in infos], pa.string()),
        }
    )

    def long(kind: str, value_type: Any) -> Any:
        ids, keys, values = [], [], []
        for r in runs:
            for k, v in getattr(r.data, kind).items():
                ids.append(r.info.run_id)
                keys.append(k)
                values.append(v)
        return pa.table(
            {
                "run_id": pa.array(ids, pa.string()),
                "key": pa.array(keys, pa.string()),
                "value": pa.array(values, value_type),
            }
        )

    return RunTables(table, long("metrics", pa.float64()), long("params", pa.string()), long("tags", pa.string()))


class RestRegistryStore(RegistryStore):
    """The model registry of a tracking server (MLflow's registry REST API)."""

    def __init__(self, store: RestStore) -> None:
        self._store = store

    def _call(self, method: str, endpoint: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._store.call(method, endpoint, json=body)

    def create_registered_model(
        self, name: str, tags: dict[str, str] | None = None, description: str | None = None
    ) -> RegisteredModel:
        body: dict[str, Any] = {"name": name, "tags": _to_kv(tags)}
        if description is not None:
            body["description"] = description
        return registered_model_of(self._call("POST", "registered-models/create", body)["registered_model"])

    def get_registered_model(self, name: str) -> RegisteredModel:
        return registered_model_of(self._call("GET", "registered-models/get", {"name": name})["registered_model"])

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: Sequence[str] | None = None,
        offset: int = 0,
    ) -> list[RegisteredModel]:
        body: dict[str, Any] = {"filter": filter_string or None, "order_by": list(order_by or []) or None}
        found = self._store._pages(
            "GET", "registered-models/search", body, "registered_models", max_results, offset, 1000
        )
        return [registered_model_of(m) for m in found]

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        answer = self._call("POST", "registered-models/rename", {"name": name, "new_name": new_name})
        return registered_model_of(answer["registered_model"])

    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel:
        answer = self._call("PATCH", "registered-models/update", {"name": name, "description": description or ""})
        return registered_model_of(answer["registered_model"])

    def delete_registered_model(self, name: str) -> None:
        self._call("DELETE", "registered-models/delete", {"name": name})

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        self._call("POST", "registered-models/set-tag", {"name": name, "key": key, "value": value})

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self._call("DELETE", "registered-models/delete-tag", {"name": name, "key": key})

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: dict[str, str] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        create_model: bool = False,
    ) -> ModelVersion:
        if create_model:
            with contextlib.suppress(errors.ResourceAlreadyExists):
                self.create_registered_model(name)
        body: dict[str, Any] = {"name": name, "source": source, "tags": _to_kv(tags)}
        if source.startswith("models:/m-"):
            model_id = source[len("models:/") :].strip("/")
            body["model_id"] = model_id
            if run_id is None:
                run_id = self._store.get_logged_model(model_id).source_run_id
        elif source.startswith("runs:/") and run_id is None:
            run_id = source[len("runs:/") :].split("/", 1)[0]
        if run_id:
            body["run_id"] = run_id
        if run_link:
            body["run_link"] = run_link
        if description:
            body["description"] = description
        return model_version_of(self._call("POST", "model-versions/create", body)["model_version"])

    def resolve_model_reference(self, ref: str) -> ModelVersion:
        """``name/version``, ``name/stage``, ``name/latest`` or ``name@alias`` as its version.

        Raises:
            ResourceDoesNotExist: if nothing matches.
        """
        if "@" in ref:
            name, _, alias = ref.rpartition("@")
            version = self.get_model_version_by_alias(name, alias)
        else:
            name, _, which = ref.rpartition("/")
            if not name:
                raise errors.InvalidParameterValue(
                    f"Invalid model reference '{ref}': use <name>/<version>, <name>/<stage>, <name>/latest "
                    "or <name>@<alias>."
                )
            if which.isdigit():
                version = self.get_model_version(name, which)
            else:
                stages = None if which.lower() == "latest" else [which]
                found = self.get_latest_versions(name, stages)
                if not found:
                    raise errors.ResourceDoesNotExist(f"No versions of model '{name}' in stage '{which}'.")
                version = max(found, key=lambda v: v.version)
        from dataclasses import replace

        return replace(version, storage_location=self._download_uri(version))

    def _download_uri(self, version: ModelVersion) -> str:
        answer = self._call(
            "GET", "model-versions/get-download-uri", {"name": version.name, "version": str(version.version)}
        )
        return str(answer.get("artifact_uri") or version.source)

    def _files_root(self, version: ModelVersion) -> tuple[str | None, str]:
        """``(logged model id, None)`` or ``(None, proxy root)`` where a version's files are."""
        uri = version.storage_location or self._download_uri(version)
        if uri.startswith("models:/m-"):
            return uri[len("models:/") :].strip("/"), ""
        return None, proxy_path(uri)

    def get_model_version(self, name: str, version: str | int) -> ModelVersion:
        answer = self._call("GET", "model-versions/get", {"name": name, "version": str(version)})
        return model_version_of(answer["model_version"])

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: Sequence[str] | None = None,
        offset: int = 0,
    ) -> list[ModelVersion]:
        body: dict[str, Any] = {"filter": filter_string or None, "order_by": list(order_by or []) or None}
        found = self._store._pages("GET", "model-versions/search", body, "model_versions", max_results, offset, 10_000)
        return [model_version_of(v) for v in found]

    def update_model_version(self, name: str, version: str | int, description: str | None) -> ModelVersion:
        body = {"name": name, "version": str(version), "description": description or ""}
        return model_version_of(self._call("PATCH", "model-versions/update", body)["model_version"])

    def delete_model_version(self, name: str, version: str | int) -> None:
        self._call("DELETE", "model-versions/delete", {"name": name, "version": str(version)})

    def transition_model_version_stage(
        self, name: str, version: str | int, stage: str, archive_existing_versions: bool = False
    ) -> ModelVersion:
        body = {
            "name": name,
            "version": str(version),
            "stage": stage,
            "archive_existing_versions": archive_existing_versions,
        }
        return model_version_of(self._call("POST", "model-versions/transition-stage", body)["model_version"])

    def get_latest_versions(self, name: str, stages: Sequence[str] | None = None) -> list[ModelVersion]:
        body: dict[str, Any] = {"name": name}
        if stages:
            body["stages"] = list(stages)
        answer = self._call("POST", "registered-models/get-latest-versions", body)
        return [model_version_of(v) for v in answer.get("model_versions") or []]

    def set_model_version_tag(self, name: str, version: str | int, key: str, value: str) -> None:
        body = {"name": name, "version": str(version), "key": key, "value": value}
        self._call("POST", "model-versions/set-tag", body)

    def delete_model_version_tag(self, name: str, version: str | int, key: str) -> None:
        self._call("DELETE", "model-versions/delete-tag", {"name": name, "version": str(version), "key": key})

    def set_registered_model_alias(self, name: str, alias: str, version: str | int) -> None:
        self._call("POST", "registered-models/alias", {"name": name, "alias": alias, "version": str(version)})

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self._call("DELETE", "registered-models/alias", {"name": name, "alias": alias})

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        answer = self._call("GET", "registered-models/alias", {"name": name, "alias": alias})
        return model_version_of(answer["model_version"])

    def model_version_manifest(self, version: ModelVersion) -> list[tuple[str, int, list[str]]]:
        """A version's files: ``(path, size, [version token])`` (pinned copies never change)."""
        model_id, root = self._files_root(version)
        if model_id is not None:
            return self._store.logged_model_manifest(model_id)
        token = [f"{version.name}/{version.version}@{version.creation_timestamp}"]
        return [(rel, size, token) for rel, size in self._store._walk(root, "")]

    def download_model_version(self, version: ModelVersion, dst_dir: str) -> str:
        model_id, root = self._files_root(version)
        if model_id is not None:
            return self._store.download_logged_model(model_id, dst_dir)
        self._store._download_tree(root, "", dst_dir)
        return dst_dir

    def get_registry_history(self, name: str) -> list[RegistryEvent]:
        answer = self._call("GET", "/api/2.0/tracklite/registered-models/history", {"name": name})
        return [
            RegistryEvent(
                int(e["event_id"]),
                int(e["timestamp"]),
                e.get("user_id") or "",
                e["action"],
                e["name"],
                _opt_int(e.get("version")),
                e.get("key"),
                e.get("old_value"),
                e.get("new_value"),
            )
            for e in answer.get("events") or []
        ]


__all__ = ["RestRegistryStore", "RestStore", "error_from_response"]
