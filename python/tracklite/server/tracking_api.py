"""MLflow's tracking REST API: experiments, runs, metrics, logged models, server info.

Each handler validates through ``Client`` (MLflow's names, limits and messages), so a
request the MLflow client would refuse locally is refused here with the same error. A
run's metrics are on disk (the durability log, ``fdatasync``-ed) before the response.
"""

from __future__ import annotations

from typing import Any

from tracklite.entities import DatasetInput, Metric, Param, RunStatus, RunTag, ViewType
from tracklite.errors import InvalidParameterValue
from tracklite.server.app import ServerContext
from tracklite.server.endpoints import (
    INTEGER,
    KEY_VALUES,
    NUMBER,
    OBJECTS,
    STRING,
    STRINGS,
    endpoint,
)
from tracklite.server.protocol import (
    experiment_json,
    logged_model_json,
    logged_model_status,
    metric_json,
    run_info_json,
    run_json,
)

_VIEW_TYPES = {"ACTIVE_ONLY": ViewType.ACTIVE_ONLY, "DELETED_ONLY": ViewType.DELETED_ONLY, "ALL": ViewType.ALL}


def view_type(value: str | None) -> int:
    """A REST ``ViewType`` name (or its number) as tracklite's ``ViewType``."""
    if value is None or value == "":
        return ViewType.ACTIVE_ONLY
    if value in _VIEW_TYPES:
        return _VIEW_TYPES[value]
    if value in ("1", "2", "3"):
        return int(value)
    raise InvalidParameterValue(f"Invalid view type {value!r}; expected one of ACTIVE_ONLY, DELETED_ONLY, ALL.")


def run_id_of(args: dict[str, Any]) -> str:
    """The run a request names: ``run_id``, else MLflow's legacy ``run_uuid``."""
    run_id = args.get("run_id") or args.get("run_uuid")
    if not run_id:
        raise InvalidParameterValue(
            "Missing value for required parameter 'run_id'. "
            "See the API docs for more information about request parameters."
        )
    return str(run_id)


def _page(items: list[Any], max_results: int, offset: int) -> tuple[list[Any], str | None]:
    from tracklite.search import encode_page_token

    page = items[offset : offset + max_results]
    token = encode_page_token(offset + max_results) if len(items) > offset + max_results else None
    return page, token


def _max_results(args: dict[str, Any], default: int, limit: int) -> int:
    n = args.get("max_results", default)
    if not 0 < n <= limit:
        raise InvalidParameterValue(f"Invalid value {n} for parameter 'max_results': it must be between 1 and {limit}.")
    return int(n)


def _durable(ctx: ServerContext) -> None:
    # Acknowledge only what a crash of the server cannot lose. One worker reads its own log
    # first; beside other workers the points must be in the file, where every worker reads.
    if ctx.shared:
        ctx.store.flush()
        return
    sync = getattr(ctx.store, "sync_metrics", None)
    if sync is not None:
        sync()


# -- server --------------------------------------------------------------------------


@endpoint("health", "GET", need="PUBLIC", prefix="")
def health(ctx: ServerContext, args: dict[str, Any]) -> Any:
    """Liveness: ``OK``."""
    from starlette.responses import PlainTextResponse

    return PlainTextResponse("OK")


@endpoint("version", "GET", need="PUBLIC", prefix="")
def version(ctx: ServerContext, args: dict[str, Any]) -> Any:
    """The tracklite version serving this API."""
    from starlette.responses import PlainTextResponse

    import tracklite

    return PlainTextResponse(tracklite.__version__)


