"""MLflow's fluent tracking API: module-level functions around an active-run stack.

``log_metric`` is the hot path: it is ``tracklite._core.log_metric``, which logs to the
active run's Rust ``RunWriter`` (set by ``_set_writer``) with no Python frame in between,
and calls ``_log_metric_slow`` for everything else.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import time
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from tracklite import _core
from tracklite.entities import Experiment, Param, Run, RunData, RunInfo, RunStatus, RunTag, ViewType
from tracklite.errors import InvalidParameterValue, InvalidState, ResourceAlreadyExists, ResourceDoesNotExist
from tracklite.tracking import system_metrics
from tracklite.tracking._uri import get_tracking_uri

if TYPE_CHECKING:
    from tracklite.tracking.client import Client
    from tracklite.tracking.system_metrics import SystemMetricsMonitor

_active_runs: list[ActiveRun] = []
_active_experiment_id: str | None = None
_last_active_run_id: str | None = None
_atexit_registered = False
#: The system metrics monitor of each active run that logs system metrics.
_monitors: dict[str, SystemMetricsMonitor] = {}


def _set_writer(writer: Any) -> None:
    """Make ``writer`` (or None) the one ``_core.log_metric`` logs to without a run_id.

    A store's writer that is not a Rust ``RunWriter`` stays on the Python slow path.
    """
    _core.set_active_writer(writer if isinstance(writer, _core.RunWriter) else None)


def _reset_state() -> None:
    """Forget the active runs, experiment and writer without ending anything (tests, forks)."""
    global _active_experiment_id, _last_active_run_id
    while _monitors:
        _monitors.popitem()[1].finish(flush=False)
    _active_runs.clear()
    _set_writer(None)
    _active_experiment_id = None
    _last_active_run_id = None


def _after_fork_in_child() -> None:
    # The parent's writer buffers into the parent's log, whose flusher thread did not survive
    # the fork: drop it, so the next log_metric takes the slow path and gets this process's own
    # writer from the store (which opens a new log after a fork).
    _set_writer(None)
    # Monitor threads do not survive a fork either; the parent's runs are not the child's to watch.
    _monitors.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _client() -> Client:
    from tracklite.tracking.client import Client

    return Client(get_tracking_uri())


class ActiveRun:
    """The run ``start_run`` returns; a context manager that ends the run on exit.

    Leaving the ``with`` block normally ends the run FINISHED; an exception ends it
    FAILED (KILLED for ``KeyboardInterrupt``) and propagates.
    """

    def __init__(self, run: Run) -> None:
        self._run = run

    @property
    def info(self) -> RunInfo:
        """The run's ``RunInfo`` as of when it was started."""
        return self._run.info

    @property
    def data(self) -> RunData:
        """The run's ``RunData`` as of when it was started."""
        return self._run.data

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            status = RunStatus.FINISHED
        elif issubclass(exc_type, KeyboardInterrupt):
            status = RunStatus.KILLED
        else:
            status = RunStatus.FAILED
        if any(r.info.run_id == self.info.run_id for r in _active_runs):
            end_run(status)

    def __repr__(self) -> str:
        return f"<ActiveRun: run_id={self.info.run_id}, experiment_id={self.info.experiment_id}>"


def set_experiment(experiment_name: str | None = None, experiment_id: str | None = None) -> Experiment:
    """Make an experiment the active one, creating it by name if needed.

    Raises:
        InvalidParameterValue: unless exactly one of the two is given.
        ResourceDoesNotExist: for an unknown ``experiment_id``.
        InvalidState: if the experiment is deleted.
    """
    global _active_experiment_id
    if (experiment_name is None) == (experiment_id is None):
        raise InvalidParameterValue("Must specify exactly one of: `experiment_id` or `experiment_name`.")
    client = _client()
    if experiment_name is None:
        exp = client.get_experiment(str(experiment_id))
    else:
        found = client.get_experiment_by_name(experiment_name)
        if found is None:
            try:
                found = client.get_experiment(client.create_experiment(experiment_name))
            except ResourceAlreadyExists:  # another process created it since we looked
                found = client.get_experiment_by_name(experiment_name)
        if found is None:
            raise ResourceDoesNotExist(f"Experiment '{experiment_name}' vanished while being created; try again.")
        exp = found
    if exp.lifecycle_stage != "active":
        raise InvalidState(
            f"Cannot set a deleted experiment '{exp.name}' as the active experiment. You can restore the "
            "experiment, or permanently delete the experiment (`tracklite gc`) to create a new one."
        )
    _active_experiment_id = exp.experiment_id
    return exp


