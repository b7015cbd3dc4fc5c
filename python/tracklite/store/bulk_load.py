"""Writing whole entities into a store with their original ids: what every importer calls.

An importer (an MLflow ``mlruns`` tree, a Parquet dataset, an MLflow SQL database) reads
its source into the plain records below and hands them to a ``BulkLoader``. The loader
keeps every id the source had (experiment ids, run ids, logged model ids, registered model
names and version numbers) and is **idempotent**: an entity whose id is already in the store
is skipped and left exactly as it is, so importing the same source twice changes nothing the
second time, and an import that was interrupted completes when run again.

Records:

- ``ExperimentRecord(experiment_id, name, lifecycle_stage="active", creation_time=None,
  last_update_time=None, tags={})``
- ``RunRecord(run_id, experiment_id, run_name="", user_id="", status="FINISHED", start_time=0,
  end_time=None, lifecycle_stage="active", deleted_time=None, params={}, tags={}, metrics=(),
  artifacts=None)``; ``metrics`` is an iterable of Arrow tables or record batches with columns
  ``key`` (string or dictionary of strings), ``step``, ``timestamp`` (integers) and ``value``
  (float; NaN and ±inf kept). It is consumed only if the run is new, one batch at a time, so a
  generator that reads the source lazily keeps memory bounded however long the history is.
  ``artifacts`` is a local directory (every file below it, at its relative path) or a mapping
  of artifact path to local file.
- ``LoggedModelRecord(model_id, experiment_id, name, source_run_id=None, status="READY",
  model_type=None, creation_timestamp=None, last_updated_timestamp=None, params={}, tags={},
  artifacts=None)``
- ``RegisteredModelRecord(name, description=None, creation_timestamp=None,
  last_updated_timestamp=None, tags={}, aliases={}, versions=(), user_id=None)`` with
  ``ModelVersionRecord(version, source, current_stage="None", description=None, user_id=None,
  run_id=None, run_link=None, model_id=None, status="READY", creation_timestamp=None,
  last_updated_timestamp=None, tags={}, files=None)``. A version's files are pinned as the
  registry pins them (its own artifact root, sharing the chunks): from ``files`` if given
  (a local directory, or ``StoredFiles(root, path)`` already in the store), else from the
  logged model ``model_id`` if the store has it, else from a ``runs:/<run_id>/<path>`` or
  ``models:/<model_id>`` source the store has. Deleted versions (stage ``Deleted_Internal``)
  keep their row, so their numbers stay taken, and get no files.

The loader::

    with BulkLoader(store) as loader:
        loader.add_experiments([...])      # all at once: name clashes are found before any write
        for run_id in loader.new_run_ids(ids):  # optional: the others are present (counted as skipped)
            loader.add_run(run_record)     # -> True if written, False if the id was present
        loader.add_logged_model(model_record)
        loader.add_registered_model(registered_model_record)
    loader.counts                          # {"runs": 12, "runs_skipped": 0, "metrics": 3400, ...}

or in one call, ``load(store, experiments=..., runs=..., logged_models=...,
registered_models=...) -> counts``.

Rules:

- **Ids are kept.** Runs get tracklite's own artifact root,
  ``tracklite-artifacts:/<experiment_id>/<run_id>/artifacts``; logged models
  ``tracklite-artifacts:/<experiment_id>/models/<model_id>/artifacts``; experiments
  ``tracklite-artifacts:/<experiment_id>``. Runs get fresh internal ``run_key`` values and
  metric names ``key_id`` values as the store allocates them; ``latest_metrics`` holds each
  metric's point with the largest ``(step, timestamp, value)``, the store's rule.
- **Present means skipped, whole.** A run that exists is skipped with its params, tags,
  metrics and artifacts; a registered model whose name exists is skipped with all its
  versions, tags and aliases (the versions of two different registries are never merged).
- **A clash is an error.** An experiment is the one in the store when both its id and its
  name match. One whose name the store uses under another id, or whose id the store uses
  under another name (old MLflow file stores and SQL stores number experiments 0, 1, 2...
  as tracklite does), raises ``ResourceAlreadyExists`` naming both, before anything of the
  batch is written: experiment names are unique in a store, and renaming or merging
  silently would put runs where nobody looks for them. Rename one of the two and import
  again, or import into another store.
- **Transactions.** Work goes to the store in write transactions that end only between
  entities, once a transaction holds ``commit_points`` metric points, ``commit_bytes`` of
  artifacts, ``commit_rows`` other rows or has been open ``commit_seconds``; so an entity is
  in the store whole or not at all, and other processes get the file in between. Rows are
  inserted through Arrow, metric points in batches of ``flush_points``, artifact files in the
  layout ``store.artifacts.put_stream`` writes (4 MiB chunks under their SHA-256, each stored
  once) but batched, since ``put_stream`` costs three statements (about 2 ms) a file. If
  anything fails, the open transaction is rolled back and the error propagates; what was
  committed before stays, and importing again completes the rest.
- **Long histories.** DuckDB keeps a transaction's new rows in memory (about 33 bytes a
  point), so a run whose history passes ``commit_points`` is committed in several
  transactions, and memory stays bounded however many points it has (10 million points:
  about 330 MB resident for the whole process, the same as for 20 million). Until its last
  transaction the run carries the tag ``tracklite.import.incomplete``; a run found with that
  tag is not skipped but removed and loaded again.
- **The audit trail.** Registry entities get the audit rows their creation through the API
  would have written (``create_registered_model``, ``set_registered_model_tag``,
  ``update_registered_model``, ``create_model_version``, ``set_model_version_tag``,
  ``update_model_version``, ``transition_model_version_stage``, ``delete_model_version``,
  ``set_registered_model_alias``), timed at the source's timestamps and naming the source's
  user where it has one (a version's ``user_id``, else the record's ``user_id``), else the
  importing user.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from tracklite.entities import LifecycleStage, LoggedModelStatus, ModelVersionStage, RunStatus
from tracklite.errors import InvalidParameterValue, ResourceAlreadyExists, ResourceDoesNotExist
from tracklite.store import artifacts as _artifacts
from tracklite.store import registry as _reg
from tracklite.store.artifacts import ARTIFACT_SCHEME, artifact_root

if TYPE_CHECKING:
    from tracklite.store.duckdb_store import DuckDBStore

_log = logging.getLogger(__name__)

#: Default transaction budget (see the module docstring).
COMMIT_POINTS = 2_000_000
COMMIT_BYTES = 256 * 1024 * 1024
COMMIT_ROWS = 100_000
COMMIT_SECONDS = 2.0
#: Metric points inserted per statement.
FLUSH_POINTS = 1_000_000
#: Artifact bytes held before they are inserted.
CHUNK_BUFFER_BYTES = 64 * 1024 * 1024
#: The tag a run carries while its history is being loaded in several transactions.
INCOMPLETE_TAG = "tracklite.import.incomplete"

_RUN_STATUSES = frozenset(RunStatus.all_status())
_STAGES = frozenset((LifecycleStage.ACTIVE, LifecycleStage.DELETED))
_MODEL_STATUSES = frozenset((LoggedModelStatus.PENDING, LoggedModelStatus.READY, LoggedModelStatus.FAILED))


# -- records -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExperimentRecord:
    """An experiment to load, with its original id."""

    experiment_id: str
    name: str
    lifecycle_stage: str = LifecycleStage.ACTIVE
    creation_time: int | None = None
    last_update_time: int | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunRecord:
    """A run to load with everything in it; ``metrics`` is consumed lazily (module docstring)."""

    run_id: str
    experiment_id: str
    run_name: str = ""
    user_id: str = ""
    status: str = RunStatus.FINISHED
    start_time: int = 0
    end_time: int | None = None
    lifecycle_stage: str = LifecycleStage.ACTIVE
    deleted_time: int | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    metrics: Iterable[Any] = ()
    artifacts: str | Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class LoggedModelRecord:
    """A logged model (MLflow 3's ``LoggedModel``) with its params, tags and files."""

    model_id: str
    experiment_id: str
    name: str
    source_run_id: str | None = None
    status: str = LoggedModelStatus.READY
    model_type: str | None = None
    creation_timestamp: int | None = None
    last_updated_timestamp: int | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    artifacts: str | Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class StoredFiles:
    """Files already in the store: everything at or below ``path`` under artifact ``root``
    (a run's root is ``<experiment_id>/<run_id>/artifacts``)."""

    root: str
    path: str = ""


@dataclass(frozen=True, slots=True)
class ModelVersionRecord:
    """One numbered version of a registered model; ``files`` says where its files come from."""

    version: int
    source: str
    current_stage: str = ModelVersionStage.NONE
    description: str | None = None
    user_id: str | None = None
    run_id: str | None = None
    run_link: str | None = None
    model_id: str | None = None
    status: str = "READY"
    creation_timestamp: int | None = None
    last_updated_timestamp: int | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    files: str | StoredFiles | None = None


@dataclass(frozen=True, slots=True)
class RegisteredModelRecord:
    """A registered model with its versions; ``aliases`` maps alias to version number."""

    name: str
    description: str | None = None
    creation_timestamp: int | None = None
    last_updated_timestamp: int | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    aliases: Mapping[str, int] = field(default_factory=dict)
    versions: Sequence[ModelVersionRecord] = ()
    user_id: str | None = None


# -- the loader --------------------------------------------------------------------------------------


def _now_ms() -> int:
    return int(time.time() * 1000)


# Column types of the rows the loader buffers and inserts through Arrow.
_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "runs": (
        ("run_key", "int32"),
        ("run_id", "string"),
        ("experiment_id", "string"),
        ("run_name", "string"),
        ("user_id", "string"),
        ("status", "string"),
        ("start_time", "int64"),
        ("end_time", "int64"),
        ("lifecycle_stage", "string"),
        ("artifact_uri", "string"),
        ("deleted_time", "int64"),
    ),
    "params": (("run_key", "int32"), ("run_id", "string"), ("key", "string"), ("value", "string")),
    "tags": (("run_key", "int32"), ("run_id", "string"), ("key", "string"), ("value", "string")),
    "experiments": (
        ("experiment_id", "string"),
        ("name", "string"),
        ("artifact_location", "string"),
        ("lifecycle_stage", "string"),
        ("creation_time", "int64"),
        ("last_update_time", "int64"),
    ),
    "experiment_tags": (("experiment_id", "string"), ("key", "string"), ("value", "string")),
    "logged_model_params": (("model_id", "string"), ("key", "string"), ("value", "string")),
    "logged_model_tags": (("model_id", "string"), ("key", "string"), ("value", "string")),
    "artifact_chunks": (("digest", "string"), ("size", "int32"), ("data", "binary")),
    "artifact_files": (
        ("root", "string"),
        ("path", "string"),
        ("size", "int64"),
        ("digest", "string"),
        ("chunks", "list<string>"),
        ("created_time", "int64"),
    ),
}


