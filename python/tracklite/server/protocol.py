"""tracklite entities as MLflow's REST JSON (protobuf-JSON field names, string enums).

The server stores artifacts under ``tracklite-artifacts:/`` roots; over REST they are
``mlflow-artifacts:/`` URIs, which MLflow's client maps to this server's artifact proxy.
"""

from __future__ import annotations

import math
from typing import Any

from tracklite.entities import (
    DatasetInput,
    Experiment,
    LoggedModel,
    Metric,
    ModelVersion,
    RegisteredModel,
    RegistryEvent,
    Run,
    RunInfo,
)
from tracklite.store.artifacts import ARTIFACT_SCHEME

#: The scheme MLflow's client resolves to ``<server>/api/2.0/mlflow-artifacts/artifacts/``.
PROXY_SCHEME = "mlflow-artifacts:/"


def public_uri(uri: str | None) -> str:
    """A stored artifact URI as clients of the server see it."""
    if uri is None:
        return ""
    if uri.startswith(ARTIFACT_SCHEME):
        return PROXY_SCHEME + uri[len(ARTIFACT_SCHEME) :]
    return uri


def stored_uri(uri: str) -> str:
    """The inverse of :func:`public_uri` (for URIs a client sends back, e.g. a version source)."""
    if uri.startswith(PROXY_SCHEME):
        return ARTIFACT_SCHEME + uri[len(PROXY_SCHEME) :]
    return uri


def number(value: float) -> float | str:
    """A metric value as MLflow sends it: NaN and the infinities as strings."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def key_values(mapping: dict[str, Any]) -> list[dict[str, Any]]:
    """A dict as MLflow's ``[{"key", "value"}]`` list."""
    return [{"key": k, "value": v} for k, v in mapping.items()]


def experiment_json(exp: Experiment) -> dict[str, Any]:
    """An ``Experiment`` message."""
    out: dict[str, Any] = {
        "experiment_id": exp.experiment_id,
        "name": exp.name,
        "artifact_location": public_uri(exp.artifact_location),
        "lifecycle_stage": exp.lifecycle_stage,
        "tags": key_values(exp.tags),
    }
    if exp.creation_time is not None:
        out["creation_time"] = exp.creation_time
    if exp.last_update_time is not None:
        out["last_update_time"] = exp.last_update_time
    return out


def run_info_json(info: RunInfo) -> dict[str, Any]:
    """A ``RunInfo`` message (``run_uuid`` repeats ``run_id``, as MLflow's server sends)."""
    out: dict[str, Any] = {
        "run_uuid": info.run_id,
        "run_id": info.run_id,
        "experiment_id": info.experiment_id,
        "run_name": info.run_name,
        "user_id": info.user_id,
        "status": info.status,
        "start_time": info.start_time,
        "artifact_uri": public_uri(info.artifact_uri),
        "lifecycle_stage": info.lifecycle_stage,
    }
    if info.end_time is not None:
        out["end_time"] = info.end_time
    return out


def dataset_input_json(d: DatasetInput) -> dict[str, Any]:
    """A ``DatasetInput`` message."""
    dataset: dict[str, Any] = {"name": d.name, "digest": d.digest, "source_type": d.source_type, "source": d.source}
    if d.schema is not None:
        dataset["schema"] = d.schema
    if d.profile is not None:
        dataset["profile"] = d.profile
    return {"tags": key_values(d.tags), "dataset": dataset}


def run_json(
    run: Run,
    latest: dict[str, Metric] | None = None,
    inputs: list[DatasetInput] | None = None,
    model_ids: list[str] | None = None,
) -> dict[str, Any]:
    """A ``Run`` message: info, data (latest metric per key), inputs and outputs.

    Args:
        run: The run.
        latest: The latest point per metric key, for its timestamp and step; without it
            only the values of ``run.data.metrics`` are known (timestamp and step 0).
        inputs: Its dataset inputs.
        model_ids: The logged models it produced (its ``outputs``).
    """
    metrics = []
    for key, value in run.data.metrics.items():
        point = (latest or {}).get(key)
        metrics.append(
            {
                "key": key,
                "value": number(value),
                "timestamp": point.timestamp if point else 0,
                "step": point.step if point else 0,
            }
        )
    out: dict[str, Any] = {
        "info": run_info_json(run.info),
        "data": {"metrics": metrics, "params": key_values(run.data.params), "tags": key_values(run.data.tags)},
        "inputs": {"dataset_inputs": [dataset_input_json(d) for d in inputs]} if inputs else {},
    }
    if model_ids:
        out["outputs"] = {"model_outputs": [{"model_id": m, "step": 0} for m in model_ids]}
    return out