def _resolve_experiment_id() -> str:
    if _active_experiment_id is not None:
        return _active_experiment_id
    name = os.environ.get("TRACKLITE_EXPERIMENT_NAME") or os.environ.get("MLFLOW_EXPERIMENT_NAME")
    if name:
        return set_experiment(name).experiment_id
    exp_id = os.environ.get("TRACKLITE_EXPERIMENT_ID") or os.environ.get("MLFLOW_EXPERIMENT_ID")
    return exp_id or "0"


def _system_tags() -> dict[str, str]:
    from tracklite.users import current_user

    source = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "<console>"
    return {"mlflow.user": current_user(), "mlflow.source.name": source, "mlflow.source.type": "LOCAL"}


def start_run(
    run_id: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
    parent_run_id: str | None = None,
    tags: dict[str, Any] | None = None,
    description: str | None = None,
    log_system_metrics: bool | None = None,
) -> ActiveRun:
    """Start a new run, or resume ``run_id``, and make it the active run.

    Args:
        run_id: Resume this run (status goes back to RUNNING) instead of creating one.
        experiment_id: Where to create the run; default: the active experiment, then
            ``$TRACKLITE_EXPERIMENT_NAME``/``$MLFLOW_EXPERIMENT_NAME``, then ``"0"``.
        run_name: The name; a generated ``adjective-noun-NNN`` one by default.
        nested: Allow starting inside an active run; the new run gets the
            ``mlflow.parentRunId`` tag.
        parent_run_id: The parent for a nested run (default: the active run).
        tags: Extra tags.
        description: Stored as the ``mlflow.note.content`` tag.
        log_system_metrics: Log CPU, memory, disk, network (and GPU) use as ``system/*``
            metrics while the run is active, on a background thread (``docs/system-metrics.md``).
            None (default) follows ``enable_system_metrics_logging()``/
            ``disable_system_metrics_logging()``, else ``$TRACKLITE_ENABLE_SYSTEM_METRICS_LOGGING``/
            ``$MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING`` (off when unset). ``end_run`` stops it.

    Returns:
        An ``ActiveRun``; use it as a context manager.

    Raises:
        InvalidState: if a run is active and ``nested`` is False.
        InvalidParameterValue: for an invalid system metrics setting in the environment.
        ResourceDoesNotExist: for an unknown ``run_id`` or experiment.
        TrackliteError: if system metrics are wanted and ``psutil`` is not installed.
    """
    global _atexit_registered
    if _active_runs and not nested:
        raise InvalidState(
            f"Run with UUID {_active_runs[-1].info.run_id} is already active. To start a new run, first end "
            "the current run with tracklite.end_run(). To start a nested run, call start_run with nested=True"
        )
    # Checked before anything is stored: a bad setting leaves the store unchanged.
    monitor_settings = system_metrics.settings_for_run(log_system_metrics)
    client = _client()
    store = client.store
    if not _atexit_registered:
        # Registered after the store's own exit hook, so it runs first: runs end, then logs close.
        atexit.register(_end_runs_at_exit)
        _atexit_registered = True
    user_tags = {str(k): v for k, v in (tags or {}).items()}
    if description is not None:
        user_tags["mlflow.note.content"] = description
    if run_id is None:
        run_id = os.environ.get("TRACKLITE_RUN_ID") or os.environ.get("MLFLOW_RUN_ID")
    resumed = run_id is not None
    if run_id is not None:
        run = client.get_run(run_id)
        if run.info.lifecycle_stage != "active":
            raise InvalidState(f"Cannot start run with ID {run_id} because it is in the deleted state.")
        if experiment_id is not None and str(experiment_id) != run.info.experiment_id:
            raise InvalidParameterValue(
                f"The run {run_id} belongs to experiment {run.info.experiment_id}, not {experiment_id}."
            )
        if user_tags:
            client.log_batch(run_id, tags=[RunTag(k, v) for k, v in user_tags.items()])
        store.update_run_info(run_id, RunStatus.RUNNING, None, run_name)
        run = client.get_run(run_id)
    else:
        if parent_run_id is None and nested and _active_runs:
            parent_run_id = _active_runs[-1].info.run_id
        all_tags: dict[str, Any] = {**_system_tags(), **user_tags}
        if parent_run_id is not None:
            parent = client.get_run(parent_run_id)
            if parent.info.lifecycle_stage != "active":
                raise InvalidState(f"Cannot start a child of the deleted run {parent_run_id}.")
            all_tags["mlflow.parentRunId"] = parent_run_id
        exp_id = str(experiment_id) if experiment_id is not None else _resolve_experiment_id()
        run = client.create_run(exp_id, tags=all_tags, run_name=run_name)
    active = ActiveRun(run)
    _active_runs.append(active)
    _set_writer(store.metric_writer(run.info.run_id))
    if monitor_settings is not None and run.info.run_id not in _monitors:
        monitor = system_metrics.start_monitor(
            run.info.run_id, monitor_settings, client.tracking_uri, resume_logging=resumed
        )
        if monitor is not None:
            _monitors[run.info.run_id] = monitor
    return active