def _insert_rows(con: Any, table: str, rows: Sequence[tuple[Any, ...]], *, or_ignore: bool = False) -> None:
    """One Arrow insert of ``rows`` (in ``_COLUMNS[table]`` order) into ``table``; with
    ``or_ignore``, rows whose primary key is present are left out."""
    if not rows:
        return
    import pyarrow as pa

    kinds = {"list<string>": pa.list_(pa.string())}
    columns = _COLUMNS[table]
    values = zip(*rows, strict=True)
    data = pa.table(
        {name: pa.array(next(values), type=kinds.get(kind) or getattr(pa, kind)()) for name, kind in columns}
    )
    names = ", ".join(name for name, _ in columns)
    con.register("_tracklite_rows", data)
    try:
        verb = "INSERT OR IGNORE" if or_ignore else "INSERT"
        con.execute(f"{verb} INTO {table} ({names}) SELECT {names} FROM _tracklite_rows")
    finally:
        con.unregister("_tracklite_rows")


def _text_items(items: Mapping[str, Any], what: str) -> list[tuple[str, str]]:
    out = []
    for key, value in items.items():
        if not isinstance(key, str) or not key:
            raise InvalidParameterValue(f"{what} has an empty or non-string key {key!r}; keys are non-empty strings.")
        if value is None:
            raise InvalidParameterValue(f"{what} key '{key}' has no value (None); values are strings.")
        out.append((key, str(value)))
    return out


