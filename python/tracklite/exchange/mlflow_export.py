"""``export_mlflow``: the store replayed into any MLflow tracking backend through MLflow's own client.

The target is a tracking URI MLflow accepts: its SQLite store (``sqlite:///mlflow.db``), another
database (``postgresql://...``) or a tracking server (``http://host:5000``). Everything goes
through ``mlflow.MlflowClient``, so the backend applies its own rules, ids and artifact storage:

- experiments are matched by name (created with the store's tags when absent, reused when
  present); a deleted experiment is created, filled, then deleted, as MLflow deletes them;
- runs are created with their start time, name and user, then params, tags and every metric
  point go in ``log_batch`` calls within MLflow's limits, then artifacts, the logged models of
  the run, and the status and end time; nested runs point at their parent's new id; a deleted
  run is exported, then deleted;
- logged models get their params, tags, type, files and status and are linked to their run;
- the registry follows: registered models with description and tags, versions in number order
  (deleted ones created and deleted again, so the numbers match), stages and aliases.

Ids are the backend's own; the originals stay in tags (``SOURCE_*_TAG``). An export that was
interrupted completes when run again: a run or logged model is marked with ``COMPLETE_TAG`` as
its last write, so a copy without the mark is resumed in place (points already present are not
sent again), and registry versions are counted on the registered model (``VERSIONS_TAG``)
before anything that hides them. A second export into the same target changes nothing. The
store is only read.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, NamedTuple

from tracklite.entities import LifecycleStage, LoggedModelStatus, ModelVersionStage, RunStatus
from tracklite.errors import (
    InvalidParameterValue,
    InvalidState,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
    TrackliteError,
)
from tracklite.exchange.progress import Progress
from tracklite.exchange.selection import RunRow, read_experiments, read_runs, registered_models, select
from tracklite.store.artifacts import artifact_root, write_tree

#: The store's run id, on each run the export makes.
SOURCE_RUN_TAG = "tracklite.source_run_id"
#: The store's experiment id, on each experiment the export makes or reuses.
SOURCE_EXPERIMENT_TAG = "tracklite.source_experiment_id"
#: The store's logged model id, on each logged model the export makes.
SOURCE_MODEL_TAG = "tracklite.source_model_id"
#: ``<name>/<version>`` on a logged model made to hold a version's files when no exported
#: logged model has them.
SOURCE_VERSION_TAG = "tracklite.source_version"
#: Written last on a run or logged model: the copy is whole.
COMPLETE_TAG = "tracklite.export.complete"
#: On a registered model: the creation time (ms) of the store's registered model it copies.
ORIGIN_TAG = "tracklite.source_created"
#: On a registered model: how many version numbers the export has created there.
VERSIONS_TAG = "tracklite.export.versions"
_OURS = frozenset({SOURCE_RUN_TAG, SOURCE_MODEL_TAG, SOURCE_VERSION_TAG, COMPLETE_TAG})

#: Runs whose params and tags are read per open of the store.
RUN_CHUNK = 100
#: Metric points read per query (one run's at most; longer histories take several queries).
POINTS_PER_QUERY = 100_000
# MLflow's log_batch limits, and a request size well inside its 1 MB.
MAX_METRICS, MAX_PARAMS, MAX_TAGS, MAX_ENTITIES = 1000, 100, 100, 1000
BATCH_BYTES = 500_000

_POINTS_SQL = """
SELECT k.key, m.step, m.timestamp, m.value, m.key_id FROM metrics m JOIN metric_keys k ON k.key_id = m.key_id
WHERE m.run_key = ? AND (m.key_id, m.step, m.timestamp, m.value) > (?, ?, ?, ?)
ORDER BY m.key_id, m.step, m.timestamp, m.value + 0.0 LIMIT ?  -- + 0.0: keeps -0.0's sign (see duckdb_store)
"""
_MODELS_SQL = """
SELECT model_id, experiment_id, name, source_run_id, artifact_location, status, model_type FROM logged_models
WHERE list_contains(?, experiment_id) ORDER BY creation_timestamp
"""
_VERSIONS_SQL = """
SELECT v.version, v.current_stage, v.description, v.source, v.run_id, v.model_id, v.storage_location
FROM model_versions v JOIN registered_models m USING (model_key) WHERE m.name = ? ORDER BY v.version
"""


class _Copy(NamedTuple):
    """What the target holds for one entity of the store."""

    target_id: str
    complete: bool
    deleted: bool = False
    experiment_id: str = ""


class _Model(NamedTuple):
    model_id: str
    experiment_id: str
    name: str
    source_run_id: str | None
    artifact_location: str
    status: str
    model_type: str | None


class _Version(NamedTuple):
    version: int
    stage: str
    description: str | None
    source: str
    run_id: str | None
    model_id: str | None
    storage_location: str


def export_mlflow(
    to: str,
    *,
    tracking_uri: str | None = None,
    experiments: Sequence[str] | None = None,
    runs_filter: str | None = None,
    progress: bool = False,
) -> dict[str, int]:
    """Replay the store into an MLflow tracking backend through MLflow's client.

    Needs MLflow (``pip install 'tracklite[mlflow]'``). Running it again after an interruption
    completes the export; running it again after it finished changes nothing (the counts then
    say what was already there).

    Args:
        to: The MLflow tracking URI to write into, e.g. ``sqlite:///mlflow.db``,
            ``postgresql://user@host/db`` or ``http://localhost:5000``. A database URI puts the
            artifacts where MLflow does by default, under ``./mlruns`` of the working folder.
        tracking_uri: The store to read; the current tracking URI by default.
        experiments: Experiment names or ids to export (every experiment by default, deleted
            ones included).
        runs_filter: A ``search_runs`` filter: only matching runs (and their logged models)
            are exported.
        progress: Show progress bars.

    Returns:
        Counts of what was written (experiments, runs, metric points, artifact files, logged
        models, registered models, model versions) and, as ``<what>_skipped``, of what the
        target had already.

    Raises:
        TrackliteError: if MLflow is not installed, or no server answers at an ``http(s)`` URI.
        InvalidParameterValue: for a URI MLflow cannot open, a bad filter, or a write MLflow refuses.
        ResourceDoesNotExist: for an unknown experiment.
        ResourceAlreadyExists: if the target has a registered model of the same name that this
            export did not make (checked before anything is written).

    Examples:
        >>> import tracklite  # doctest: +SKIP
        >>> tracklite.export_mlflow("sqlite:///mlflow.db")  # doctest: +SKIP
        {'experiments': 2, 'runs': 3, 'metric_points': 585, ...}
    """
    from tracklite.tracking.client import Client

    client = _connect(to)
    store: Any = Client(tracking_uri).store
    store.flush()
    exp_ids, run_ids = select(store, experiments, runs_filter)
    export = _Export(store, client, to, Progress(progress))
    with export.bars.running(), export.translated_errors(), _quiet_mlflow():
        export.check_registry()
        export.experiments(exp_ids, run_ids, runs_filtered=runs_filter is not None)
        export.all_runs(run_ids)
        export.standalone_models()
        export.registry()
        export.delete_experiments()
    return export.counts


def _import_mlflow() -> Any:
    try:
        import mlflow
    except ImportError as exc:
        raise TrackliteError(
            f"Exporting into an MLflow tracking backend uses MLflow's client, which is not installed ({exc}): "
            "pip install 'tracklite[mlflow]'"
        ) from exc
    return mlflow


def _connect(to: str) -> Any:
    """An ``MlflowClient`` on ``to``, after checking that the backend answers.

    Raises:
        TrackliteError: if MLflow is missing or no server answers at an ``http(s)`` URI.
        InvalidParameterValue: for anything else that keeps MLflow from opening ``to``.
    """
    mlflow = _import_mlflow()
    scheme = urllib.parse.urlparse(to).scheme
    if len(scheme) < 2:  # none, or a Windows drive letter
        raise InvalidParameterValue(
            f"'{to}' is not an MLflow tracking URI; give one such as sqlite:///mlflow.db, "
            "postgresql://user@host/db or http://localhost:5000 (for an mlruns folder, use `tracklite export mlruns`)."
        )
    if scheme in ("http", "https"):
        _check_server(to)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            client = mlflow.MlflowClient(tracking_uri=to, registry_uri=to)
            client.search_experiments(max_results=1)
            client.search_registered_models(max_results=1)
    except Exception as exc:  # whatever the backend raises (drivers too): name the URI and the cause
        raise InvalidParameterValue(f"MLflow cannot use '{to}' as a tracking backend: {exc}") from exc
    return client


def _check_server(to: str, timeout: float = 10.0) -> None:
    """Fail fast when nothing listens at ``to`` (MLflow's client would retry for minutes)."""
    try:
        with urllib.request.urlopen(f"{to.rstrip('/')}/health", timeout=timeout):
            pass
    except urllib.error.HTTPError:
        return  # something answered (a proxy asking for a login, say): MLflow's client takes it from here
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrackliteError(
            f"No MLflow tracking server answers at {to} ({reason}); start one, e.g. "
            "`mlflow server --backend-store-uri sqlite:///mlflow.db --port 5000`, or check the URI.",
            error_code="TEMPORARILY_UNAVAILABLE",
        ) from exc


@contextmanager
def _quiet_mlflow() -> Iterator[None]:
    """No "View run at ..." lines on stdout for each run, no stage deprecation warnings."""
    before = os.environ.get("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT")
    os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        _restore_env("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", before)


def _restore_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


@contextmanager
def _global_tracking_uri(uri: str) -> Iterator[None]:
    """MLflow's database registry looks logged models up through the *global* tracking URI
    (``MlflowClient()`` inside ``create_model_version``): point it at the target meanwhile."""
    import mlflow
    from mlflow.tracking._tracking_service import utils

    before, env = utils._tracking_uri, os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(before)  # type: ignore[arg-type]  # None unsets it
        _restore_env("MLFLOW_TRACKING_URI", env)


def _json_size(*texts: str) -> int:
    """A bound on the bytes ``texts`` take in a JSON request (non-ASCII may be escaped)."""
    n = sum(len(t) for t in texts)
    return 32 + (n if all(t.isascii() for t in texts) else 6 * n)


def _point_id(key: str, step: int, timestamp: int, value: float) -> tuple[str, int, int, float | str]:
    """A metric point as a backend stores it: MLflow's SQL stores clamp ±inf to ±max float."""
    if math.isnan(value):
        return key, step, timestamp, "nan"
    if math.isinf(value):
        return key, step, timestamp, math.copysign(sys.float_info.max, value)
    return key, step, timestamp, value


def _mlflow_model_name(name: str) -> str:
    """A logged model name MLflow accepts (it refuses ``/ : . % " '``)."""
    return "".join("_" if c in "/:.%\"'" else c for c in name) or "model"


class _Batches:
    """``log_batch`` calls for one run, each within MLflow's limits on counts and request size."""

    LIMITS: ClassVar[dict[str, int]] = {"metrics": MAX_METRICS, "params": MAX_PARAMS, "tags": MAX_TAGS}

    def __init__(self, client: Any, run_id: str) -> None:
        self.client, self.run_id = client, run_id
        self.lists: dict[str, list[Any]] = {kind: [] for kind in self.LIMITS}
        self.size = 0

    def add(self, kind: str, item: Any, size: int) -> None:
        """Queue ``item`` (a ``Metric``, ``Param`` or ``RunTag``, as ``kind`` says), sending the
        queue first if the item would not fit in its call."""
        entities = sum(len(items) for items in self.lists.values())
        full = len(self.lists[kind]) >= self.LIMITS[kind] or entities >= MAX_ENTITIES
        if full or (entities and self.size + size > BATCH_BYTES):
            self.flush()
        self.lists[kind].append(item)
        self.size += size

    def flush(self) -> None:
        """Send what is queued."""
        if any(self.lists.values()):
            self.client.log_batch(self.run_id, **self.lists, synchronous=True)
            self.lists = {kind: [] for kind in self.LIMITS}
            self.size = 0


class _Export:
    """One export's state: what the target holds for each entity of the store, and the counts."""

    def __init__(self, store: Any, client: Any, to: str, bars: Progress) -> None:
        self.store, self.client, self.to, self.bars = store, client, to, bars
        self.doing = "the export"
        self.counts = dict.fromkeys(
            ("experiments", "runs", "metric_points", "artifact_files", "logged_models", "registered_models",
             "model_versions", "experiments_skipped", "runs_skipped", "logged_models_skipped",
             "registered_models_skipped", "model_versions_skipped"),
            0,
        )  # fmt: skip
        self.exps: dict[str, str] = {}  # store experiment id -> target experiment id
        self.exps_deleted: set[str] = set()  # store experiment ids deleted in the store
        self.runs: dict[str, _Copy] = {}
        self.models: dict[str, _Copy] = {}
        self.holders: dict[str, _Copy] = {}
        self.models_of_run: dict[str, list[_Model]] = {}
        self.standalone: list[_Model] = []
        self.source_models: list[Any] = []
        self.target_models: dict[str, Any] = {}  # registered models of the target, by name
        self.point_bar: Any = None

    @contextmanager
    def translated_errors(self) -> Iterator[None]:
        """MLflow's exceptions as tracklite's, naming the target and what was being written."""
        from mlflow.exceptions import MlflowException

        try:
            yield
        except MlflowException as exc:
            kind = {
                "RESOURCE_DOES_NOT_EXIST": ResourceDoesNotExist,
                "RESOURCE_ALREADY_EXISTS": ResourceAlreadyExists,
                "INVALID_PARAMETER_VALUE": InvalidParameterValue,
                "INVALID_STATE": InvalidState,
            }.get(exc.error_code, TrackliteError)
            raise kind(f"MLflow at {self.to} refused {self.doing}: {exc.message}", error_code=exc.error_code) from exc

    def _pages(self, search: Callable[[Any], Any]) -> Iterator[Any]:
        token = None
        while True:
            page = search(token)
            yield from page
            token = page.token
            if not token:
                return

    # -- the registry, checked before anything is written ------------------------------------------

    def check_registry(self) -> None:
        """Refuse registered models of the target that this export did not make.

        Raises:
            ResourceAlreadyExists: naming the first such model.
        """
        self.source_models = registered_models(self.store)
        self.target_models = {
            m.name: m
            for m in self._pages(lambda token: self.client.search_registered_models(max_results=1000, page_token=token))
        }
        for model in self.source_models:
            there = self.target_models.get(model.name)
            if there is not None and there.tags.get(ORIGIN_TAG) != str(model.creation_timestamp):
                why = (
                    "was not made by `tracklite export mlflow`"
                    if ORIGIN_TAG not in there.tags
                    else f"was exported from another registered model (created at {there.tags[ORIGIN_TAG]} ms)"
                )
                raise ResourceAlreadyExists(
                    f"The target {self.to} already has a registered model '{model.name}' that {why}; nothing was "
                    "written. Rename or delete it there (or rename the store's model) and export again."
                )

    # -- experiments -------------------------------------------------------------------------------

    def experiments(self, exp_ids: list[str], run_ids: list[str], *, runs_filtered: bool) -> None:
        """Find or create each experiment, learn what the target already holds, and restore a
        deleted target experiment that still has something to receive."""
        rows, tags = read_experiments(self.store, exp_ids)
        with self.store._read() as con:
            run_experiment = dict(
                con.execute(
                    "SELECT run_id, experiment_id FROM runs WHERE list_contains(?, run_id)", [run_ids]
                ).fetchall()
            )
            models = [_Model(*r) for r in con.execute(_MODELS_SQL, [exp_ids]).fetchall()]
        selected = set(run_ids)
        for model in models:
            if model.source_run_id in selected:
                self.models_of_run.setdefault(model.source_run_id, []).append(model)
            elif not runs_filtered:
                self.standalone.append(model)
        present: dict[str, Any] = {}
        for exp_id, name, stage, _, _ in rows:
            self.doing = f"experiment '{name}'"
            wanted = {**tags.get(exp_id, {}), SOURCE_EXPERIMENT_TAG: exp_id}
            if stage == LifecycleStage.DELETED:
                self.exps_deleted.add(exp_id)
            there = self.client.get_experiment_by_name(name)
            if there is None:
                self.exps[exp_id] = self.client.create_experiment(name, tags=wanted)
                self.counts["experiments"] += 1
                continue
            self.exps[exp_id] = there.experiment_id
            present[exp_id] = (there, wanted)
        self._find_copies([self.exps[e] for e in present])
        # A deleted target experiment is restored if anything is left to write into it.
        owed = {run_experiment[r] for r in run_ids if not self._complete(self.runs, r)}
        exported = [*self.standalone, *(m for ms in self.models_of_run.values() for m in ms)]
        owed |= {m.experiment_id for m in exported if not self._complete(self.models, m.model_id)}
        for exp_id, (there, wanted) in present.items():
            self.doing = f"experiment '{there.name}'"
            changed = False
            if there.lifecycle_stage == LifecycleStage.DELETED:
                if exp_id not in owed and exp_id in self.exps_deleted:
                    self.counts["experiments_skipped"] += 1
                    continue
                self.client.restore_experiment(there.experiment_id)  # which restores all its runs
                for source_id, copy in list(self.runs.items()):
                    if copy.experiment_id == there.experiment_id:
                        self.runs[source_id] = copy._replace(deleted=False)
                changed = True
            for key, value in wanted.items():
                if there.tags.get(key) != value:
                    self.client.set_experiment_tag(there.experiment_id, key, value)
                    changed = True
            self.counts["experiments" if changed else "experiments_skipped"] += 1

    @staticmethod
    def _complete(copies: dict[str, _Copy], source_id: str) -> bool:
        copy = copies.get(source_id)
        return copy is not None and copy.complete

    def _find_copies(self, target_exp_ids: list[str]) -> None:
        """The runs and logged models earlier exports left in these experiments (and the holders
        of version files in experiment 0)."""
        from mlflow.entities import ViewType as MlflowViewType

        if target_exp_ids:
            for run in self._pages(
                lambda token: self.client.search_runs(
                    target_exp_ids,
                    f"tags.`{SOURCE_RUN_TAG}` IS NOT NULL",
                    run_view_type=MlflowViewType.ALL,
                    max_results=1000,
                    page_token=token,
                )
            ):
                info = run.info
                self._remember(
                    self.runs, run.data.tags, SOURCE_RUN_TAG, info.run_id, info.lifecycle_stage, info.experiment_id
                )
        for model in self._pages(
            lambda token: self.client.search_logged_models(
                list(dict.fromkeys([*target_exp_ids, "0"])), max_results=1000, page_token=token
            )
        ):
            self._remember(self.models, model.tags, SOURCE_MODEL_TAG, model.model_id, LifecycleStage.ACTIVE)
            self._remember(self.holders, model.tags, SOURCE_VERSION_TAG, model.model_id, LifecycleStage.ACTIVE)

    @staticmethod
    def _remember(
        copies: dict[str, _Copy], tags: dict[str, str], tag: str, target_id: str, stage: str, experiment_id: str = ""
    ) -> None:
        source_id = tags.get(tag)
        if source_id is None or _Export._complete(copies, source_id):
            return  # not a copy, or a whole copy is known already (it wins over a partial one)
        complete = tags.get(COMPLETE_TAG) == "true"
        copies[source_id] = _Copy(target_id, complete, stage == LifecycleStage.DELETED, experiment_id)

    def delete_experiments(self) -> None:
        """Delete, last, the experiments the store has deleted (MLflow deletes their runs too)."""
        for exp_id in sorted(self.exps_deleted):
            target = self.exps[exp_id]
            self.doing = f"the deletion of experiment {target}"
            if self.client.get_experiment(target).lifecycle_stage != LifecycleStage.DELETED:
                self.client.delete_experiment(target)

    # -- runs --------------------------------------------------------------------------------------

    def all_runs(self, run_ids: list[str]) -> None:
        """Every run, parents before their children, a chunk at a time."""
        with self.store._read() as con:
            parents = dict(
                con.execute(
                    "SELECT run_id, value FROM tags WHERE key = 'mlflow.parentRunId' AND list_contains(?, run_id)",
                    [run_ids],
                ).fetchall()
            )
            (points,) = con.execute(
                "SELECT count(*) FROM metrics WHERE run_key IN "
                "(SELECT run_key FROM runs WHERE list_contains(?, run_id))",
                [run_ids],
            ).fetchone()
        ordered = _parents_first(run_ids, parents)
        run_bar = self.bars.task("runs", len(ordered))
        self.point_bar = self.bars.task("metric points", int(points))
        for start in range(0, len(ordered), RUN_CHUNK):
            chunk = ordered[start : start + RUN_CHUNK]
            rows, by_run = read_runs(self.store, chunk)
            row_of = {r.run_id: r for r in rows}
            for run_id in chunk:
                self._run(row_of[run_id], *by_run[run_id])
                self.bars.advance(run_bar)

    def _run(self, row: RunRow, params: list[tuple[str, str]], tags: list[tuple[str, str]]) -> None:
        self.doing = f"run '{row.run_id}' ('{row.run_name}')"
        deleted = row.lifecycle_stage == LifecycleStage.DELETED
        copy = self.runs.get(row.run_id)
        if copy is not None and copy.complete:
            if deleted and not copy.deleted:  # the export stopped between the mark and the deletion
                self.client.delete_run(copy.target_id)
            self.counts["runs_skipped"] += 1
            self.counts["logged_models_skipped"] += len(self.models_of_run.get(row.run_id, ()))
            self._skip_points(row.run_key)
            return
        present: set[Any] = set()
        if copy is None:
            made = self.client.create_run(
                self.exps[row.experiment_id],
                start_time=row.start_time,
                tags={SOURCE_RUN_TAG: row.run_id, "mlflow.user": row.user_id},  # the user comes from this tag
                run_name=row.run_name,
            )
        else:  # an interrupted copy: complete it in place
            if copy.deleted:
                self.client.restore_run(copy.target_id)
            made = self.client.get_run(copy.target_id)
            present = self._present_points(made)
        target = made.info.run_id
        if "mlflow.user" in made.data.tags and "mlflow.user" not in dict(tags):
            self.client.delete_tag(target, "mlflow.user")
        self.runs[row.run_id] = _Copy(target, complete=False)
        run_tags = []
        for key, value in tags:
            parent = self.runs.get(value) if key == "mlflow.parentRunId" else None
            if key not in _OURS and key != "mlflow.runName":
                run_tags.append((key, value if parent is None else parent.target_id))
        self.counts["metric_points"] += self._log_data(target, params, run_tags, row.run_key, present)
        self.counts["artifact_files"] += self._upload(
            artifact_root(row.artifact_uri), lambda folder: self.client.log_artifacts(target, folder)
        )
        for model in self.models_of_run.get(row.run_id, ()):
            self._logged_model(model, target, linked=copy is not None)
        self.doing = f"run '{row.run_id}' ('{row.run_name}')"
        if row.end_time is not None:
            self.client.set_terminated(target, row.status, row.end_time)
        elif row.status != RunStatus.RUNNING:
            self.client.update_run(target, row.status)
        self.client.set_tag(target, COMPLETE_TAG, "true")
        if deleted:
            self.client.delete_run(target)
        self.runs[row.run_id] = _Copy(target, complete=True, deleted=deleted)
        self.counts["runs"] += 1

    def _points(self, run_key: int) -> Iterator[list[tuple[str, int, int, float, int]]]:
        """A run's metric points in pages of at most ``POINTS_PER_QUERY``, each read in one short
        open of the store (the pages follow each other by key, step, timestamp and value)."""
        after: tuple[int, int, int, float] = (-1, 0, 0, 0.0)
        while True:
            with self.store._read() as con:
                rows = con.execute(_POINTS_SQL, [run_key, *after, POINTS_PER_QUERY]).fetchall()
            if rows:
                yield rows
            if len(rows) < POINTS_PER_QUERY:
                return
            _, step, timestamp, value, key_id = rows[-1]
            after = (key_id, step, timestamp, value)

    def _skip_points(self, run_key: int) -> None:
        if self.point_bar is not None:
            with self.store._read() as con:
                (n,) = con.execute("SELECT count(*) FROM metrics WHERE run_key = ?", [run_key]).fetchone()
            self.bars.advance(self.point_bar, int(n))

    def _present_points(self, run: Any) -> set[Any]:
        """The points an interrupted copy already has (so they are not sent twice)."""
        present = set()
        for key in run.data.metrics:
            for m in self.client.get_metric_history(run.info.run_id, key):
                present.add(_point_id(key, m.step, m.timestamp, m.value))
        return present

    def _log_data(
        self,
        target: str,
        params: Iterable[tuple[str, str]],
        tags: Iterable[tuple[str, str]],
        run_key: int,
        present: set[Any],
    ) -> int:
        """Params, tags and every metric point of a run in as few ``log_batch`` calls as MLflow allows."""
        from mlflow.entities import Metric, Param, RunTag

        batches = _Batches(self.client, target)
        for key, value in params:
            batches.add("params", Param(key, value), _json_size(key, value))
        for key, value in tags:
            batches.add("tags", RunTag(key, value), _json_size(key, value))
        sent = 0
        for page in self._points(run_key):
            sizes = {key: _json_size(key) + 64 for key in {p[0] for p in page}}
            for name, step, timestamp, number, _ in page:
                if present and _point_id(name, step, timestamp, number) in present:
                    continue
                batches.add("metrics", Metric(name, number, timestamp, step), sizes[name])
                sent += 1
            self.bars.advance(self.point_bar, len(page))
        batches.flush()
        return sent

    def _upload(self, root: str, upload: Callable[[str], None]) -> int:
        """Write the files under ``root`` to a temporary folder (one entity at a time) and hand
        it to ``upload``; returns how many files there were."""
        with self.store._read() as con:
            (n,) = con.execute("SELECT count(*) FROM artifact_files WHERE root = ?", [root]).fetchone()
        if n:
            with tempfile.TemporaryDirectory(prefix="tracklite-export-") as folder:
                write_tree(self.store.connector.connect, root, "", folder)
                upload(folder)
        return int(n)

    # -- logged models -----------------------------------------------------------------------------

    def _logged_model(self, model: _Model, target_run: str | None, *, linked: bool = False) -> None:
        """Copy one logged model: params, tags, type, files, status, and its link to the run.

        ``linked``: the run may already list it among its outputs (an interrupted copy).
        """
        from mlflow.entities import LoggedModelOutput

        self.doing = f"logged model '{model.model_id}'"
        copy = self.models.get(model.model_id)
        if copy is not None and copy.complete:
            self.counts["logged_models_skipped"] += 1
            return
        with self.store._read() as con:
            params = dict(
                con.execute(
                    "SELECT key, value FROM logged_model_params WHERE model_id = ?", [model.model_id]
                ).fetchall()
            )
            tags = dict(
                con.execute("SELECT key, value FROM logged_model_tags WHERE model_id = ?", [model.model_id]).fetchall()
            )
        if copy is None:
            target = self.client.create_logged_model(
                self.exps[model.experiment_id],
                _mlflow_model_name(model.name),
                source_run_id=target_run,
                tags={**{k: v for k, v in tags.items() if k not in _OURS}, SOURCE_MODEL_TAG: model.model_id},
                params=params,
                model_type=model.model_type,
            ).model_id
        else:
            target = copy.target_id
        self.models[model.model_id] = _Copy(target, complete=False)
        self.counts["artifact_files"] += self._upload(
            artifact_root(model.artifact_location), lambda folder: self.client.log_model_artifacts(target, folder)
        )
        if model.status != LoggedModelStatus.PENDING:
            self.client.finalize_logged_model(target, model.status)
        if target_run is not None:
            outputs = self.client.get_run(target_run).outputs if linked else None
            if outputs is None or target not in {o.model_id for o in outputs.model_outputs}:
                self.client.log_outputs(target_run, [LoggedModelOutput(target, 0)])
        self.client.set_logged_model_tags(target, {COMPLETE_TAG: "true"})
        self.models[model.model_id] = _Copy(target, complete=True)
        self.counts["logged_models"] += 1

    def standalone_models(self) -> None:
        """Logged models of the chosen experiments that no exported run logged."""
        for model in self.standalone:
            run = self.runs.get(model.source_run_id or "")
            self._logged_model(model, run.target_id if run is not None and not run.deleted else None)

    # -- the registry ------------------------------------------------------------------------------

    def registry(self) -> None:
        """Registered models, their versions in number order, stages and aliases."""
        bar = self.bars.task("registered models", len(self.source_models))
        for model in self.source_models:
            self.doing = f"registered model '{model.name}'"
            self._registered_model(model)
            self.bars.advance(bar)

    def _registered_model(self, model: Any) -> None:
        from mlflow.exceptions import MlflowException

        name = model.name
        there = self.target_models.get(name)
        changed = there is None
        tags = {k: v for k, v in model.tags.items() if k not in (ORIGIN_TAG, VERSIONS_TAG)}
        if there is None:
            own = {ORIGIN_TAG: str(model.creation_timestamp), VERSIONS_TAG: "0"}
            self.client.create_registered_model(name, tags={**tags, **own}, description=model.description)
            made = 0
        else:
            if (there.description or "") != (model.description or ""):
                self.client.update_registered_model(name, model.description)
                changed = True
            changed |= self._set_tags(there.tags, tags, lambda k, v: self.client.set_registered_model_tag(name, k, v))
            made = int(there.tags.get(VERSIONS_TAG, "0"))
        with self.store._read() as con:
            versions = {r[0]: _Version(*r) for r in con.execute(_VERSIONS_SQL, [name]).fetchall()}
            version_tags: dict[int, dict[str, str]] = {}
            for number, key, value in con.execute(
                "SELECT t.version, t.key, t.value FROM model_version_tags t JOIN registered_models m USING (model_key) "
                "WHERE m.name = ?",
                [name],
            ).fetchall():
                version_tags.setdefault(number, {})[key] = value
        for number in range(1, max(versions, default=0) + 1):
            self.doing = f"version {number} of registered model '{name}'"
            version = versions.get(number)
            wanted_tags = version_tags.get(number, {})
            deleted = version is None or version.stage == ModelVersionStage.DELETED_INTERNAL
            existing = None
            if there is not None and number <= made + 1:  # made by an earlier export, or being made
                try:
                    existing = self.client.get_model_version(name, str(number))
                except MlflowException as exc:
                    if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                        raise
            if existing is None and number <= made:  # created and deleted by an earlier export
                self.counts["model_versions_skipped"] += not deleted
                continue
            if existing is None:
                self._create_version(name, number, version, {} if deleted else wanted_tags)
                self.counts["model_versions"] += not deleted
                changed = True
            else:
                self.counts["model_versions_skipped"] += not deleted
            if number > made:  # counted before anything can hide it
                self.client.set_registered_model_tag(name, VERSIONS_TAG, str(number))
                made = number
            if deleted:
                self.client.delete_model_version(name, str(number))
                continue
            assert version is not None
            changed |= self._reconcile_version(name, version, wanted_tags, existing)
        aliases = {} if there is None else {a: int(v) for a, v in there.aliases.items()}
        for alias, number in model.aliases.items():
            if aliases.get(alias) != number:
                self.client.set_registered_model_alias(name, alias, str(number))
                changed = True
        self.counts["registered_models" if changed else "registered_models_skipped"] += 1

    @staticmethod
    def _set_tags(have: dict[str, str], wanted: dict[str, str], set_tag: Callable[[str, str], None]) -> bool:
        changed = False
        for key, value in wanted.items():
            if have.get(key) != value:
                set_tag(key, value)
                changed = True
        return changed

    def _reconcile_version(self, name: str, version: _Version, tags: dict[str, str], existing: Any) -> bool:
        """Bring an existing (or just created) version's description, tags and stage in line."""
        number = str(version.version)
        if existing is None:  # just created with its description and tags
            changed = False
        else:
            changed = self._set_tags(
                existing.tags, tags, lambda k, v: self.client.set_model_version_tag(name, number, k, v)
            )
            if (existing.description or "") != (version.description or ""):
                self.client.update_model_version(name, number, version.description)
                changed = True
        stage = existing.current_stage if existing is not None else ModelVersionStage.NONE
        if stage != version.stage:
            self.client.transition_model_version_stage(name, number, version.stage)
            changed = True
        return changed

    def _create_version(self, name: str, number: int, version: _Version | None, tags: dict[str, str]) -> None:
        source, run_id, model_id = self._version_source(name, number, version)
        remote = urllib.parse.urlparse(self.to).scheme in ("http", "https")
        with _global_tracking_uri(self.to) if not remote else _nothing():
            made = self.client.create_model_version(
                name,
                source,
                run_id=run_id,
                tags=tags,
                description=None if version is None else version.description,
                await_creation_for=0,  # MLflow's own stores make versions READY at once
                model_id=model_id,
            )
        if int(made.version) != number:
            raise InvalidState(
                f"The target {self.to} numbered the new version of registered model '{name}' {made.version}, "
                f"not {number}: something else is registering versions of it. Export again when it has stopped."
            )

    def _version_source(self, name: str, number: int, version: _Version | None) -> tuple[str, str | None, str | None]:
        """Where a version's files are in the target: its exported logged model when that holds
        the same files (``models:/<id>``), else a logged model made to hold the version's own files."""
        deleted = version is None or version.stage == ModelVersionStage.DELETED_INTERNAL
        run = self.runs.get(version.run_id or "") if version is not None else None
        run_id = run.target_id if run is not None else None
        if version is not None and version.model_id is not None:
            copy = self.models.get(version.model_id)
            if copy is not None and (deleted or self._same_files(version)):
                return f"models:/{copy.target_id}", run_id, copy.target_id
        holder = self._holder(name, number, None if deleted or version is None else version)
        return f"models:/{holder}", run_id, holder

    def _same_files(self, version: _Version) -> bool:
        with self.store._read() as con:
            location = con.execute(
                "SELECT artifact_location FROM logged_models WHERE model_id = ?", [version.model_id]
            ).fetchall()
            if not location:
                return False
            listed = [
                con.execute("SELECT path, digest FROM artifact_files WHERE root = ? ORDER BY path", [root]).fetchall()
                for root in (artifact_root(version.storage_location), artifact_root(location[0][0]))
            ]
        return bool(listed[0] == listed[1])

    def _holder(self, name: str, number: int, version: _Version | None) -> str:
        """A logged model in experiment 0 of the target holding a version's pinned files (none for a
        deleted version), tagged ``SOURCE_VERSION_TAG``."""
        key = f"{name}/{number}"
        copy = self.holders.get(key)
        if copy is not None and copy.complete:
            return copy.target_id
        target = (
            copy.target_id
            if copy is not None
            else self.client.create_logged_model("0", _mlflow_model_name(name), tags={SOURCE_VERSION_TAG: key}).model_id
        )
        if version is not None:
            self._upload(
                artifact_root(version.storage_location), lambda folder: self.client.log_model_artifacts(target, folder)
            )
        self.client.finalize_logged_model(target, LoggedModelStatus.READY)
        self.client.set_logged_model_tags(target, {COMPLETE_TAG: "true"})
        self.holders[key] = _Copy(target, complete=True)
        return target


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _parents_first(run_ids: list[str], parent_of: dict[str, str]) -> list[str]:
    """``run_ids`` reordered so that each run comes after its parent (when both are exported)."""
    chosen = set(run_ids)
    ordered: list[str] = []
    placed: set[str] = set()
    for run_id in run_ids:
        chain: list[str] = []
        current: str | None = run_id
        while current is not None and current in chosen and current not in placed and current not in chain:
            chain.append(current)
            current = parent_of.get(current)
        for member in reversed(chain):
            placed.add(member)
            ordered.append(member)
    return ordered


__all__ = [
    "COMPLETE_TAG",
    "ORIGIN_TAG",
    "SOURCE_EXPERIMENT_TAG",
    "SOURCE_MODEL_TAG",
    "SOURCE_RUN_TAG",
    "SOURCE_VERSION_TAG",
    "VERSIONS_TAG",
    "export_mlflow",
]