def _stop_monitor(run_id: str) -> None:
    """Stop ``run_id``'s monitor, if any, logging its last sample (``finish`` never raises)."""
    monitor = _monitors.pop(run_id, None)
    if monitor is not None:
        monitor.finish()


def end_run(status: str = RunStatus.FINISHED) -> None:
    """End the active run: stop its system metrics monitor, flush its points, set ``status`` and the end time.

    Does nothing when no run is active.
    """
    global _last_active_run_id
    if not _active_runs:
        return
    active = _active_runs[-1]
    try:
        _stop_monitor(active.info.run_id)  # its last points go in before the run is terminated
        _client().set_terminated(active.info.run_id, status)
    finally:
        _active_runs.pop()
        _last_active_run_id = active.info.run_id
        _set_writer(_client().store.metric_writer(_active_runs[-1].info.run_id) if _active_runs else None)


def _end_runs_at_exit() -> None:
    while _active_runs:
        # end_run pops the run even when it fails; exiting, the store recovers what is logged.
        with contextlib.suppress(Exception):
            end_run(RunStatus.FINISHED)


def active_run() -> ActiveRun | None:
    """The innermost active run, or None."""
    return _active_runs[-1] if _active_runs else None


def last_active_run() -> Run | None:
    """The active run, or else the most recently ended run of this process, freshly read."""
    run_id = _active_runs[-1].info.run_id if _active_runs else _last_active_run_id
    return None if run_id is None else _client().get_run(run_id)


def _run_id_or_start() -> str:
    if not _active_runs:
        start_run()
    return _active_runs[-1].info.run_id


def _log_metric_slow(
    key: str,
    value: float,
    step: int | None = None,
    timestamp: int | None = None,
    synchronous: bool | None = None,
    run_id: str | None = None,
) -> None:
    """``log_metric`` when ``_core.log_metric`` has no active writer or gets a ``run_id``.

    That is: an explicit ``run_id`` (the ``Client`` path), no active run (start one), or an
    active run without a native writer (after a fork, or a store with a Python writer).
    """
    if run_id is not None:
        _client().log_metric(run_id, key, value, timestamp, step)
        return
    writer = _client().store.metric_writer(_run_id_or_start())  # cached by the store
    _set_writer(writer)
    writer.log(key, value, step, timestamp)


# ``tracklite.log_metric``: native, documented in rust/fluent.rs (``help(tracklite.log_metric)``).
_core.set_log_metric_fallback(_log_metric_slow)
log_metric = _core.log_metric


def log_metrics(
    metrics: dict[str, float],
    step: int | None = None,
    synchronous: bool | None = None,
    run_id: str | None = None,
    timestamp: int | None = None,
) -> None:
    """Log several metrics at one step; all are checked before any is logged.

    Raises:
        InvalidParameterValue: if any key or value is invalid (then none is logged).
    """
    from tracklite.validation import validate_key, validate_metric_value

    for key, value in metrics.items():
        validate_key("metric", key)
        validate_metric_value(key, value, step)
    target = run_id or _run_id_or_start()
    ts = timestamp if timestamp is not None else int(time.time() * 1000)
    writer = _client().store.metric_writer(target)
    for key, value in metrics.items():
        writer.log(key, value, step, ts)