class BulkLoader:
    """Loads records into a ``DuckDBStore`` in batched write transactions (module docstring).

    Args:
        store: The store to write into.
        commit_points: End a transaction once it holds this many metric points (between
            entities, or within a run with a long history)...
        commit_bytes: ...or this many bytes of artifact files...
        commit_rows: ...or this many other rows...
        commit_seconds: ...or has been open this long.
        flush_points: Metric points per insert statement (memory held at most, roughly).

    Use it as a context manager: leaving the block commits what is pending, an exception rolls
    the open transaction back. ``counts`` says what was written and what was skipped.
    """

    def __init__(
        self,
        store: DuckDBStore,
        *,
        commit_points: int = COMMIT_POINTS,
        commit_bytes: int = COMMIT_BYTES,
        commit_rows: int = COMMIT_ROWS,
        commit_seconds: float = COMMIT_SECONDS,
        flush_points: int = FLUSH_POINTS,
    ) -> None:
        self.store = store
        self.commit_points = commit_points
        self.commit_bytes = commit_bytes
        self.commit_rows = commit_rows
        self.commit_seconds = commit_seconds
        self.flush_points = flush_points
        self.counts: dict[str, int] = dict.fromkeys(
            (
                "experiments",
                "experiments_skipped",
                "experiment_tags",
                "runs",
                "runs_skipped",
                "params",
                "tags",
                "metrics",
                "artifacts",
                "logged_models",
                "logged_models_skipped",
                "registered_models",
                "registered_models_skipped",
                "model_versions",
                "aliases",
            ),
            0,
        )
        self._tx: ExitStack | None = None
        self._con: Any = None
        self._failed = False
        self._closed = False
        self._opened_at = 0.0
        self._tx_points = self._tx_bytes = self._tx_rows = 0
        self._rows: dict[str, list[tuple[Any, ...]]] = {}
        self._points: list[Any] = []
        self._pending_points = 0
        self._pending_runs: set[str] = set()
        self._vetted_runs: set[str] = set()
        self._chunks: dict[str, bytes] = {}
        self._chunk_bytes = 0
        self._next_run_key = 0
        self._key_ids: dict[str, int] = {}
        self._next_key_id = 0
        self._experiments: set[str] = set()

    # -- context and transactions ---------------------------------------------------------------------

    def __enter__(self) -> BulkLoader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            self.close()
        else:
            self._abort(exc_type, exc, tb)

    def close(self) -> None:
        """Commit what is pending; the loader takes no more records after this."""
        if not self._closed and not self._failed:
            self.commit()
        self._closed = True

    def commit(self) -> None:
        """Write what is buffered and commit the open transaction (if any)."""
        if self._tx is None:
            return
        try:
            self._flush()
        except BaseException as exc:
            self._abort(type(exc), exc, exc.__traceback__)
            raise
        tx, self._tx, self._con = self._tx, None, None
        tx.close()

    def _abort(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._failed = True
        self._closed = True
        self._rows.clear()
        self._points.clear()
        self._chunks.clear()
        self._pending_runs.clear()
        self._vetted_runs.clear()
        tx, self._tx, self._con = self._tx, None, None
        if tx is not None:
            tx.__exit__(exc_type, exc, tb)  # the store's transaction rolls back

    def _begin(self) -> Any:
        """The open transaction's connection, opening one (and reading the id counters) if needed."""
        if self._failed or self._closed:
            raise InvalidParameterValue("This BulkLoader is closed (it finished or failed); start a new one.")
        if self._con is None:
            stack = ExitStack()
            self._con = stack.enter_context(self.store._write())
            self._tx = stack
            self._opened_at = time.monotonic()
            self._tx_points = self._tx_bytes = self._tx_rows = 0
            con = self._con
            # Other processes may have added runs and metric names since our last transaction.
            self._next_run_key = int(con.execute("SELECT coalesce(max(run_key), 0) + 1 FROM runs").fetchone()[0])
            self._key_ids = dict(con.execute("SELECT key, key_id FROM metric_keys").fetchall())
            self._next_key_id = max(self._key_ids.values(), default=-1) + 1
        return self._con

    def _maybe_commit(self) -> None:
        if self._con is None:
            return
        if (
            self._tx_points >= self.commit_points
            or self._tx_bytes >= self.commit_bytes
            or self._tx_rows >= self.commit_rows
            or time.monotonic() - self._opened_at >= self.commit_seconds
        ):
            self.commit()

    def _guarded(self, work: Any) -> Any:
        """Run ``work()``; on any error roll the open transaction back and re-raise."""
        try:
            return work()
        except BaseException as exc:
            self._abort(type(exc), exc, exc.__traceback__)
            raise

    def _buffer(self, table: str, rows: Iterable[tuple[Any, ...]]) -> int:
        bucket = self._rows.setdefault(table, [])
        before = len(bucket)
        bucket.extend(rows)
        added = len(bucket) - before
        self._tx_rows += added
        return added

    def _flush(self) -> None:
        """Insert buffered rows and metric points (the transaction stays open)."""
        con = self._con
        if con is None:
            return
        for table in ("experiments", "experiment_tags", "runs", "params", "tags", "artifact_files"):
            _insert_rows(con, table, self._rows.pop(table, []))
        self._pending_runs.clear()
        self._flush_chunks()
        self._flush_points()

    def _flush_chunks(self) -> None:
        chunks, self._chunks, self._chunk_bytes = self._chunks, {}, 0
        if _artifacts.chunk_folder(self._con) is not None:  # a lake keeps chunks as files
            for digest, data in chunks.items():
                _artifacts.put_chunk(self._con, digest, data)
            return
        _insert_rows(self._con, "artifact_chunks", [(d, len(b), b) for d, b in chunks.items()], or_ignore=True)

    def _flush_points(self) -> None:
        if not self._points:
            return
        import pyarrow as pa

        from tracklite.store.metric_sink import _insert_points

        table = pa.concat_tables(self._points)
        self._points.clear()
        self._pending_points = 0
        _insert_points(self._con, table)

    # -- experiments ----------------------------------------------------------------------------------

    def add_experiments(self, records: Iterable[ExperimentRecord]) -> int:
        """Load experiments (with their tags); those whose id is present are skipped.

        All name clashes of the batch are checked before any of it is written.

        Returns:
            How many were written.

        Raises:
            ResourceAlreadyExists: if an experiment's name is used in the store (or twice in
                ``records``) under another id, or its id under another name.
            InvalidParameterValue: for an empty id or name, or an unknown lifecycle stage.
        """
        return int(self._guarded(lambda: self._add_experiments(list(records))))

    def _add_experiments(self, records: list[ExperimentRecord]) -> int:
        con = self._begin()
        for rec in records:
            if not isinstance(rec.experiment_id, str) or not rec.experiment_id:
                raise InvalidParameterValue(f"Experiment {rec.name!r} has no id; ids are non-empty strings.")
            if not isinstance(rec.name, str) or not rec.name:
                raise InvalidParameterValue(f"Experiment '{rec.experiment_id}' has no name.")
            if rec.lifecycle_stage not in _STAGES:
                raise InvalidParameterValue(
                    f"Experiment '{rec.experiment_id}' has lifecycle stage {rec.lifecycle_stage!r}; "
                    "use 'active' or 'deleted'."
                )
        ids = [r.experiment_id for r in records]
        present = dict(
            con.execute(
                "SELECT experiment_id, name FROM experiments WHERE list_contains(?, experiment_id)", [ids]
            ).fetchall()
        )
        for rec in records:
            if rec.experiment_id in present and present[rec.experiment_id] != rec.name:
                raise ResourceAlreadyExists(
                    f"Experiment id '{rec.experiment_id}' is '{rec.name}' in the import but "
                    f"'{present[rec.experiment_id]}' in the store: two different experiments with one id. "
                    "Their runs must not be mixed: import into another store, or rename the store's "
                    f"experiment back to '{rec.name}' if it is the same one."
                )
        new: dict[str, ExperimentRecord] = {}
        by_name: dict[str, str] = {}
        for rec in records:
            if rec.experiment_id in present or rec.experiment_id in new:
                self.counts["experiments_skipped"] += 1
                continue
            other = by_name.get(rec.name)
            if other is not None:
                raise ResourceAlreadyExists(
                    f"Experiments '{other}' and '{rec.experiment_id}' of the import are both named '{rec.name}'; "
                    "experiment names are unique in a store. Rename one of them in the source and import again."
                )
            by_name[rec.name] = rec.experiment_id
            new[rec.experiment_id] = rec
        if by_name:
            for found_id, name in con.execute(
                "SELECT experiment_id, name FROM experiments WHERE list_contains(?, name)", [list(by_name)]
            ).fetchall():
                raise ResourceAlreadyExists(
                    f"Experiment '{name}' is id '{by_name[name]}' in the import, but the store already has an "
                    f"experiment '{name}' with id '{found_id}'. Rename one of them "
                    f"(`tracklite.Client().rename_experiment('{found_id}', '<new name>')` in the store) and "
                    "import again."
                )
        self._buffer(
            "experiments",
            (
                (r.experiment_id, r.name, f"{ARTIFACT_SCHEME}{r.experiment_id}", r.lifecycle_stage,
                 r.creation_time, r.last_update_time)
                for r in new.values()
            ),
        )  # fmt: skip
        self.counts["experiment_tags"] += self._buffer(
            "experiment_tags",
            (
                (r.experiment_id, k, v)
                for r in new.values()
                for k, v in _text_items(r.tags, f"Experiment '{r.experiment_id}' tag")
            ),
        )
        self._experiments.update(ids)
        self.counts["experiments"] += len(new)
        self._flush()  # runs check their experiment against the table
        self._maybe_commit()
        return len(new)

    def _require_experiment(self, experiment_id: str, what: str) -> None:
        if experiment_id in self._experiments:
            return
        found = self._con.execute("SELECT 1 FROM experiments WHERE experiment_id = ?", [experiment_id]).fetchall()
        if not found:
            raise ResourceDoesNotExist(
                f"{what} belongs to experiment '{experiment_id}', which is neither in the store nor loaded; "
                "load the experiment first (BulkLoader.add_experiments)."
            )
        self._experiments.add(experiment_id)

    # -- runs -----------------------------------------------------------------------------------------

    def new_run_ids(self, run_ids: Iterable[str]) -> list[str]:
        """Those of ``run_ids`` that ``add_run`` would write (absent from the store, or left
        unfinished by an interrupted import), in the given order. The others are counted as
        skipped now, so an importer need not read them from its source at all.
        """
        return list(self._guarded(lambda: self._new_run_ids(list(dict.fromkeys(run_ids)))))

    def _new_run_ids(self, run_ids: list[str]) -> list[str]:
        con = self._begin()
        present = dict(
            con.execute(
                "SELECT r.run_id, u.run_key IS NOT NULL FROM runs r LEFT JOIN "
                "(SELECT DISTINCT run_key FROM tags WHERE key = ?) u USING (run_key) WHERE list_contains(?, r.run_id)",
                [INCOMPLETE_TAG, run_ids],
            ).fetchall()
        )
        present.update(dict.fromkeys(self._pending_runs & set(run_ids), False))
        new = [r for r in run_ids if r not in present or present[r]]
        self.counts["runs_skipped"] += len(run_ids) - len(new)
        self._vetted_runs.update(r for r in new if r not in present)
        return new

    def add_run(self, record: RunRecord) -> bool:
        """Load a run with its params, tags, metric history and artifacts, atomically.

        Returns:
            True if it was written; False if a run with its id is present (nothing is read
            from ``record.metrics`` then).

        Raises:
            ResourceDoesNotExist: if its experiment is not in the store.
            InvalidParameterValue: for a bad status, lifecycle stage, key or metric batch.
        """
        added = bool(self._guarded(lambda: self._add_run(record)))
        self._guarded(self._maybe_commit)
        return added

    def _add_run(self, rec: RunRecord) -> bool:
        con = self._begin()
        run_id = rec.run_id
        if not isinstance(run_id, str) or not run_id:
            raise InvalidParameterValue(f"A run of experiment '{rec.experiment_id}' has no id.")
        if run_id in self._pending_runs:
            self.counts["runs_skipped"] += 1
            return False
        if run_id in self._vetted_runs:
            self._vetted_runs.discard(run_id)  # new_run_ids found it missing: no need to ask again
        else:
            found = con.execute("SELECT run_key, artifact_uri FROM runs WHERE run_id = ?", [run_id]).fetchall()
            if found:
                run_key, uri = int(found[0][0]), str(found[0][1])
                unfinished = con.execute(
                    "SELECT 1 FROM tags WHERE run_key = ? AND key = ? LIMIT 1", [run_key, INCOMPLETE_TAG]
                ).fetchall()
                if not unfinished:
                    self.counts["runs_skipped"] += 1
                    return False
                self._forget_run(run_key, uri)  # an interrupted import of it: load it again
        if rec.status not in _RUN_STATUSES:
            raise InvalidParameterValue(
                f"Run '{run_id}' has status {rec.status!r}; use one of {', '.join(sorted(_RUN_STATUSES))}."
            )
        if rec.lifecycle_stage not in _STAGES:
            raise InvalidParameterValue(
                f"Run '{run_id}' has lifecycle stage {rec.lifecycle_stage!r}; use 'active' or 'deleted'."
            )
        self._require_experiment(rec.experiment_id, f"Run '{run_id}'")
        run_key = self._next_run_key
        self._next_run_key += 1
        self._pending_runs.add(run_id)
        root = f"{rec.experiment_id}/{run_id}/artifacts"
        self._buffer(
            "runs",
            [
                (run_key, run_id, rec.experiment_id, rec.run_name or "", rec.user_id or "", rec.status,
                 int(rec.start_time or 0), rec.end_time, rec.lifecycle_stage, ARTIFACT_SCHEME + root,
                 rec.deleted_time)
            ],
        )  # fmt: skip
        what = f"Run '{run_id}'"
        self.counts["params"] += self._buffer(
            "params", ((run_key, run_id, k, v) for k, v in _text_items(rec.params, f"{what} param"))
        )
        self.counts["tags"] += self._buffer(
            "tags", ((run_key, run_id, k, v) for k, v in _text_items(rec.tags, f"{what} tag"))
        )
        split = False
        for batch in rec.metrics:
            self._add_points(run_key, batch, what)
            if self._tx_points >= self.commit_points:
                # A long history goes in several transactions (DuckDB holds a transaction's
                # rows in memory); the tag marks the run unfinished until its last one.
                if not split:
                    self._buffer("tags", [(run_key, run_id, INCOMPLETE_TAG, "true")])
                    split = True
                self.commit()
                self._begin()
        self._put_files(root, rec.artifacts)
        if split:
            self._con.execute("DELETE FROM tags WHERE run_key = ? AND key = ?", [run_key, INCOMPLETE_TAG])
        self.counts["runs"] += 1
        return True

    def _forget_run(self, run_key: int, artifact_uri: str) -> None:
        """Remove every row of a run whose import was interrupted, before importing it again."""
        con = self._con
        for table in ("metrics", "latest_metrics", "params", "tags", "runs"):
            con.execute(f"DELETE FROM {table} WHERE run_key = ?", [run_key])
        _artifacts.delete_root(con, artifact_root(artifact_uri))

    def _key_id(self, key: Any, what: str) -> int:
        if not isinstance(key, str) or not key:
            raise InvalidParameterValue(f"{what} has a metric with an empty or missing key.")
        found = self._key_ids.get(key)
        if found is None:
            found = self._next_key_id
            self._next_key_id += 1
            self._con.execute("INSERT INTO metric_keys (key_id, key) VALUES (?, ?)", [found, key])
            self._key_ids[key] = found
        return found

    def _add_points(self, run_key: int, batch: Any, what: str) -> None:
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
        n = table.num_rows
        if n == 0:
            return
        try:
            columns = {name: table.column(name) for name in ("key", "step", "timestamp", "value")}
        except KeyError:
            raise InvalidParameterValue(
                f"{what}: a metric batch needs columns key, step, timestamp and value; got {table.column_names}."
            ) from None
        for name, column in columns.items():
            if column.null_count:
                raise InvalidParameterValue(f"{what}: metric column '{name}' holds nulls; every point needs one.")
        keys = columns["key"].combine_chunks()
        if not pa.types.is_dictionary(keys.type):
            keys = pc.dictionary_encode(keys)
        lookup = np.array([self._key_id(k, what) for k in keys.dictionary.to_pylist()], dtype=np.int32)
        key_id = lookup[keys.indices.to_numpy(zero_copy_only=False)]
        try:
            points = pa.table(
                {
                    "run_key": pa.array(np.full(n, run_key, dtype=np.int32)),
                    "key_id": pa.array(key_id),
                    "step": pc.cast(columns["step"], pa.int64()),
                    "timestamp": pc.cast(columns["timestamp"], pa.int64()),
                    "value": pc.cast(columns["value"], pa.float64()),
                }
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InvalidParameterValue(
                f"{what}: metric steps and timestamps must be integers and values numbers: {exc}"
            ) from None
        self._points.append(points)
        self._pending_points += n
        self._tx_points += n
        self.counts["metrics"] += n
        if self._pending_points >= self.flush_points:
            self._flush_points()

    def _put_files(self, root: str, source: str | Mapping[str, str] | None, *, count: bool = True) -> None:
        """Store local files under the new artifact root ``root``, in ``put_stream``'s layout
        (chunks of ``CHUNK_SIZE`` under their SHA-256, stored once) but batched: rows go in
        with the transaction's other rows, not three statements a file. ``count`` them as
        imported artifacts (a version's pinned copies are not)."""
        if source is None:
            return
        if isinstance(source, str):
            if not os.path.isdir(source):
                raise ResourceDoesNotExist(f"Artifact directory '{source}' does not exist.")
            files = {}
            for dirpath, _dirs, names in os.walk(source):
                for name in names:
                    full = os.path.join(dirpath, name)
                    files[os.path.relpath(full, source).replace(os.sep, "/")] = full
        else:
            files = dict(source)
        paths: dict[str, str] = {}
        for rel, local in sorted(files.items()):
            path = _artifacts.clean_artifact_path(rel)
            if not path:
                raise InvalidParameterValue(f"Artifact file '{local}' needs a relative path; got {rel!r}.")
            paths[path] = local  # the last of two spellings of one path wins, as put_stream replaces
        now = _now_ms()
        for path, local in paths.items():
            size, digest, chunks = self._chunk_file(local)
            self._buffer("artifact_files", [(root, path, size, digest, chunks, now)])
            self._tx_bytes += size
            self.counts["artifacts"] += count

    def _chunk_file(self, local: str) -> tuple[int, str, list[str]]:
        """Cut a file into chunks (buffered for insertion); returns its size, digest and chunk digests."""
        whole = hashlib.sha256()
        digests: list[str] = []
        size = 0
        with open(local, "rb") as stream:
            while chunk := stream.read(_artifacts.CHUNK_SIZE):
                whole.update(chunk)
                digest = hashlib.sha256(chunk).hexdigest()
                digests.append(digest)
                size += len(chunk)
                if digest not in self._chunks:
                    self._chunks[digest] = chunk
                    self._chunk_bytes += len(chunk)
                    if self._chunk_bytes >= CHUNK_BUFFER_BYTES:
                        self._flush_chunks()
        return size, whole.hexdigest(), digests

    # -- logged models --------------------------------------------------------------------------------

    def add_logged_model(self, record: LoggedModelRecord) -> bool:
        """Load a logged model with its params, tags and files, atomically.

        Returns:
            True if it was written; False if a logged model with its id is present.

        Raises:
            ResourceDoesNotExist: if its experiment is not in the store.
            InvalidParameterValue: for an empty id or name or an unknown status.
        """
        added = bool(self._guarded(lambda: self._add_logged_model(record)))
        self._guarded(self._maybe_commit)
        return added

    def _add_logged_model(self, rec: LoggedModelRecord) -> bool:
        con = self._begin()
        if not isinstance(rec.model_id, str) or not rec.model_id:
            raise InvalidParameterValue(f"A logged model of experiment '{rec.experiment_id}' has no id.")
        if con.execute("SELECT 1 FROM logged_models WHERE model_id = ?", [rec.model_id]).fetchall():
            self.counts["logged_models_skipped"] += 1
            return False
        what = f"Logged model '{rec.model_id}'"
        if not isinstance(rec.name, str) or not rec.name:
            raise InvalidParameterValue(f"{what} has no name.")
        if rec.status not in _MODEL_STATUSES:
            raise InvalidParameterValue(f"{what} has status {rec.status!r}; use PENDING, READY or FAILED.")
        self._require_experiment(rec.experiment_id, what)
        root = f"{rec.experiment_id}/models/{rec.model_id}/artifacts"
        created = rec.creation_timestamp if rec.creation_timestamp is not None else _now_ms()
        updated = rec.last_updated_timestamp if rec.last_updated_timestamp is not None else created
        con.execute(
            "INSERT INTO logged_models (model_id, experiment_id, name, source_run_id, artifact_location, status, "
            "model_type, creation_timestamp, last_updated_timestamp) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [rec.model_id, rec.experiment_id, rec.name, rec.source_run_id, ARTIFACT_SCHEME + root, rec.status,
             rec.model_type, created, updated],
        )  # fmt: skip
        for table, items in (("logged_model_params", rec.params), ("logged_model_tags", rec.tags)):
            _insert_rows(con, table, [(rec.model_id, k, v) for k, v in _text_items(items, f"{what} {table[13:-1]}")])
        self._tx_rows += 1
        self._put_files(root, rec.artifacts)
        self.counts["logged_models"] += 1
        return True

    # -- the registry ---------------------------------------------------------------------------------

    def add_registered_model(self, record: RegisteredModelRecord) -> bool:
        """Load a registered model with its versions (files pinned), tags, aliases and audit rows.

        Returns:
            True if it was written; False if a registered model of that name is present (its
            versions are then left alone too).

        Raises:
            InvalidParameterValue: for a bad name, version number, stage, alias or tag.
        """
        added = bool(self._guarded(lambda: self._add_registered_model(record)))
        self._guarded(self._maybe_commit)
        return added

    def _add_registered_model(self, rec: RegisteredModelRecord) -> bool:
        from tracklite.users import current_user

        con = self._begin()
        name = _reg.check_name(rec.name)
        if _reg.model_exists(con, name):
            self.counts["registered_models_skipped"] += 1
            return False
        self._flush()  # versions may pin files of runs loaded in this transaction
        versions = sorted(rec.versions, key=lambda v: _reg.check_version(v.version))
        numbers = [_reg.check_version(v.version) for v in versions]
        if len(set(numbers)) != len(numbers) or any(n < 1 for n in numbers):
            raise InvalidParameterValue(f"Registered model '{name}' has repeated or non-positive version numbers.")
        stages = {v.version: self._stage(name, v) for v in versions}
        tags = [_reg.check_tag(k, v) for k, v in rec.tags.items()]
        user = rec.user_id or current_user()
        created = rec.creation_timestamp if rec.creation_timestamp is not None else _now_ms()
        updated = rec.last_updated_timestamp if rec.last_updated_timestamp is not None else created
        key = int(
            con.execute(
                "SELECT coalesce(max(k), 0) + 1 FROM (SELECT model_key AS k FROM registered_models "
                "UNION ALL SELECT model_key FROM registry_audit)"
            ).fetchone()[0]
        )
        con.execute(
            "INSERT INTO registered_models (model_key, name, description, creation_timestamp, "
            "last_updated_timestamp) VALUES (?, ?, ?, ?, ?)",
            [key, name, rec.description, created, updated],
        )
        at_creation = _reg.Change(con, created, user)
        at_creation.record("create_registered_model", key, name, new=name)
        for tag_key, value in tags:
            con.execute(
                "INSERT INTO registered_model_tags (model_key, key, value) VALUES (?, ?, ?)", [key, tag_key, value]
            )
            at_creation.record("set_registered_model_tag", key, name, field=tag_key, new=value)
        if rec.description:
            at_creation.record("update_registered_model", key, name, field="description", new=rec.description)
        live: set[int] = set()
        for mv in versions:
            self._add_version(key, name, mv, stages[mv.version], mv.user_id or user)
            if stages[mv.version] != _reg.DELETED:
                live.add(int(mv.version))
        for alias, number in sorted(rec.aliases.items()):
            _reg.check_alias(alias)
            version = _reg.check_version(number)
            if version not in live:
                raise InvalidParameterValue(
                    f"Alias '{alias}' of registered model '{name}' points at version {version}, which is not "
                    "among its live versions."
                )
            con.execute(
                "INSERT INTO registered_model_aliases (model_key, alias, version) VALUES (?, ?, ?)",
                [key, alias, version],
            )
            _reg.Change(con, updated, user).record(
                "set_registered_model_alias", key, name, version, alias, None, version
            )
            self.counts["aliases"] += 1
        self._tx_rows += 1 + len(versions)
        self.counts["registered_models"] += 1
        return True

    @staticmethod
    def _stage(name: str, mv: ModelVersionRecord) -> str:
        if mv.current_stage == _reg.DELETED:
            return _reg.DELETED
        try:
            return _reg.canonical_stage(mv.current_stage or ModelVersionStage.NONE)
        except InvalidParameterValue as exc:
            raise InvalidParameterValue(f"Version {mv.version} of registered model '{name}': {exc.message}") from None

    def _add_version(self, key: int, name: str, mv: ModelVersionRecord, stage: str, user: str) -> None:
        con = self._con
        number = int(mv.version)
        created = mv.creation_timestamp if mv.creation_timestamp is not None else _now_ms()
        updated = mv.last_updated_timestamp if mv.last_updated_timestamp is not None else created
        root = _reg.version_root(key, number)
        deleted = stage == _reg.DELETED
        if not deleted:
            self._pin(root, mv, name)
        con.execute(
            "INSERT INTO model_versions (model_key, version, description, user_id, current_stage, source, run_id, "
            "run_link, model_id, storage_location, status, creation_timestamp, last_updated_timestamp) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [key, number, None if deleted else mv.description, mv.user_id, stage, mv.source or "", mv.run_id,
             mv.run_link, mv.model_id, ARTIFACT_SCHEME + root, mv.status or "READY", created, updated],
        )  # fmt: skip
        at_creation = _reg.Change(con, created, user)
        at_creation.record("create_model_version", key, name, number, new=mv.source)
        if deleted:
            _reg.Change(con, updated, user).record("delete_model_version", key, name, number)
            return
        for tag_key, value in (_reg.check_tag(k, v) for k, v in mv.tags.items()):
            con.execute(
                "INSERT INTO model_version_tags (model_key, version, key, value) VALUES (?, ?, ?, ?)",
                [key, number, tag_key, value],
            )
            at_creation.record("set_model_version_tag", key, name, number, tag_key, None, value)
        if mv.description:
            at_creation.record("update_model_version", key, name, number, "description", None, mv.description)
        if stage != ModelVersionStage.NONE:
            _reg.Change(con, updated, user).record(
                "transition_model_version_stage", key, name, number, "current_stage", ModelVersionStage.NONE, stage
            )
        self.counts["model_versions"] += 1

    def _pin(self, root: str, mv: ModelVersionRecord, name: str) -> None:
        """Give a version its own file rows under ``root`` (module docstring: where they come from)."""
        con = self._con
        if isinstance(mv.files, str):
            self._put_files(root, mv.files, count=False)
            return
        found = mv.files if isinstance(mv.files, StoredFiles) else self._stored_source(mv)
        copied = 0 if found is None else _artifacts.copy_tree(con, found.root, found.path, root)
        self._tx_rows += copied
        if not copied:
            _log.warning(
                "Version %s of registered model '%s' (source '%s') is loaded without files: they are neither "
                "in the store nor given; loading it fails until it is registered again from its model",
                mv.version,
                name,
                mv.source,
            )

    def _stored_source(self, mv: ModelVersionRecord) -> StoredFiles | None:
        """The stored files a version's ``model_id`` or source names, if the store has them."""
        con = self._con
        model_ids = [mv.model_id] if mv.model_id else []
        source = mv.source or ""
        if source.startswith("models:/m-") and "/" not in source[len("models:/") :].strip("/"):
            model_ids.append(source[len("models:/") :].strip("/"))
        for model_id in model_ids:
            rows = con.execute("SELECT artifact_location FROM logged_models WHERE model_id = ?", [model_id]).fetchall()
            if rows:
                return StoredFiles(artifact_root(rows[0][0]))
        if source.startswith("runs:/"):
            from tracklite.models.uri import parse_runs_uri

            try:
                run_id, path = parse_runs_uri(source)
            except InvalidParameterValue:
                return None
            rows = con.execute("SELECT artifact_uri FROM runs WHERE run_id = ?", [run_id]).fetchall()
            if rows:
                return StoredFiles(artifact_root(rows[0][0]), _artifacts.clean_artifact_path(path))
        return None


def load(
    store: DuckDBStore,
    *,
    experiments: Iterable[ExperimentRecord] = (),
    runs: Iterable[RunRecord] = (),
    logged_models: Iterable[LoggedModelRecord] = (),
    registered_models: Iterable[RegisteredModelRecord] = (),
) -> dict[str, int]:
    """Load records into ``store`` in that order with one ``BulkLoader``; returns its counts.

    Raises:
        ResourceAlreadyExists: for an experiment name the store uses under another id, or an
            experiment id it uses under another name.
        ResourceDoesNotExist: for a run or logged model of an experiment that is not there.
        InvalidParameterValue: for a malformed record.
    """
    with BulkLoader(store) as loader:
        loader.add_experiments(experiments)
        for run in runs:
            loader.add_run(run)
        for model in logged_models:
            loader.add_logged_model(model)
        for registered in registered_models:
            loader.add_registered_model(registered)
    return loader.counts


__all__ = [
    "BulkLoader",
    "ExperimentRecord",
    "LoggedModelRecord",
    "ModelVersionRecord",
    "RegisteredModelRecord",
    "RunRecord",
    "StoredFiles",
    "load",
]
