"""``Client``: the explicit-id tracking API (MLflow's ``MlflowClient``)."""

from __future__ import annotations

import os
import posixpath
import tempfile
import time
from collections.abc import Sequence
from typing import Any, Literal

from tracklite.entities import (
    Experiment,
    FileInfo,
    LoggedModel,
    Metric,
    PagedList,
    Param,
    Run,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)
from tracklite.errors import InvalidParameterValue
from tracklite.store import TrackingStore, get_store
from tracklite.tracking import artifact_files
from tracklite.tracking._uri import get_tracking_uri
from tracklite.tracking.registry_client import RegistryClient
from tracklite.users import current_user
from tracklite.validation import (
    MAX_EXPERIMENT_TAG_VAL_LENGTH,
    MAX_PARAM_VAL_LENGTH,
    MAX_TAG_VAL_LENGTH,
    no_duplicate_keys,
    validate_batch_sizes,
    validate_experiment_id,
    validate_experiment_name,
    validate_key,
    validate_metric_value,
    validate_run_id,
    validate_step,
    validate_timestamp,
    validate_value,
)

SEARCH_MAX_RESULTS_DEFAULT = 1000


def _now_ms() -> int:
    return int(time.time() * 1000)


class Client(RegistryClient):
    """Explicit-id access to a tracklite store, with ``MlflowClient``'s methods.

    Args:
        tracking_uri: The store file; defaults to ``tracklite.get_tracking_uri()``.

    Examples:
        >>> import tempfile, os
        >>> client = Client(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
        >>> run = client.create_run("0")
        >>> client.log_metric(run.info.run_id, "loss", 0.5, step=1)
        >>> [m.value for m in client.get_metric_history(run.info.run_id, "loss")]
        [0.5]
    """

    def __init__(self, tracking_uri: str | None = None) -> None:
        self._tracking_uri = tracking_uri or get_tracking_uri()
        self._store: TrackingStore = get_store(self._tracking_uri)

    @property
    def tracking_uri(self) -> str:
        """The store this client talks to."""
        return self._tracking_uri

    @property
    def store(self) -> TrackingStore:
        """The backend store (for advanced use)."""
        return self._store

    # -- experiments ----------------------------------------------------------------

    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: dict[str, Any] | None = None
    ) -> str:
        """Create an experiment and return its id.

        Raises:
            InvalidParameterValue: for a bad name or tags.
            ResourceAlreadyExists: if the name is taken (also by a deleted experiment).
        """
        validate_experiment_name(name)
        clean = {
            validate_key("tag", k): validate_value("tag", k, v, MAX_EXPERIMENT_TAG_VAL_LENGTH)
            for k, v in (tags or {}).items()
        }
        return self._store.create_experiment(name, artifact_location, clean)

    def get_experiment(self, experiment_id: str) -> Experiment:
        """The experiment with this id.

        Raises:
            ResourceDoesNotExist: if there is none.
        """
        return self._store.get_experiment(validate_experiment_id(experiment_id))

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """The experiment with this name, or None."""
        return self._store.get_experiment_by_name(name)

    def search_experiments(
        self,
        view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int | None = None,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
    ) -> list[Experiment]:
        """Experiments, newest first, filtered by ``name`` and ``tags.<key>`` comparisons.

        Args:
            view_type: ``ViewType.ACTIVE_ONLY`` (default), ``DELETED_ONLY`` or ``ALL``.
            max_results: At most this many.
            filter_string: e.g. ``"name LIKE 'exp%' AND tags.team = 'a'"``.
            order_by: e.g. ``["name ASC"]``; columns name, experiment_id, creation_time,
                last_update_time.

        Raises:
            InvalidParameterValue: for a malformed filter or order_by.
        """
        return self._store.search_experiments(view_type, max_results, order_by, filter_string)

    def delete_experiment(self, experiment_id: str) -> None:
        """Soft-delete an experiment and its runs (``tracklite gc`` removes them for good)."""
        self._store.delete_experiment(validate_experiment_id(experiment_id))

    def restore_experiment(self, experiment_id: str) -> None:
        """Undo ``delete_experiment``."""
        self._store.restore_experiment(validate_experiment_id(experiment_id))

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        """Rename an active experiment."""
        self._store.rename_experiment(validate_experiment_id(experiment_id), validate_experiment_name(new_name))

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        """Set a tag on an experiment."""
        validate_key("tag", key)
        text = validate_value("tag", key, value, MAX_EXPERIMENT_TAG_VAL_LENGTH)
        self._store.set_experiment_tag(validate_experiment_id(experiment_id), key, text)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        """Remove a tag from an experiment."""
        self._store.delete_experiment_tag(validate_experiment_id(experiment_id), key)

    # -- runs -----------------------------------------------------------------------

    def create_run(
        self,
        experiment_id: str,
        start_time: int | None = None,
        tags: dict[str, Any] | None = None,
        run_name: str | None = None,
    ) -> Run:
        """Create a RUNNING run (no system tags added; the fluent ``start_run`` adds them).

        Raises:
            ResourceDoesNotExist: if the experiment does not exist.
        """
        from tracklite.tracking._names import generate_run_name

        clean = {
            validate_key("tag", k): validate_value("tag", k, v, MAX_TAG_VAL_LENGTH) for k, v in (tags or {}).items()
        }
        name = run_name or clean.get("mlflow.runName") or generate_run_name()
        if clean.get("mlflow.runName", name) != name:
            raise InvalidParameterValue(
                f"Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values "
                f"(run_name='{name}', mlflow.runName='{clean['mlflow.runName']}')."
            )
        clean["mlflow.runName"] = name
        user = clean.get("mlflow.user") or current_user()
        start = _now_ms() if start_time is None else validate_timestamp(start_time)
        return self._store.create_run(validate_experiment_id(experiment_id), user, start, clean, name)

    def get_run(self, run_id: str) -> Run:
        """The run with its latest metrics, params and tags.

        Raises:
            ResourceDoesNotExist: if there is no such run.
        """
        return self._store.get_run(validate_run_id(run_id))

    def update_run(self, run_id: str, status: str | None = None, name: str | None = None) -> None:
        """Change a run's status and/or name."""
        if status is not None and status not in RunStatus.all_status():
            raise InvalidParameterValue(f"Invalid run status '{status}'; use one of {RunStatus.all_status()}")
        end = _now_ms() if status is not None and RunStatus.is_terminated(status) else None
        self._store.update_run_info(validate_run_id(run_id), status, end, name)

    def set_terminated(self, run_id: str, status: str | None = None, end_time: int | None = None) -> RunInfo:
        """End a run: flush its points, then set ``status`` (default FINISHED) and ``end_time``."""
        status = status or RunStatus.FINISHED
        if status not in RunStatus.all_status():
            raise InvalidParameterValue(f"Invalid run status '{status}'; use one of {RunStatus.all_status()}")
        self._store.flush()
        end = _now_ms() if end_time is None else validate_timestamp(end_time)
        return self._store.update_run_info(validate_run_id(run_id), status, end, None)

    def delete_run(self, run_id: str) -> None:
        """Soft-delete a run (lifecycle stage ``deleted``); ``restore_run`` undoes it."""
        self._store.delete_run(validate_run_id(run_id))

    def restore_run(self, run_id: str) -> None:
        """Restore a soft-deleted run."""
        self._store.restore_run(validate_run_id(run_id))

    def log_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        timestamp: int | None = None,
        step: int | None = None,
        synchronous: bool | None = None,
    ) -> None:
        """Log one metric point; durable within the flush interval, queryable after ``flush``.

        Raises:
            InvalidParameterValue: for a bad key, value, step or timestamp.
            ResourceDoesNotExist: if the run does not exist.
        """
        self._store.metric_writer(validate_run_id(run_id)).log(key, value, step, timestamp)

    def log_metric_series(self, run_id: str, key: str, values: Any, steps: Any = None, timestamps: Any = None) -> int:
        """Log a whole series from NumPy arrays or lists; steps default to 0..n-1.

        Returns:
            The number of points logged.
        """
        return int(self._store.metric_writer(validate_run_id(run_id)).log_series(key, values, steps, timestamps))

    def log_param(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> Any:
        """Log a param (stored as ``str(value)``) and return ``value``.

        Raises:
            InvalidParameterValue: if it was logged before with another value.
        """
        self.log_batch(run_id, params=[Param(key, value)])
        return value

    def set_tag(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> None:
        """Set a tag on a run (tags, unlike params, may change)."""
        self.log_batch(run_id, tags=[RunTag(key, value)])

    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove a tag from a run.

        Raises:
            ResourceDoesNotExist: if the run has no such tag.
        """
        self._store.delete_tag(validate_run_id(run_id), key)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        synchronous: bool | None = None,
    ) -> None:
        """Log metrics, params and tags at once; all are checked before any is stored.

        Raises:
            InvalidParameterValue: for any invalid entity, a changed param, or a batch
                over MLflow's limits; then nothing of the batch is stored.
        """
        validate_run_id(run_id)
        metrics, params, tags = list(metrics), list(params), list(tags)
        validate_batch_sizes(len(metrics), len(params), len(tags))
        no_duplicate_keys("param", [p.key for p in params])
        now = _now_ms()
        checked_keys: set[str] = set()
        clean_metrics = []
        for m in metrics:
            if m.key not in checked_keys:  # a batch repeats a few keys many times
                checked_keys.add(validate_key("metric", m.key))
            value = m.value if type(m.value) is float else validate_metric_value(m.key, m.value, m.step)
            step = m.step if type(m.step) is int else validate_step(m.step)
            ts = m.timestamp if type(m.timestamp) is int and m.timestamp >= 0 else None
            if ts is None:
                ts = now if m.timestamp is None else validate_timestamp(m.timestamp)
            clean_metrics.append(Metric(m.key, value, ts, step))
        clean_params = [
            Param(validate_key("param", p.key), validate_value("param", p.key, p.value, MAX_PARAM_VAL_LENGTH))
            for p in params
        ]
        clean_tags = [
            RunTag(validate_key("tag", t.key), validate_value("tag", t.key, t.value, MAX_TAG_VAL_LENGTH)) for t in tags
        ]
        self._store.log_batch(run_id, clean_metrics, clean_params, clean_tags)

    def search_runs(
        self,
        experiment_ids: str | Sequence[str],
        filter_string: str = "",
        run_view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        """One page of runs matching a filter, in order (MLflow's search grammar, ``docs/search.md``).

        Args:
            experiment_ids: Experiment id or ids to search.
            filter_string: e.g. ``"metrics.loss < 0.5 AND params.lr = '0.01'"``; OR and
                parentheses are extensions.
            run_view_type: ``ViewType.ACTIVE_ONLY`` (default), ``DELETED_ONLY`` or ``ALL``.
            max_results: Runs per page, at most 50,000.
            order_by: e.g. ``["metrics.loss ASC", "params.lr DESC"]``; ties are broken by
                start time (newest first), then run id.
            page_token: The ``token`` of the previous page.

        Returns:
            A ``PagedList`` of ``Run``; its ``token`` fetches the next page (None at the end).

        Raises:
            InvalidParameterValue: for a malformed filter, order_by, page token or max_results.

        Examples:
            >>> import tempfile, os
            >>> client = Client(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
            >>> for lr in ("0.1", "0.01"):
            ...     run = client.create_run("0", run_name=f"lr-{lr}")
            ...     _ = client.log_param(run.info.run_id, "lr", lr)
            >>> [r.info.run_name for r in client.search_runs("0", "params.lr = '0.01'")]
            ['lr-0.01']
        """
        from tracklite.search import decode_page_token, encode_page_token

        ids = [experiment_ids] if isinstance(experiment_ids, str) else [str(e) for e in experiment_ids]
        if isinstance(max_results, bool) or not isinstance(max_results, int) or not 0 < max_results <= 50_000:
            raise InvalidParameterValue(
                f"Invalid value {max_results!r} for max_results: it must be a positive integer at most 50000; "
                "page through more with page_token."
            )
        offset = decode_page_token(page_token)
        runs = self._store.search_runs(ids, run_view_type, filter_string, order_by, max_results + 1, offset)
        token = encode_page_token(offset + max_results) if len(runs) > max_results else None
        return PagedList(runs[:max_results], token)

    # -- logged models ------------------------------------------------------------------

    def get_logged_model(self, model_id: str) -> LoggedModel:
        """A logged model (``log_model``'s result) by id.

        Raises:
            ResourceDoesNotExist: for an unknown id.
        """
        return self._store.get_logged_model(model_id)

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        """Logged models matching a filter (see ``tracklite.search_logged_models``), paged.

        Raises:
            InvalidParameterValue: for a malformed filter, order_by or page token.
        """
        from tracklite.search import decode_page_token, encode_page_token

        offset = decode_page_token(page_token)
        ids = [str(e) for e in experiment_ids]
        if max_results is None:
            return PagedList(self._store.search_logged_models(ids, filter_string, order_by, None, offset))
        found = self._store.search_logged_models(ids, filter_string, order_by, max_results + 1, offset)
        token = encode_page_token(offset + max_results) if len(found) > max_results else None
        return PagedList(found[:max_results], token)

    def set_logged_model_tags(self, model_id: str, tags: dict[str, str]) -> None:
        """Set tags on a logged model."""
        self._store.set_logged_model_tags(model_id, tags)

    def delete_logged_model(self, model_id: str) -> None:
        """Delete a logged model and its files (the bytes are reclaimed by ``tracklite gc``)."""
        self._store.delete_logged_model(model_id)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of a metric, in logging order, as ``Metric`` objects."""
        return self._store.get_metric_history(validate_run_id(run_id), key)

    def get_metric_series(self, run_id: str, key: str, format: Literal["numpy", "arrow", "pandas"] = "numpy") -> Any:
        """A metric's points as columns, without a Python object per point.

        Args:
            format: ``"numpy"`` (dict of ``step``, ``timestamp``, ``value`` arrays),
                ``"arrow"`` (a ``pyarrow.Table``) or ``"pandas"`` (a DataFrame).
        """
        table = self._store.get_metric_arrays(validate_run_id(run_id), key)
        if format == "arrow":
            return table
        if format == "pandas":
            return table.to_pandas()
        if format == "numpy":
            return {name: table.column(name).to_numpy() for name in table.column_names}
        raise InvalidParameterValue(f"format must be 'numpy', 'arrow' or 'pandas', not {format!r}")

    def flush(self) -> None:
        """Make every point this process logged durable and visible to queries."""
        self._store.flush()

    def mark_orphaned_runs_killed(self) -> list[str]:
        """Mark runs left RUNNING by processes that died as KILLED; returns their ids."""
        return self._store.mark_orphaned_runs_killed()  # type: ignore[attr-defined,no-any-return]

    # -- artifacts ------------------------------------------------------------------

    def log_artifact(self, run_id: str, local_path: str, artifact_path: str | None = None) -> None:
        """Store a local file as ``<artifact_path>/<file name>`` in the run.

        Raises:
            InvalidParameterValue: for an absolute or escaping ``artifact_path``.
        """
        name = os.path.basename(os.fspath(local_path))
        dest = posixpath.join(artifact_path, name) if artifact_path else name
        self._store.log_artifact_file(validate_run_id(run_id), os.fspath(local_path), dest)

    def log_artifacts(self, run_id: str, local_dir: str, artifact_path: str | None = None) -> None:
        """Store every file below ``local_dir``, keeping relative paths, under ``artifact_path``."""
        local_dir = os.fspath(local_dir)
        for dirpath, _dirs, files in os.walk(local_dir):
            rel = os.path.relpath(dirpath, local_dir)
            for name in sorted(files):
                parts = [p for p in (artifact_path, None if rel == "." else rel.replace(os.sep, "/"), name) if p]
                self._store.log_artifact_file(validate_run_id(run_id), os.path.join(dirpath, name), "/".join(parts))

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        """Store ``text`` as the artifact file ``artifact_file`` (UTF-8)."""
        self._store.log_artifact_bytes(validate_run_id(run_id), artifact_files.text_bytes(text), artifact_file)

    def log_dict(self, run_id: str, dictionary: Any, artifact_file: str) -> None:
        """Store a dict as JSON, or YAML when ``artifact_file`` ends in ``.yaml``/``.yml``."""
        data = artifact_files.dict_bytes(dictionary, artifact_file)
        self._store.log_artifact_bytes(validate_run_id(run_id), data, artifact_file)

    def log_figure(
        self, run_id: str, figure: Any, artifact_file: str, *, save_kwargs: dict[str, Any] | None = None
    ) -> None:
        """Store a matplotlib (or plotly) figure in the format of ``artifact_file``'s extension."""
        data = artifact_files.figure_bytes(figure, artifact_file, save_kwargs)
        self._store.log_artifact_bytes(validate_run_id(run_id), data, artifact_file)

    def log_image(self, run_id: str, image: Any, artifact_file: str) -> None:
        """Store a NumPy array or PIL image as an image file (PNG unless the name says otherwise)."""
        data = artifact_files.image_bytes(image, artifact_file)
        self._store.log_artifact_bytes(validate_run_id(run_id), data, artifact_file)

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        """The files and directories directly under ``path`` in the run's artifacts."""
        return self._store.list_artifacts(validate_run_id(run_id), path)

    def download_artifacts(self, run_id: str, path: str, dst_path: str | None = None) -> str:
        """Copy an artifact file or directory to ``dst_path`` (a new temp dir by default).

        Returns:
            The local path of the copy.

        Raises:
            ResourceDoesNotExist: if nothing is stored at ``path``.
        """
        dst = dst_path or tempfile.mkdtemp(prefix="tracklite-artifacts-")
        os.makedirs(dst, exist_ok=True)
        return self._store.download_artifacts(validate_run_id(run_id), path, dst)

    def read_artifact(self, run_id: str, path: str) -> bytes:
        """One artifact file's bytes."""
        return self._store.read_artifact_bytes(validate_run_id(run_id), path)


MlflowClient = Client