def log_metric_series(
    key: str, values: Any, steps: Any = None, timestamps: Any = None, run_id: str | None = None
) -> int:
    """Log a whole series at once from NumPy arrays or lists, at memory speed.

    Args:
        key: Metric name.
        values: The values (float64 arrays are taken without conversion).
        steps: Steps, default ``0..n-1``.
        timestamps: Epoch-ms timestamps, default now for every point.
        run_id: Log to this run instead of the active one.

    Returns:
        The number of points logged.
    """
    target = run_id or _run_id_or_start()
    return _client().log_metric_series(target, key, values, steps, timestamps)


def log_param(key: str, value: Any, synchronous: bool | None = None) -> Any:
    """Log a param of the active run; returns ``value``.

    Raises:
        InvalidParameterValue: if it was already logged with a different value.
    """
    _client().log_param(_run_id_or_start(), key, value)
    return value


def log_params(params: dict[str, Any], synchronous: bool | None = None, run_id: str | None = None) -> None:
    """Log several params at once (all or none)."""
    _client().log_batch(run_id or _run_id_or_start(), params=[Param(k, v) for k, v in params.items()])


def set_tag(key: str, value: Any, synchronous: bool | None = None) -> None:
    """Set a tag on the active run."""
    _client().set_tag(_run_id_or_start(), key, value)


def set_tags(tags: dict[str, Any], synchronous: bool | None = None) -> None:
    """Set several tags on the active run at once."""
    _client().log_batch(_run_id_or_start(), tags=[RunTag(k, v) for k, v in tags.items()])


def delete_tag(key: str) -> None:
    """Remove a tag from the active run.

    Raises:
        ResourceDoesNotExist: if the run has no such tag.
    """
    _client().delete_tag(_run_id_or_start(), key)


def flush() -> None:
    """Make every point logged by this process durable and visible to queries."""
    _client().flush()


def get_run(run_id: str) -> Run:
    """A run by id, with its latest metrics, params and tags."""
    return _client().get_run(run_id)


def delete_run(run_id: str) -> None:
    """Soft-delete a run."""
    _client().delete_run(run_id)


def create_experiment(name: str, artifact_location: str | None = None, tags: dict[str, Any] | None = None) -> str:
    """Create an experiment; returns its id."""
    return _client().create_experiment(name, artifact_location, tags)  # type: ignore[no-any-return]


def get_experiment(experiment_id: str) -> Experiment:
    """An experiment by id."""
    return _client().get_experiment(experiment_id)  # type: ignore[no-any-return]


def get_experiment_by_name(name: str) -> Experiment | None:
    """An experiment by name, or None."""
    return _client().get_experiment_by_name(name)  # type: ignore[no-any-return]


def search_experiments(
    view_type: int = ViewType.ACTIVE_ONLY,
    max_results: int | None = None,
    filter_string: str | None = None,
    order_by: list[str] | None = None,
) -> list[Experiment]:
    """Experiments matching a filter on ``name``/``tags.<key>``; see ``Client.search_experiments``."""
    return _client().search_experiments(view_type, max_results, filter_string, order_by)  # type: ignore[no-any-return]