def metric_json(m: Metric, run_id: str | None = None) -> dict[str, Any]:
    """A ``Metric`` message."""
    out: dict[str, Any] = {"key": m.key, "value": number(m.value), "timestamp": m.timestamp, "step": m.step}
    if run_id is not None:
        out["run_id"] = run_id
    return out


_LOGGED_MODEL_STATUS = {
    "PENDING": "LOGGED_MODEL_PENDING",
    "READY": "LOGGED_MODEL_READY",
    "FAILED": "LOGGED_MODEL_UPLOAD_FAILED",
}


def logged_model_status(wire: str) -> str:
    """A REST logged-model status (``LOGGED_MODEL_READY``) as tracklite stores it (``READY``)."""
    for stored, name in _LOGGED_MODEL_STATUS.items():
        if wire in (name, stored):
            return stored
    from tracklite.errors import InvalidParameterValue

    raise InvalidParameterValue(
        f"Invalid logged model status {wire!r}; expected one of {', '.join(_LOGGED_MODEL_STATUS.values())}."
    )


def logged_model_json(model: LoggedModel, metrics: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A ``LoggedModel`` message (``info`` and ``data``)."""
    info: dict[str, Any] = {
        "model_id": model.model_id,
        "experiment_id": model.experiment_id,
        "name": model.name,
        "creation_timestamp_ms": model.creation_timestamp,
        "last_updated_timestamp_ms": model.last_updated_timestamp,
        "artifact_uri": public_uri(model.artifact_location),
        "status": _LOGGED_MODEL_STATUS.get(model.status, model.status),
        "model_type": model.model_type or "",
        "tags": key_values(model.tags),
    }
    if model.source_run_id:
        info["source_run_id"] = model.source_run_id
    data: dict[str, Any] = {"params": key_values(model.params)}
    if metrics:
        data["metrics"] = metrics
    return {"info": info, "data": data}


def model_version_json(mv: ModelVersion) -> dict[str, Any]:
    """A ``ModelVersion`` message (``version`` is a string, as MLflow sends it)."""
    out: dict[str, Any] = {
        "name": mv.name,
        "version": str(mv.version),
        "creation_timestamp": mv.creation_timestamp,
        "last_updated_timestamp": mv.last_updated_timestamp,
        "current_stage": mv.current_stage,
        "description": mv.description or "",
        "source": public_uri(mv.source),
        "run_id": mv.run_id or "",
        "status": mv.status,
        "run_link": mv.run_link or "",
        "tags": key_values(mv.tags),
        "aliases": list(mv.aliases),
    }
    if mv.user_id:
        out["user_id"] = mv.user_id
    if mv.status_message:
        out["status_message"] = mv.status_message
    if mv.model_id:
        out["model_id"] = mv.model_id
    return out


def registered_model_json(rm: RegisteredModel) -> dict[str, Any]:
    """A ``RegisteredModel`` message."""
    out: dict[str, Any] = {
        "name": rm.name,
        "creation_timestamp": rm.creation_timestamp,
        "last_updated_timestamp": rm.last_updated_timestamp,
        "latest_versions": [model_version_json(v) for v in rm.latest_versions],
        "tags": key_values(rm.tags),
        "aliases": [{"alias": a, "version": str(v)} for a, v in rm.aliases.items()],
    }
    if rm.description:
        out["description"] = rm.description
    return out


def registry_event_json(e: RegistryEvent) -> dict[str, Any]:
    """An audit-trail entry (tracklite's own message)."""
    return {
        "event_id": e.event_id,
        "timestamp": e.timestamp,
        "user_id": e.user_id,
        "action": e.action,
        "name": e.name,
        "version": None if e.version is None else str(e.version),
        "key": e.key,
        "old_value": e.old_value,
        "new_value": e.new_value,
    }