@endpoint("server-info", "GET", need="USER", prefix="mlflow-3")
def server_info(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """What this server supports (MLflow 3's capability probe)."""
    import tracklite

    return {
        "store_type": "tracklite",
        "tracklite_version": tracklite.__version__,
        "workspaces_enabled": False,
        "multipart_uploads_enabled": False,
        "multipart_downloads_enabled": False,
        "auth_enabled": ctx.authorizer is not None,
    }


# -- experiments ---------------------------------------------------------------------


@endpoint(
    "experiments/create",
    "POST",
    fields={"name": STRING, "artifact_location": STRING, "tags": KEY_VALUES},
    required=("name",),
    need="CREATE",
)
def create_experiment(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Create an experiment."""
    experiment_id = ctx.client.create_experiment(
        args["name"], args.get("artifact_location") or None, dict(args.get("tags", []))
    )
    return {"experiment_id": experiment_id}


@endpoint(
    "experiments/get", "GET", fields={"experiment_id": STRING}, required=("experiment_id",), resource="experiment"
)
def get_experiment(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Get an experiment by id."""
    return {"experiment": experiment_json(ctx.client.get_experiment(args["experiment_id"]))}


@endpoint(
    "experiments/get-by-name",
    "GET",
    fields={"experiment_name": STRING},
    required=("experiment_name",),
    resource="experiment",
)
def get_experiment_by_name(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Get an experiment by name."""
    from tracklite.errors import ResourceDoesNotExist

    exp = ctx.client.get_experiment_by_name(args["experiment_name"])
    if exp is None:
        raise ResourceDoesNotExist(f"Could not find experiment with name '{args['experiment_name']}'")
    return {"experiment": experiment_json(exp)}


@endpoint(
    "experiments/search",
    ("GET", "POST"),
    fields={
        "max_results": INTEGER,
        "view_type": STRING,
        "filter": STRING,
        "order_by": STRINGS,
        "page_token": STRING,
    },
)
def search_experiments(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Search experiments (filter on name and tags)."""
    from tracklite.search import decode_page_token

    limit = _max_results(args, 1000, 50_000)
    offset = decode_page_token(args.get("page_token"))
    found = ctx.client.search_experiments(
        view_type(args.get("view_type")), offset + limit + 1, args.get("filter") or None, args.get("order_by") or None
    )
    page, token = _page(found, limit, offset)
    out: dict[str, Any] = {"experiments": [experiment_json(e) for e in page]}
    if token:
        out["next_page_token"] = token
    return out


@endpoint(
    "experiments/delete",
    "POST",
    fields={"experiment_id": STRING},
    required=("experiment_id",),
    need="MANAGE",
    resource="experiment",
)
def delete_experiment(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Soft-delete an experiment."""
    ctx.client.delete_experiment(args["experiment_id"])
    return {}


@endpoint(
    "experiments/restore",
    "POST",
    fields={"experiment_id": STRING},
    required=("experiment_id",),
    need="MANAGE",
    resource="experiment",
)
def restore_experiment(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Restore a deleted experiment."""
    ctx.client.restore_experiment(args["experiment_id"])
    return {}


@endpoint(
    "experiments/update",
    "POST",
    fields={"experiment_id": STRING, "new_name": STRING},
    required=("experiment_id", "new_name"),
    need="EDIT",
    resource="experiment",
)
def update_experiment(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Rename an experiment."""
    ctx.client.rename_experiment(args["experiment_id"], args["new_name"])
    return {}


@endpoint(
    "experiments/set-experiment-tag",
    "POST",
    fields={"experiment_id": STRING, "key": STRING, "value": STRING},
    required=("experiment_id", "key"),
    need="EDIT",
    resource="experiment",
)
def set_experiment_tag(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Set a tag on an experiment."""
    ctx.client.set_experiment_tag(args["experiment_id"], args["key"], args.get("value", ""))
    return {}


@endpoint(
    "experiments/delete-experiment-tag",
    "POST",
    fields={"experiment_id": STRING, "key": STRING},
    required=("experiment_id", "key"),
    need="EDIT",
    resource="experiment",
)
def delete_experiment_tag(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Remove a tag from an experiment."""
    ctx.client.delete_experiment_tag(args["experiment_id"], args["key"])
    return {}


# -- runs ----------------------------------------------------------------------------


def full_run_json(ctx: ServerContext, run_id: str) -> dict[str, Any]:
    """A run with its latest metric points, dataset inputs and logged models."""
    run = ctx.client.get_run(run_id)
    latest = ctx.store.latest_metric_points([run_id]).get(run_id, {})
    inputs = ctx.store.get_run_inputs(run_id)
    models = ctx.store.search_logged_models(
        [run.info.experiment_id], filter_string=f"source_run_id = '{run_id}'", order_by=None, max_results=1000
    )
    return run_json(run, latest, inputs, [m.model_id for m in reversed(models)])


@endpoint(
    "runs/create",
    "POST",
    fields={"experiment_id": STRING, "user_id": STRING, "run_name": STRING, "start_time": INTEGER, "tags": KEY_VALUES},
    need="EDIT",
    resource="experiment",
    defaults={"experiment_id": "0"},
)
def create_run(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Start a run (a name is generated when none is given)."""
    from tracklite.users import acting_user

    tags = dict(args.get("tags", []))
    signed_in = acting_user.get()
    if signed_in:
        # Under --auth the run is the signed-in user's, whatever the request says.
        tags["mlflow.user"] = signed_in
    else:
        user = args.get("user_id") or tags.get("mlflow.user")
        if user:
            tags.setdefault("mlflow.user", user)
    run = ctx.client.create_run(args["experiment_id"], args.get("start_time"), tags, args.get("run_name") or None)
    return {"run": run_json(run)}


@endpoint(
    "runs/update",
    "POST",
    fields={"run_id": STRING, "run_uuid": STRING, "status": STRING, "end_time": INTEGER, "run_name": STRING},
    need="EDIT",
    resource="run",
)
def update_run(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Set a run's status, end time or name."""
    from tracklite.validation import validate_run_id, validate_timestamp

    run_id = validate_run_id(run_id_of(args))
    info = ctx.client.get_run(run_id).info
    status = args.get("status") or info.status
    if status not in RunStatus._ALL:
        raise InvalidParameterValue(f"Invalid run status {status!r}; expected one of {', '.join(RunStatus._ALL)}.")
    if "end_time" in args:
        end_time: int | None = validate_timestamp(args["end_time"])
    else:
        end_time = None if status == RunStatus.RUNNING else info.end_time
    ctx.store.update_run_info(run_id, status, end_time, args.get("run_name") or None)
    return {"run_info": run_info_json(ctx.client.get_run(run_id).info)}


@endpoint("runs/delete", "POST", fields={"run_id": STRING}, required=("run_id",), need="MANAGE", resource="run")
def delete_run(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Soft-delete a run."""
    ctx.client.delete_run(args["run_id"])
    return {}


@endpoint("runs/restore", "POST", fields={"run_id": STRING}, required=("run_id",), need="MANAGE", resource="run")
def restore_run(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Restore a deleted run."""
    ctx.client.restore_run(args["run_id"])
    return {}


@endpoint("runs/get", "GET", fields={"run_id": STRING, "run_uuid": STRING}, resource="run")
def get_run(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Get a run: info, latest metrics, params, tags, inputs and outputs."""
    return {"run": full_run_json(ctx, run_id_of(args))}


@endpoint(
    "runs/search",
    "POST",
    fields={
        "experiment_ids": STRINGS,
        "filter": STRING,
        "run_view_type": STRING,
        "max_results": INTEGER,
        "order_by": STRINGS,
        "page_token": STRING,
    },
)
def search_runs(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Search runs of experiments with MLflow's filter grammar."""
    page = ctx.client.search_runs(
        args.get("experiment_ids", []),
        args.get("filter") or "",
        view_type(args.get("run_view_type")),
        _max_results(args, 1000, 50_000),
        args.get("order_by") or None,
        args.get("page_token") or None,
    )
    latest = ctx.store.latest_metric_points([r.info.run_id for r in page]) if page else {}
    out: dict[str, Any] = {"runs": [run_json(r, latest.get(r.info.run_id)) for r in page]}
    if page.token:
        out["next_page_token"] = page.token
    return out


@endpoint(
    "runs/log-metric",
    "POST",
    fields={
        "run_id": STRING,
        "run_uuid": STRING,
        "key": STRING,
        "value": NUMBER,
        "timestamp": INTEGER,
        "step": INTEGER,
        "model_id": STRING,
        "dataset_name": STRING,
        "dataset_digest": STRING,
    },
    required=("key", "value"),
    need="EDIT",
    resource="run",
)
def log_metric(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Log one metric point."""
    import time

    ts = args.get("timestamp", int(time.time() * 1000))
    ctx.client.log_batch(run_id_of(args), [Metric(args["key"], args["value"], ts, args.get("step", 0))])
    _durable(ctx)
    return {}


@endpoint(
    "runs/log-parameter",
    "POST",
    fields={"run_id": STRING, "run_uuid": STRING, "key": STRING, "value": STRING},
    required=("key",),
    need="EDIT",
    resource="run",
)
def log_param(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Log one param (a param cannot change once logged)."""
    ctx.client.log_batch(run_id_of(args), params=[Param(args["key"], args.get("value", ""))])
    return {}


@endpoint(
    "runs/set-tag",
    "POST",
    fields={"run_id": STRING, "run_uuid": STRING, "key": STRING, "value": STRING},
    required=("key",),
    need="EDIT",
    resource="run",
)
def set_tag(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Set a run tag."""
    ctx.client.log_batch(run_id_of(args), tags=[RunTag(args["key"], args.get("value", ""))])
    return {}


@endpoint(
    "runs/delete-tag",
    "POST",
    fields={"run_id": STRING, "key": STRING},
    required=("run_id", "key"),
    need="EDIT",
    resource="run",
)
def delete_tag(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Remove a run tag."""
    ctx.client.delete_tag(args["run_id"], args["key"])
    return {}


_INT64 = range(-(2**63), 2**63)  # `n in _INT64` is a constant-time bounds check


def _metric_from_json(item: Any, index: int) -> Metric:
    if type(item) is dict:
        key, value, ts, step = item.get("key"), item.get("value"), item.get("timestamp"), item.get("step", 0)
        # The shape MLflow's client sends, checked inline: a batch holds up to 1000 of these,
        # and the field-by-field path below costs about 12 us per metric.
        if (
            type(key) is str
            and type(value) is float
            and type(ts) is int
            and type(step) is int
            and ts in _INT64
            and step in _INT64
        ):
            return Metric(key, value, ts, step)
    return _checked_metric_from_json(item, index)


def _checked_metric_from_json(item: Any, index: int) -> Metric:
    from tracklite.server.endpoints import _convert

    if not isinstance(item, dict):
        raise InvalidParameterValue(f"Invalid value {item!r} for parameter 'metrics[{index}]': expected an object.")
    key = _convert(f"metrics[{index}].key", item.get("key"), STRING, False) if "key" in item else None
    if key is None or "value" not in item:
        raise InvalidParameterValue(f"Metric at index {index} needs a 'key' and a 'value'.")
    value = _convert(f"metrics[{index}].value", item["value"], NUMBER, False)
    ts = item.get("timestamp")
    ts = None if ts is None else _convert(f"metrics[{index}].timestamp", ts, INTEGER, False)
    step = item.get("step")
    step = 0 if step is None else _convert(f"metrics[{index}].step", step, INTEGER, False)
    return Metric(key, value, ts, step)  # type: ignore[arg-type]


@endpoint(
    "runs/log-batch",
    "POST",
    fields={"run_id": STRING, "run_uuid": STRING, "metrics": OBJECTS, "params": KEY_VALUES, "tags": KEY_VALUES},
    need="EDIT",
    resource="run",
)
def log_batch(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Log metrics, params and tags at once (all checked before any is stored)."""
    metrics = [_metric_from_json(m, i) for i, m in enumerate(args.get("metrics", []))]
    params = [Param(k, v) for k, v in args.get("params", [])]
    tags = [RunTag(k, v) for k, v in args.get("tags", [])]
    ctx.client.log_batch(run_id_of(args), metrics, params, tags)
    if metrics:
        _durable(ctx)
    return {}


@endpoint(
    "runs/log-inputs",
    "POST",
    fields={"run_id": STRING, "datasets": OBJECTS, "models": OBJECTS},
    required=("run_id",),
    need="EDIT",
    resource="run",
)
def log_inputs(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Record the datasets a run used."""
    from tracklite.server.endpoints import _convert

    datasets = []
    for i, item in enumerate(args.get("datasets", [])):
        ds = item.get("dataset")
        if not isinstance(ds, dict):
            raise InvalidParameterValue(f"datasets[{i}] needs a 'dataset' object.")
        fields = {
            name: _convert(f"datasets[{i}].dataset.{name}", ds.get(name), STRING, False)
            for name in ("name", "digest", "source_type", "source", "schema", "profile")
            if ds.get(name) is not None
        }
        for name in ("name", "digest", "source_type", "source"):
            if not fields.get(name):
                raise InvalidParameterValue(f"datasets[{i}].dataset needs a non-empty '{name}'.")
        tags = dict(_convert(f"datasets[{i}].tags", item.get("tags") or [], KEY_VALUES, False))
        datasets.append(DatasetInput(tags=tags, **fields))
    run_id = args["run_id"]
    ctx.client.get_run(run_id)
    ctx.store.log_inputs(run_id, datasets)
    return {}


@endpoint(
    "runs/outputs",
    "POST",
    fields={"run_id": STRING, "models": OBJECTS},
    required=("run_id",),
    need="EDIT",
    resource="run",
)
def log_outputs(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Record the logged models a run produced (they name the run as their source)."""
    run = ctx.client.get_run(args["run_id"])
    for i, item in enumerate(args.get("models", [])):
        model_id = item.get("model_id") if isinstance(item, dict) else None
        if not isinstance(model_id, str):
            raise InvalidParameterValue(f"models[{i}] needs a 'model_id' string.")
        model = ctx.store.get_logged_model(model_id)
        if model.source_run_id not in (None, run.info.run_id):
            raise InvalidParameterValue(
                f"Logged model '{model_id}' was logged by run '{model.source_run_id}', not '{run.info.run_id}'."
            )
    return {}


@endpoint(
    "runs/log-model",
    "POST",
    fields={"run_id": STRING, "model_json": STRING},
    required=("run_id", "model_json"),
    need="EDIT",
    resource="run",
)
def log_model_history(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Append to a run's ``mlflow.log-model.history`` tag (MLflow 2's model record)."""
    import json

    try:
        entry = json.loads(args["model_json"])
    except ValueError:
        raise InvalidParameterValue("'model_json' must be a JSON string describing the model.") from None
    run = ctx.client.get_run(args["run_id"])
    history = json.loads(run.data.tags.get("mlflow.log-model.history", "[]"))
    history.append(entry)
    ctx.client.set_tag(args["run_id"], "mlflow.log-model.history", json.dumps(history))
    return {}


# -- metrics -------------------------------------------------------------------------


@endpoint(
    "metrics/get-history",
    "GET",
    fields={"run_id": STRING, "run_uuid": STRING, "metric_key": STRING, "max_results": INTEGER, "page_token": STRING},
    required=("metric_key",),
    resource="run",
)
def get_metric_history(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Every point of one metric of a run, by step (paged)."""
    from tracklite.search import decode_page_token

    run_id = run_id_of(args)
    points = ctx.client.get_metric_history(run_id, args["metric_key"])
    limit = args.get("max_results")
    if limit is None:
        return {"metrics": [metric_json(m, run_id) for m in points]}
    limit = _max_results(args, 25_000, 1_000_000)
    page, token = _page(points, limit, decode_page_token(args.get("page_token")))
    out: dict[str, Any] = {"metrics": [metric_json(m, run_id) for m in page]}
    if token:
        out["next_page_token"] = token
    return out


@endpoint(
    "metrics/get-history-bulk-interval",
    "GET",
    fields={
        "run_ids": STRINGS,
        "metric_key": STRING,
        "start_step": INTEGER,
        "end_step": INTEGER,
        "max_results": INTEGER,
    },
    required=("run_ids", "metric_key"),
    resource="run",
)
def get_metric_history_bulk_interval(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Points of one metric for several runs between two steps, evenly thinned to ``max_results``."""
    limit = _max_results(args, 320, 1_000_000)
    start, end = args.get("start_step"), args.get("end_step")
    if (start is None) != (end is None):
        raise InvalidParameterValue("Give both 'start_step' and 'end_step', or neither.")
    if start is not None and end is not None and start > end:
        raise InvalidParameterValue(f"'start_step' ({start}) must not be after 'end_step' ({end}).")
    out: list[dict[str, Any]] = []
    for run_id in args["run_ids"][:100]:
        points = ctx.client.get_metric_history(run_id, args["metric_key"])
        if start is not None and end is not None:
            points = [m for m in points if start <= m.step <= end]
        if len(points) > limit:
            stride = len(points) / limit
            points = [points[int(i * stride)] for i in range(limit - 1)] + [points[-1]]
        out.extend(metric_json(m, run_id) for m in points)
    return {"metrics": out}


# -- logged models -------------------------------------------------------------------


@endpoint(
    "logged-models",
    "POST",
    fields={
        "experiment_id": STRING,
        "name": STRING,
        "model_type": STRING,
        "source_run_id": STRING,
        "params": KEY_VALUES,
        "tags": KEY_VALUES,
    },
    required=("experiment_id",),
    need="EDIT",
    resource="experiment",
)
def create_logged_model(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Create a PENDING logged model (its files follow through the artifact proxy)."""
    from tracklite.tracking._names import generate_run_name

    run_id = args.get("source_run_id") or None
    if run_id is not None:
        ctx.client.get_run(run_id)
    model = ctx.store.create_logged_model(
        args["experiment_id"],
        args.get("name") or generate_run_name(),
        source_run_id=run_id,
        params=dict(args.get("params", [])),
        tags=dict(args.get("tags", [])),
        model_type=args.get("model_type") or None,
    )
    return {"model": logged_model_json(model)}


def _order_by_clauses(items: list[Any]) -> list[str]:
    clauses = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            clauses.append(item)
            continue
        if not isinstance(item, dict) or not isinstance(item.get("field_name"), str):
            raise InvalidParameterValue(f"order_by[{i}] needs a 'field_name' string.")
        clauses.append(f"{item['field_name']} {'ASC' if item.get('ascending', True) else 'DESC'}")
    return clauses


@endpoint(
    "logged-models/search",
    "POST",
    fields={
        "experiment_ids": STRINGS,
        "filter": STRING,
        "order_by": OBJECTS,
        "max_results": INTEGER,
        "page_token": STRING,
        "datasets": OBJECTS,
    },
)
def search_logged_models(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Search logged models of experiments."""
    page = ctx.client.search_logged_models(
        args.get("experiment_ids", []),
        filter_string=args.get("filter") or None,
        max_results=_max_results(args, 100, 50_000),
        order_by=_order_by_clauses(args.get("order_by", [])) or None,
        page_token=args.get("page_token") or None,
    )
    if not page:
        return {}
    out: dict[str, Any] = {"models": [logged_model_json(m) for m in page]}
    if page.token:
        out["next_page_token"] = page.token
    return out


@endpoint("logged-models/{model_id}", "GET", resource="logged_model")
def get_logged_model(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Get a logged model."""
    return {"model": logged_model_json(ctx.client.get_logged_model(args["model_id"]))}


@endpoint(
    "logged-models/{model_id}",
    "PATCH",
    fields={"model_id": STRING, "status": STRING},
    required=("status",),
    need="EDIT",
    resource="logged_model",
)
def finalize_logged_model(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Mark a logged model READY (its files are uploaded) or FAILED."""
    ctx.store.set_logged_model_status(args["model_id"], logged_model_status(args["status"]))
    return {"model": logged_model_json(ctx.client.get_logged_model(args["model_id"]))}


@endpoint("logged-models/{model_id}", "DELETE", need="MANAGE", resource="logged_model")
def delete_logged_model(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Delete a logged model and its files."""
    ctx.client.delete_logged_model(args["model_id"])
    return {}


@endpoint(
    "logged-models/{model_id}/tags",
    "PATCH",
    fields={"model_id": STRING, "tags": KEY_VALUES},
    need="EDIT",
    resource="logged_model",
)
def set_logged_model_tags(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Set tags on a logged model."""
    from tracklite.validation import MAX_TAG_VAL_LENGTH, validate_key, validate_value

    tags = {validate_key("tag", k): validate_value("tag", k, v, MAX_TAG_VAL_LENGTH) for k, v in args.get("tags", [])}
    ctx.client.set_logged_model_tags(args["model_id"], tags)
    return {"model": logged_model_json(ctx.client.get_logged_model(args["model_id"]))}


@endpoint("logged-models/{model_id}/tags/{tag_key:path}", "DELETE", need="EDIT", resource="logged_model")
def delete_logged_model_tag(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Remove a tag from a logged model."""
    ctx.store.delete_logged_model_tag(args["model_id"], args["tag_key"])
    return {}


@endpoint(
    "logged-models/{model_id}/params",
    "POST",
    fields={"model_id": STRING, "params": KEY_VALUES},
    need="EDIT",
    resource="logged_model",
)
def log_logged_model_params(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Add params to a logged model."""
    from tracklite.validation import MAX_PARAM_VAL_LENGTH, validate_key, validate_value

    params = {
        validate_key("param", k): validate_value("param", k, v, MAX_PARAM_VAL_LENGTH) for k, v in args.get("params", [])
    }
    ctx.store.log_logged_model_params(args["model_id"], params)
    return {}


__all__ = ["full_run_json", "run_id_of", "view_type"]