def search_runs(
    experiment_ids: Sequence[str] | str | None = None,
    filter_string: str = "",
    run_view_type: int = ViewType.ACTIVE_ONLY,
    max_results: int = 100_000,
    order_by: Sequence[str] | None = None,
    output_format: Literal["pandas", "list", "arrow", "polars"] = "pandas",
    search_all_experiments: bool = False,
    experiment_names: Sequence[str] | None = None,
) -> Any:
    """Runs matching a filter, as a DataFrame (MLflow's ``mlflow.search_runs``).

    Args:
        experiment_ids: Experiments to search; default: the active experiment (or all
            with ``search_all_experiments``).
        filter_string: MLflow's filter grammar (``docs/search.md``), e.g.
            ``"metrics.loss < 0.5 AND params.lr = '0.01'"``; OR and parentheses are extensions.
        run_view_type: ``ViewType.ACTIVE_ONLY`` (default), ``DELETED_ONLY`` or ``ALL``.
        max_results: At most this many runs.
        order_by: e.g. ``["metrics.loss ASC"]``; ties: newest start time first, then run id.
        output_format: ``"pandas"`` (columns ``run_id``, ``experiment_id``, ``status``,
            ``artifact_uri``, ``start_time``, ``end_time``, ``metrics.*``, ``params.*``,
            ``tags.*``), ``"list"`` (``Run`` objects), ``"arrow"`` (the same table as a
            ``pyarrow.Table``) or ``"polars"`` (a polars DataFrame, when polars is installed).
        search_all_experiments: Search every experiment when no ids or names are given.
        experiment_names: Experiments to search, by name (combined with ``experiment_ids``).

    Raises:
        InvalidParameterValue: for a malformed filter or order_by, an unknown experiment
            name or output format.
    """
    from tracklite.entities import ViewType as _ViewType

    if output_format not in ("pandas", "list", "arrow", "polars"):
        raise InvalidParameterValue(
            f"Unsupported output_format {output_format!r}; use 'pandas', 'list', 'arrow' or 'polars'."
        )
    if isinstance(max_results, bool) or not isinstance(max_results, int) or max_results <= 0:
        raise InvalidParameterValue(f"Invalid value {max_results!r} for max_results: it must be a positive integer.")
    client = _client()
    ids = [experiment_ids] if isinstance(experiment_ids, str) else [str(e) for e in experiment_ids or []]
    for name in experiment_names or []:
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise InvalidParameterValue(f"No experiment named '{name}'; see `tracklite experiments list`.")
        ids.append(exp.experiment_id)
    if not ids and experiment_names is None:
        if search_all_experiments:
            ids = [e.experiment_id for e in client.search_experiments(view_type=_ViewType.ALL)]
        else:
            ids = [_resolve_experiment_id()]
    store = client.store
    if output_format == "list":
        return store.search_runs(ids, run_view_type, filter_string, order_by, max_results)
    page = store.search_run_tables(ids, run_view_type, filter_string, order_by, max_results)
    from tracklite.tracking.run_frame import runs_arrow, runs_frame

    if output_format == "pandas":
        return runs_frame(page)
    table = runs_arrow(page)
    if output_format == "arrow":
        return table
    try:
        import polars as pl
    except ImportError as exc:
        raise InvalidParameterValue("output_format='polars' needs polars: `pip install polars`") from exc
    return pl.from_arrow(table)


def delete_experiment(experiment_id: str) -> None:
    """Soft-delete an experiment and its runs."""
    _client().delete_experiment(experiment_id)


# -- artifacts ----------------------------------------------------------------------


def _target_run(run_id: str | None) -> str:
    return run_id or _run_id_or_start()


def log_artifact(local_path: str, artifact_path: str | None = None, run_id: str | None = None) -> None:
    """Store a local file in the active run's artifacts."""
    _client().log_artifact(_target_run(run_id), local_path, artifact_path)


def log_artifacts(local_dir: str, artifact_path: str | None = None, run_id: str | None = None) -> None:
    """Store a local directory's files in the active run's artifacts."""
    _client().log_artifacts(_target_run(run_id), local_dir, artifact_path)


def log_text(text: str, artifact_file: str, run_id: str | None = None) -> None:
    """Store text as an artifact file."""
    _client().log_text(_target_run(run_id), text, artifact_file)


def log_dict(dictionary: Any, artifact_file: str, run_id: str | None = None) -> None:
    """Store a dict as JSON or YAML (by extension)."""
    _client().log_dict(_target_run(run_id), dictionary, artifact_file)


def log_figure(
    figure: Any, artifact_file: str, *, save_kwargs: dict[str, Any] | None = None, run_id: str | None = None
) -> None:
    """Store a matplotlib or plotly figure."""
    _client().log_figure(_target_run(run_id), figure, artifact_file, save_kwargs=save_kwargs)


def log_image(image: Any, artifact_file: str, run_id: str | None = None) -> None:
    """Store a NumPy array or PIL image as an image file."""
    _client().log_image(_target_run(run_id), image, artifact_file)


def get_artifact_uri(artifact_path: str | None = None) -> str:
    """The URI of the active run's artifacts, or of one path within them."""
    from tracklite.store.artifacts import clean_artifact_path

    run = _client().get_run(_run_id_or_start())
    rel = clean_artifact_path(artifact_path)
    return f"{run.info.artifact_uri}/{rel}" if rel else run.info.artifact_uri


