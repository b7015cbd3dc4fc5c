"""Importing an MLflow SQL tracking store (its SQLite database) into a tracklite store.

``import_mlflow_db("sqlite:///mlflow.db", artifacts="mlruns")`` reads the database MLflow 3.x
writes as its default backend, with Python's own ``sqlite3`` (read-only; MLflow need not be
installed), and loads it through ``tracklite.store.bulk_load``, keeping every id: experiments
(deleted ones too) with their tags, runs (deleted ones too, with their ``deleted_time``) with
params, tags, every metric point and their artifacts, logged models with their params, tags and
files, and the model registry (descriptions, tags, versions with their stage, description,
tags, source and run, and aliases), each version's files pinned in the store as
``register_model`` pins them. Importing the same database again changes nothing; an
interrupted import completes when run again.

How the database is read:

- Its schema is checked first: the ``alembic_version`` table, and every table and column read
  below. A file that is not such a database is refused, naming what is missing, before the
  store is opened.
- Metric points come from ``metrics`` (``latest_metrics`` is derived, and derived again by the
  store), run by run through the index MLflow keeps on ``run_uuid``, in batches of
  ``FETCH_POINTS``: memory stays bounded however long a history is. MLflow writes NaN as ``0``
  with ``is_nan = 1`` and ±inf as ±1.7976931348623157e308, the largest float (SQL has no
  infinities); they are imported as NaN and ±inf, the values that were logged. MLflow's own
  reader gives NaN back, but the largest float for ±inf.
- Artifacts. The files of a run (its ``artifact_uri``), a logged model (``artifact_location``)
  and a model version (``storage_location``) are read from the local folder the URI names,
  when it exists (a path, a ``file:`` URI, or a relative path, taken from the database's folder
  and then from the working folder). Else, given ``artifacts`` (the folder that held MLflow's
  artifact root: what ``mlflow server --artifacts-destination`` held, by default
  ``./mlartifacts``, or the default ``./mlruns``), from the URI's path below the artifact root
  inside that folder: for ``mlflow-artifacts:/<path>`` (a server's proxied artifacts) that is
  ``<path>``; for another URI, the part after the root that experiments' default locations
  share (``<root>/<experiment_id>``, so ``<experiment_id>/<run_id>/artifacts``). A run whose
  folder is absent below a root that exists has no files. Runs and logged models whose files
  cannot be found this way are imported without them and counted in ``artifacts_missing``.
- A version whose ``source`` is ``models:/<model_id>`` gets that ``model_id``, as
  ``register_model`` records it (MLflow's SQL registry keeps no such column and reports None).
  Deleted versions (stage ``Deleted_Internal``, which MLflow keeps with their source, run and
  link replaced by ``REDACTED-...``) keep their row, so their numbers stay taken.
- NULL tag values are imported as empty strings. MLflow 3's workspaces are not kept: the
  entities of every workspace land in the one store, so a registered model name used in two
  workspaces is refused before anything is written (experiment names likewise, by the loader).
- Not imported: datasets, run inputs and outputs, traces (with their spans, assessments and
  metrics), the metrics of logged models (tracklite keeps a model's metrics on its run), deleted
  logged models (MLflow no longer returns them; tracklite deletes a logged model outright),
  prompts (registered models tagged ``mlflow.prompt.is_prompt``, which MLflow's model registry
  does not list either), and the rest of what MLflow 3 keeps for GenAI (evaluation datasets,
  scorers, gateway endpoints, jobs, webhooks).
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from tracklite.entities import LifecycleStage, ModelVersionStage
from tracklite.errors import InvalidParameterValue, ResourceDoesNotExist
from tracklite.exchange.mlruns_import import (
    _LOGGED_MODEL_STATUS,
    _local_path,
    _target_store,
    _version_files,
    load_runs,
)
from tracklite.exchange.progress import Progress
from tracklite.store.bulk_load import (
    BulkLoader,
    ExperimentRecord,
    LoggedModelRecord,
    ModelVersionRecord,
    RegisteredModelRecord,
    RunRecord,
)

_log = logging.getLogger(__name__)

#: Metric points read from the database into one Arrow batch for the loader.
FETCH_POINTS = 200_000
#: What MLflow's SQL store writes for +inf (and, negated, for -inf): the largest float.
LARGEST_FLOAT = 1.7976931348623157e308
_PROMPT_TAG = "mlflow.prompt.is_prompt"
_SERVED = "mlflow-artifacts:"
#: The tables and columns the import reads (MLflow 3's schema).
SCHEMA: dict[str, tuple[str, ...]] = {
    "experiments": ("experiment_id", "name", "artifact_location", "lifecycle_stage", "creation_time",
                    "last_update_time"),
    "experiment_tags": ("experiment_id", "key", "value"),
    "runs": ("run_uuid", "experiment_id", "name", "user_id", "status", "start_time", "end_time", "lifecycle_stage",
             "deleted_time", "artifact_uri"),
    "params": ("run_uuid", "key", "value"),
    "tags": ("run_uuid", "key", "value"),
    "metrics": ("run_uuid", "key", "step", "timestamp", "value", "is_nan"),
    "logged_models": ("model_id", "experiment_id", "name", "source_run_id", "status", "model_type",
                      "creation_timestamp_ms", "last_updated_timestamp_ms", "artifact_location", "lifecycle_stage"),
    "logged_model_params": ("model_id", "param_key", "param_value"),
    "logged_model_tags": ("model_id", "tag_key", "tag_value"),
    "registered_models": ("name", "description", "creation_time", "last_updated_time"),
    "registered_model_tags": ("name", "key", "value"),
    "model_versions": ("name", "version", "source", "current_stage", "description", "user_id", "run_id", "run_link",
                       "status", "creation_time", "last_updated_time", "storage_location"),
    "model_version_tags": ("name", "version", "key", "value"),
    "registered_model_aliases": ("name", "alias", "version"),
}  # fmt: skip


def import_mlflow_db(
    src: str | os.PathLike[str],
    *,
    artifacts: str | os.PathLike[str] | None = None,
    tracking_uri: str | None = None,
    progress: bool = False,
) -> dict[str, int]:
    """Import an MLflow SQLite tracking database into a tracklite store, keeping every id.

    Args:
        src: The database: ``sqlite:///relative/mlflow.db``, ``sqlite:////absolute/mlflow.db``
            (MLflow's tracking URI) or the file's path.
        artifacts: The folder that held MLflow's artifact root (``mlflow server
            --artifacts-destination``, by default ``./mlartifacts``; or the default ``./mlruns``),
            for files whose URI names no local folder that exists (``mlflow-artifacts:/...``, or a
            database moved from another machine). See the module docstring for the rule.
        tracking_uri: The store to import into (default: the current tracking URI).
        progress: Show progress bars (on the terminal).

    Returns:
        The counts ``import_mlruns`` returns (per entity, what was written and, as
        ``<entity>_skipped``, what was present), and ``artifacts_missing``: the runs and logged
        models imported without their files because these were not found (a warning is logged
        then; pass ``artifacts``).

    Raises:
        ResourceDoesNotExist: if the database file or the ``artifacts`` folder does not exist.
        InvalidParameterValue: if ``src`` is not an SQLite URI or path (PostgreSQL, MySQL...), not
            an MLflow 3 tracking database (the missing table or column is named), or holds a
            registered model name in two workspaces; if the tracking URI is not a store file.
            Nothing is written then and no store is created. Also for a malformed row, found
            while importing: what was committed before stays.
        ResourceAlreadyExists: if an experiment's name is used in the store under another id,
            or its id under another name (checked first: nothing is imported).

    Examples:
        >>> import_mlflow_db("sqlite:///mlflow.db", artifacts="mlruns")  # doctest: +SKIP
        {'experiments': 3, 'experiments_skipped': 1, ..., 'runs': 41, ..., 'artifacts_missing': 0}
    """
    shown = os.fspath(src) if isinstance(src, str | os.PathLike) else repr(src)
    path = _database_path(src)
    root = _artifacts_dir(artifacts)
    if not os.path.exists(path):
        raise ResourceDoesNotExist(
            f"MLflow database '{shown}' does not exist (no file {path}); give the file MLflow's tracking URI "
            "names, e.g. sqlite:///mlflow.db for mlflow.db in the folder where MLflow ran."
        )
    if os.path.isdir(path):
        raise InvalidParameterValue(
            f"'{shown}' is a folder, not an SQLite database file; for an MLflow mlruns folder use "
            "`tracklite import mlruns`."
        )
    try:
        connection = sqlite3.connect(Path(path).as_uri() + "?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as exc:
        raise InvalidParameterValue(f"Cannot open '{shown}' as an SQLite database (read-only): {exc}.") from None
    with closing(connection) as db:
        _check_schema(db, shown)
        finder = _Finder(db, os.path.dirname(path), root)
        store = _target_store(tracking_uri)
        counts = _load(db, finder, store, Progress(progress))
    if counts["artifacts_missing"]:
        _log.warning(
            "%d runs and logged models were imported without their artifacts: their files were not found "
            "(for example '%s'). Give the folder that held MLflow's artifact root (`--artifacts DIR`, or "
            "artifacts= in Python: what `mlflow server --artifacts-destination` held, or ./mlruns) to bring them; "
            "runs and models already in a store are skipped whole, so import into a new store.",
            counts["artifacts_missing"],
            finder.example,
        )
    return counts


def _load(db: sqlite3.Connection, finder: _Finder, store: Any, bar: Progress) -> dict[str, int]:
    """Everything of the database into ``store``; returns the counts."""
    missing = 0

    def run_record(run_id: str) -> RunRecord:
        nonlocal missing
        record, found = _run_record(db, finder, run_id)
        missing += not found  # every run handed over is new: it is written
        return record

    with bar.running(), BulkLoader(store) as loader:
        loader.add_experiments(_experiments(db))
        run_ids = [r for (r,) in db.execute("SELECT run_uuid FROM runs ORDER BY experiment_id, start_time, run_uuid")]
        load_runs(loader, bar, bar.task("runs", len(run_ids)), run_ids, run_record)
        models = _logged_models(db, finder)
        task = bar.task("logged models", len(models))
        for model, found in models:
            if loader.add_logged_model(model) and not found:
                missing += 1
            bar.advance(task)
        registry = _registered_models(db, finder, {m.model_id for m, _ in models})
        task = bar.task("registered models", len(registry))
        for registered in registry:
            loader.add_registered_model(registered)
            bar.advance(task)
    return {**loader.counts, "artifacts_missing": missing}


# -- the source ---------------------------------------------------------------------------------------


def _database_path(src: Any) -> str:
    """The absolute path of the SQLite file ``src`` names (a URI or a path)."""
    if not isinstance(src, str | os.PathLike) or not os.fspath(src):
        raise InvalidParameterValue(
            f"import_mlflow_db needs an SQLite URI (sqlite:///path/to/mlflow.db) or a file path, got {src!r}."
        )
    text = os.fspath(src)
    match = re.match(r"^([a-zA-Z][\w+.-]*)://", text)
    if match is None:
        return os.path.abspath(text)
    scheme = match.group(1).lower()
    if scheme == "file":
        return _local_path(text) or text
    if scheme.split("+", 1)[0] != "sqlite":
        kind = scheme.split("+", 1)[0]
        raise InvalidParameterValue(
            f"'{kind}://...' is a {kind} database; tracklite imports MLflow's SQLite database only "
            "(sqlite:///path/to/mlflow.db, or the file's path). MLflow creates the same tables in every database it "
            "supports, so a copy of them in an SQLite file can be imported; MLflow itself has no command that makes "
            "such a copy."
        )
    # SQLAlchemy's form: sqlite:///relative.db, sqlite:////absolute.db, sqlite:// (in memory).
    rest = text[match.end() :].split("?", 1)[0]
    path = rest[1:] if rest.startswith("/") else rest
    if not path or path == ":memory:":
        raise InvalidParameterValue(
            f"'{text}' names an in-memory database, which holds nothing once MLflow has exited; give the file, "
            "e.g. sqlite:///mlflow.db."
        )
    return os.path.abspath(path)


def _artifacts_dir(artifacts: Any) -> str | None:
    if artifacts is None:
        return None
    path = _local_path(os.fspath(artifacts)) if isinstance(artifacts, str | os.PathLike) else None
    if path is None:
        raise InvalidParameterValue(
            f"artifacts should be a local folder (the one that held MLflow's artifact root), got {artifacts!r}; "
            "copy remote artifacts to a local folder first."
        )
    if not os.path.isdir(path):
        raise ResourceDoesNotExist(
            f"Artifact folder '{os.fspath(artifacts)}' does not exist; give the folder that held MLflow's "
            "artifact root (what `mlflow server --artifacts-destination` held, or ./mlruns)."
        )
    return path


def _check_schema(db: sqlite3.Connection, shown: str) -> None:
    """Refuse anything but an MLflow 3 tracking database, naming what is missing."""
    try:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise InvalidParameterValue(
            f"'{shown}' is not an SQLite database ({exc}); give the file MLflow's tracking URI sqlite:///... names."
        ) from None
    if "alembic_version" not in tables or "experiments" not in tables:
        raise InvalidParameterValue(
            f"'{shown}' is an SQLite database but not an MLflow tracking database: it has no "
            f"{'alembic_version' if 'alembic_version' not in tables else 'experiments'} table. Give the file "
            "MLflow's tracking URI sqlite:///... names."
        )
    found = db.execute("SELECT version_num FROM alembic_version").fetchone()
    revision = found[0] if found else "unknown"
    for table, columns in SCHEMA.items():
        if table not in tables:
            lacking = f"table '{table}'"
        else:
            present = {row[1] for row in db.execute(f"PRAGMA table_info('{table}')")}
            absent = [c for c in columns if c not in present]
            if not absent:
                continue
            lacking = f"column '{absent[0]}' in table '{table}'"
        raise InvalidParameterValue(
            f"MLflow database '{shown}' (schema revision {revision}) has no {lacking}, which the import reads from "
            "MLflow 3's schema. Upgrade a copy of the database to MLflow 3's schema with `mlflow db upgrade "
            "sqlite:///<copy>` (MLflow 3 installed) and import the copy."
        )
    if "workspace" in {row[1] for row in db.execute("PRAGMA table_info('registered_models')")}:
        twice = db.execute("SELECT name FROM registered_models GROUP BY name HAVING count(*) > 1 LIMIT 1").fetchone()
        if twice:
            raise InvalidParameterValue(
                f"Registered model '{twice[0]}' of '{shown}' is in several MLflow workspaces; tracklite has no "
                "workspaces, so the names of a store are unique. Rename it in all but one workspace and import again."
            )


class _Finder:
    """Where the files an artifact URI names are on this machine (the rule: module docstring)."""

    def __init__(self, db: sqlite3.Connection, db_dir: str, artifacts: str | None) -> None:
        self.db_dir = db_dir
        self.artifacts = artifacts
        self.example: str | None = None  # a URI whose files were not found
        # Experiments in the default place are at <root>/<experiment_id>: the roots, longest first.
        roots = set()
        for experiment_id, location in db.execute("SELECT experiment_id, artifact_location FROM experiments"):
            text, tail = str(location or "").rstrip("/"), f"/{experiment_id}"
            if text.endswith(tail) and len(text) > len(tail):
                roots.add(text[: -len(tail)])
        self.roots = sorted(roots, key=len, reverse=True)

    def _local(self, uri: str) -> str | None:
        """The existing local folder ``uri`` names (relative: from the database's folder, then here)."""
        for path in (_local_path(uri, self.db_dir), _local_path(uri)):
            if path is not None and os.path.isdir(path):
                return path
        return None

    def _below_root(self, uri: str) -> tuple[str | None, str | None]:
        """The artifact root ``uri`` is below (None for a server's) and its path below it."""
        if uri.startswith(_SERVED):
            return None, urlparse(uri).path.lstrip("/")
        for root in self.roots:
            if uri.startswith(root + "/"):
                return root, uri[len(root) + 1 :]
        return None, None

    def folder(self, uri: Any) -> tuple[str | None, bool]:
        """The local folder of ``uri``'s files (None: it has none) and whether they were found
        (False: they may exist, but not where this machine sees them)."""
        if not isinstance(uri, str) or not uri:
            return None, True
        local = self._local(uri)
        if local is not None:
            return local, True
        root, below = self._below_root(uri)
        if below is not None and self.artifacts is not None:
            path = os.path.normpath(os.path.join(self.artifacts, below))
            if path == self.artifacts or path.startswith(self.artifacts + os.sep):
                return (path if os.path.isdir(path) else None), True
        elif root is not None and self._local(root) is not None:
            return None, True  # the root is here and the folder is not: nothing was logged
        self.example = self.example or uri
        return None, False


def _grouped(db: sqlite3.Connection, query: str, *args: Any) -> dict[Any, dict[str, str]]:
    """Rows ``(owner..., key, value)`` as ``{owner: {key: value}}`` (owner: the first column, or a
    tuple of the leading ones); a NULL value is an empty string."""
    groups: dict[Any, dict[str, str]] = {}
    for row in db.execute(query, args):
        owner = row[0] if len(row) == 3 else tuple(row[:-2])
        groups.setdefault(owner, {})[row[-2]] = "" if row[-1] is None else str(row[-1])
    return groups


# -- metrics ------------------------------------------------------------------------------------------


def _metric_batches(db: sqlite3.Connection, run_id: str, fetch_points: int = FETCH_POINTS) -> Iterator[Any]:
    """Every point of a run as Arrow tables of at most ``fetch_points`` points, NaN and ±inf as logged."""
    import numpy as np
    import pyarrow as pa

    row = pa.struct(
        [
            ("key", pa.dictionary(pa.int32(), pa.string())),
            ("step", pa.int64()),
            ("timestamp", pa.int64()),
            ("value", pa.float64()),
            ("is_nan", pa.int64()),
        ]
    )
    # In the order of the table (through the index on run_uuid alone): what SQLite reads fastest.
    cursor = db.execute("SELECT key, step, timestamp, value, is_nan FROM metrics WHERE run_uuid = ?", [run_id])
    while rows := cursor.fetchmany(fetch_points):
        try:
            key, step, timestamp, stored, is_nan = pa.array(rows, type=row).flatten()
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise InvalidParameterValue(f"A metric row of run '{run_id}' in the database is malformed: {exc}") from None
        value = stored.to_numpy(zero_copy_only=False).copy()
        value[is_nan.to_numpy(zero_copy_only=False) != 0] = np.nan
        value[value == LARGEST_FLOAT] = np.inf
        value[value == -LARGEST_FLOAT] = -np.inf
        yield pa.table({"key": key, "step": step, "timestamp": timestamp, "value": value})


# -- records ------------------------------------------------------------------------------------------


def _experiments(db: sqlite3.Connection) -> list[ExperimentRecord]:
    tags = _grouped(db, "SELECT experiment_id, key, value FROM experiment_tags")
    query = "SELECT experiment_id, name, lifecycle_stage, creation_time, last_update_time FROM experiments"
    return [
        ExperimentRecord(
            experiment_id=str(experiment_id),
            name=name,
            lifecycle_stage=stage or LifecycleStage.ACTIVE,
            creation_time=created,
            last_update_time=updated,
            tags=tags.get(experiment_id, {}),
        )
        for experiment_id, name, stage, created, updated in db.execute(query + " ORDER BY experiment_id")
    ]


def _run_record(db: sqlite3.Connection, finder: _Finder, run_id: str) -> tuple[RunRecord, bool]:
    """A run with its metric history as a lazy stream; and whether its files were found."""
    (experiment_id, name, user_id, status, start, end, stage, deleted, uri) = db.execute(
        "SELECT experiment_id, name, user_id, status, start_time, end_time, lifecycle_stage, deleted_time, "
        "artifact_uri FROM runs WHERE run_uuid = ?",
        [run_id],
    ).fetchone()
    tags = _grouped(db, "SELECT run_uuid, key, value FROM tags WHERE run_uuid = ?", run_id).get(run_id, {})
    params = _grouped(db, "SELECT run_uuid, key, value FROM params WHERE run_uuid = ?", run_id)
    files, found = finder.folder(uri)
    record = RunRecord(
        run_id=run_id,
        experiment_id=str(experiment_id),
        run_name=name or tags.get("mlflow.runName") or "",
        user_id=user_id or "",
        status=status,
        start_time=start or 0,
        end_time=end,
        lifecycle_stage=stage or LifecycleStage.ACTIVE,
        deleted_time=deleted,
        params=params.get(run_id, {}),
        tags=tags,
        metrics=_metric_batches(db, run_id),
        artifacts=files,
    )
    return record, found


def _logged_models(db: sqlite3.Connection, finder: _Finder) -> list[tuple[LoggedModelRecord, bool]]:
    """The logged models that are not deleted, each with whether its files were found."""
    params = _grouped(db, "SELECT model_id, param_key, param_value FROM logged_model_params")
    tags = _grouped(db, "SELECT model_id, tag_key, tag_value FROM logged_model_tags")
    models = []
    for (model_id, experiment_id, name, source_run_id, raw_status, model_type, created, updated,
         location) in db.execute(
        "SELECT model_id, experiment_id, name, source_run_id, status, model_type, creation_timestamp_ms, "
        "last_updated_timestamp_ms, artifact_location FROM logged_models "
        "WHERE lifecycle_stage IS NULL OR lifecycle_stage <> 'deleted' ORDER BY creation_timestamp_ms, model_id"
    ):  # fmt: skip
        status = _LOGGED_MODEL_STATUS.get(raw_status)
        if status is None:
            raise InvalidParameterValue(f"Logged model '{model_id}' has an unknown status {raw_status!r}.")
        files, found = finder.folder(location)
        model = LoggedModelRecord(
            model_id=model_id,
            experiment_id=str(experiment_id),
            name=name,
            source_run_id=source_run_id,
            status=status,
            model_type=model_type,
            creation_timestamp=created,
            last_updated_timestamp=updated,
            params=params.get(model_id, {}),
            tags=tags.get(model_id, {}),
            artifacts=files,
        )
        models.append((model, found))
    return models


def _model_id(source: str) -> str | None:
    """The logged model a ``models:/<model_id>`` source names."""
    rest = source.removeprefix("models:/").strip("/")
    return rest if source.startswith("models:/m-") and "/" not in rest else None


def _registered_models(db: sqlite3.Connection, finder: _Finder, models: set[str]) -> list[RegisteredModelRecord]:
    """The registry (prompts left out), each version's files found as ``_version_files`` says."""
    tags = _grouped(db, "SELECT name, key, value FROM registered_model_tags")
    version_tags = _grouped(db, "SELECT name, version, key, value FROM model_version_tags")
    aliases: dict[str, dict[str, int]] = {}
    for name, alias, number in db.execute("SELECT name, alias, version FROM registered_model_aliases"):
        aliases.setdefault(name, {})[alias] = int(number)
    # Run id -> experiment id of the runs versions name: what a version's files may be part of.
    runs = {
        str(r): str(e)
        for r, e in db.execute(
            "SELECT run_uuid, experiment_id FROM runs WHERE run_uuid IN (SELECT run_id FROM model_versions)"
        )
    }
    versions: dict[str, list[ModelVersionRecord]] = {}
    for (name, number, source, stage, description, user_id, run_id, run_link, status, created, updated,
         location) in db.execute(
        "SELECT name, version, coalesce(source, ''), current_stage, description, user_id, run_id, run_link, status, "
        "creation_time, last_updated_time, storage_location FROM model_versions ORDER BY name, version"
    ):  # fmt: skip
        model_id = _model_id(source)
        files = None
        if stage != ModelVersionStage.DELETED_INTERNAL:
            folder, _ = finder.folder(location)
            meta = {"source": source, "model_id": model_id, "storage_location": folder}
            files = _version_files(meta, runs, models)
        versions.setdefault(name, []).append(
            ModelVersionRecord(
                version=int(number),
                source=source,
                current_stage=stage or ModelVersionStage.NONE,
                description=description,
                user_id=user_id,
                run_id=run_id,
                run_link=run_link,
                model_id=model_id,
                status=status or "READY",
                creation_timestamp=created,
                last_updated_timestamp=updated,
                tags=version_tags.get((name, number), {}),
                files=files,
            )
        )
    query = "SELECT name, description, creation_time, last_updated_time FROM registered_models"
    return [
        RegisteredModelRecord(
            name=name,
            description=description,
            creation_timestamp=created,
            last_updated_timestamp=updated,
            tags=tags.get(name, {}),
            aliases=aliases.get(name, {}),
            versions=versions.get(name, []),
        )
        for name, description, created, updated in db.execute(query + " ORDER BY creation_time, name")
        if tags.get(name, {}).get(_PROMPT_TAG, "").lower() != "true"
    ]