def _split_artifact_uri(artifact_uri: str) -> tuple[str, str]:
    """``(run_id, path)`` of a ``runs:/<run_id>/<path>`` or ``tracklite-artifacts:/...`` URI."""
    if artifact_uri.startswith("runs:/"):
        run_id, _, path = artifact_uri[len("runs:/") :].partition("/")
        return run_id, path
    if artifact_uri.startswith("tracklite-artifacts:/"):
        parts = artifact_uri[len("tracklite-artifacts:/") :].split("/")
        if len(parts) >= 3 and parts[2] == "artifacts":
            return parts[1], "/".join(parts[3:])
    raise InvalidParameterValue(
        f"Unsupported artifact URI '{artifact_uri}'; use 'runs:/<run_id>/<path>' or a URI from get_artifact_uri()."
    )


def download_artifacts(
    artifact_uri: str | None = None,
    run_id: str | None = None,
    artifact_path: str | None = None,
    dst_path: str | None = None,
) -> str:
    """Download artifacts by URI, or by ``run_id`` and ``artifact_path``; returns the local path."""
    if artifact_uri is not None:
        run_id, artifact_path = _split_artifact_uri(artifact_uri)
    if run_id is None:
        raise InvalidParameterValue("Give either artifact_uri or run_id.")
    return _client().download_artifacts(run_id, artifact_path or "", dst_path)  # type: ignore[no-any-return]


def load_text(artifact_uri: str) -> str:
    """The text of an artifact file, by URI (e.g. ``runs:/<run_id>/notes.txt``)."""
    run_id, path = _split_artifact_uri(artifact_uri)
    return _client().read_artifact(run_id, path).decode("utf-8")  # type: ignore[no-any-return]


def load_dict(artifact_uri: str) -> dict[str, Any]:
    """A JSON or YAML artifact file parsed into a dict, by URI."""
    import json

    text = load_text(artifact_uri)
    if artifact_uri.lower().endswith((".yaml", ".yml")):
        import yaml

        return yaml.safe_load(text)  # type: ignore[no-any-return]
    return json.loads(text)  # type: ignore[no-any-return]


def search_logged_models(
    experiment_ids: list[str] | None = None,
    filter_string: str | None = None,
    max_results: int | None = None,
    order_by: list[Any] | None = None,
    output_format: str = "pandas",
) -> Any:
    """Logged models (``log_model`` results) matching a filter, newest first by default.

    Args:
        experiment_ids: Experiments to search; default: the active experiment.
        filter_string: The search grammar over ``name``, ``model_id``, ``model_type``,
            ``status``, ``source_run_id``, ``creation_timestamp``, ``last_updated_timestamp``,
            ``tags.<key>`` and ``params.<key>``, e.g. ``"name = 'model' AND params.lr = '0.1'"``.
        max_results: At most this many models.
        order_by: Clauses such as ``"creation_timestamp DESC"``, or MLflow's dicts
            ``{"field_name": "name", "ascending": True}``.
        output_format: ``"pandas"`` (one row per model) or ``"list"`` (``LoggedModel`` objects).

    Raises:
        InvalidParameterValue: for a malformed filter or order_by, or an unknown output format.
    """
    if output_format not in ("pandas", "list"):
        raise InvalidParameterValue(f"Unsupported output_format {output_format!r}; use 'pandas' or 'list'.")
    clauses = []
    for clause in order_by or []:
        if isinstance(clause, dict):
            if "field_name" not in clause:
                raise InvalidParameterValue(f"order_by dicts need a 'field_name' key, got {clause!r}")
            clauses.append(f"{clause['field_name']} {'ASC' if clause.get('ascending', True) else 'DESC'}")
        else:
            clauses.append(clause)
    ids = [str(e) for e in experiment_ids] if experiment_ids else [_resolve_experiment_id()]
    models = _client().store.search_logged_models(ids, filter_string, clauses, max_results)
    if output_format == "list":
        return models
    import pandas as pd

    columns = [
        "model_id",
        "experiment_id",
        "name",
        "artifact_location",
        "creation_timestamp",
        "last_updated_timestamp",
        "status",
        "source_run_id",
        "model_type",
        "params",
        "tags",
    ]
    return pd.DataFrame([{c: getattr(m, c) for c in columns} for m in models], columns=columns)


def get_logged_model(model_id: str) -> Any:
    """A logged model by id (``models:/<model_id>``).

    Raises:
        ResourceDoesNotExist: for an unknown id.
    """
    return _client().store.get_logged_model(model_id)
