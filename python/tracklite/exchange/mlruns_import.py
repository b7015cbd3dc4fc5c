"""Importing an MLflow file store (an ``mlruns`` tree) into a tracklite store.

``import_mlruns(src)`` reads the tree MLflow 3.x writes (2.x trees too) and loads it
through ``tracklite.store.bulk_load``, keeping every id: experiments (deleted ones from
``.trash/`` too) with their tags, runs (deleted ones too) with params, tags, every metric
point and their artifacts, logged models (``<experiment>/models/<model_id>/``) with their
params, tags and files, and the model registry (``models/<name>/``: descriptions, tags,
versions with their stage, description, tags, run and source, and aliases), each version's
files pinned in the store as ``register_model`` pins them. Importing the same tree again
changes nothing; an interrupted import completes when run again.

How the files are read, as MLflow's ``FileStore`` reads them:

- A run is a folder of an experiment (other than ``tags``, ``datasets``, ``traces`` and
  ``models``) holding a ``meta.yaml``; one whose ``run_id`` differs from its folder name is
  skipped with a logged warning, as MLflow skips it. Params and tags are files whose path
  below ``params/`` or ``tags/`` is the key (``tags/a/b`` is the key ``a/b``) and whose whole
  content is the value.
- A metric file has one point per line: ``timestamp value``, ``timestamp value step`` or
  ``timestamp value step dataset_name dataset_digest``; values such as ``nan``, ``inf`` and
  ``-inf`` are kept. Every line is a point, repeated lines too (MLflow 3's ``log_model``
  appends the run's metrics again). One difference: for a five-field line MLflow's reader
  reports step 0, tracklite keeps the step written in the file (as ``mlflow migrate-filestore``
  does). Files are read in blocks through Arrow's CSV parser, so memory stays bounded.
- Artifacts are read from ``<run>/artifacts`` when the run's ``artifact_uri`` has the file
  store's own layout (the tree may have been moved or copied), else from the local folder the
  URI names. Remote artifact URIs (``s3://``, ``mlflow-artifacts:``) are not fetched: such runs
  come without files.
- Not imported: datasets, run inputs and outputs, traces and the metrics of logged models
  (tracklite has no tables for them; a logged model's metrics are the run's).
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlparse

from tracklite.entities import LifecycleStage, LoggedModelStatus, RunStatus
from tracklite.errors import InvalidParameterValue, ResourceDoesNotExist
from tracklite.exchange.progress import Progress
from tracklite.store.bulk_load import (
    BulkLoader,
    ExperimentRecord,
    LoggedModelRecord,
    ModelVersionRecord,
    RegisteredModelRecord,
    RunRecord,
    StoredFiles,
)

_log = logging.getLogger(__name__)

TRASH = ".trash"
REGISTRY = "models"
META = "meta.yaml"
#: Folders of an experiment that are not runs (MLflow's ``RESERVED_EXPERIMENT_FOLDERS``).
_NOT_RUNS = frozenset(("tags", "datasets", "traces", "models"))
#: Metric files are read in blocks of this many bytes (and the rest of a line): memory stays bounded.
BLOCK_BYTES = 16 * 1024 * 1024
#: Blocks at least this large go through Arrow's CSV parser; smaller ones (most files) are parsed
#: in Python, which costs less than starting Arrow's reader for a few lines.
ARROW_MIN_BYTES = 8 * 1024
#: Points of small files gathered into one batch for the loader.
BATCH_POINTS = 500_000
_LOGGED_MODEL_STATUS = {
    0: LoggedModelStatus.PENDING,  # UNSPECIFIED
    1: LoggedModelStatus.PENDING,
    2: LoggedModelStatus.READY,
    3: LoggedModelStatus.FAILED,  # UPLOAD_FAILED
    "UNSPECIFIED": LoggedModelStatus.PENDING,
    "PENDING": LoggedModelStatus.PENDING,
    "READY": LoggedModelStatus.READY,
    "UPLOAD_FAILED": LoggedModelStatus.FAILED,
    "FAILED": LoggedModelStatus.FAILED,
}
_RUNS_PER_CHECK = 1000
_VERSION_STATUS = {1: "PENDING_REGISTRATION", 2: "FAILED_REGISTRATION", 3: "READY"}
# A file store's own artifact layout: .../<experiment_id>/<run_id>/artifacts[/<path>]
_RUN_ARTIFACTS = re.compile(r"/([^/]+)/([^/]+)/artifacts(?:/(.*))?$")


@dataclass(frozen=True, slots=True)
class _Experiment:
    path: str
    meta: dict[str, Any]


def import_mlruns(src: str, *, tracking_uri: str | None = None, progress: bool = False) -> dict[str, int]:
    """Import an MLflow ``mlruns`` tree into a tracklite store, keeping every id.

    Args:
        src: The tree's root folder (the one holding ``0/meta.yaml``); a ``file:`` URI works too.
        tracking_uri: The store to import into (default: the current tracking URI).
        progress: Show progress bars (on the terminal).

    Returns:
        What was written and what was skipped because it was present, per entity:
        ``experiments``, ``runs``, ``params``, ``tags``, ``metrics`` (points), ``artifacts``
        (files), ``logged_models``, ``registered_models``, ``model_versions``, ``aliases``,
        ``experiment_tags`` and ``<entity>_skipped``.

    Raises:
        ResourceDoesNotExist: if ``src`` does not exist (nothing is written; no store is created).
        InvalidParameterValue: if ``src`` is not an mlruns tree or the tracking URI is not a
            store file (nothing is written); or if a ``meta.yaml`` or metric file in the tree is
            malformed, which is found while importing: what was committed before stays, and
            importing again once the file is fixed completes the rest.
        ResourceAlreadyExists: if an experiment's name is used in the store under another id,
            or its id under another name (checked first: nothing is imported).

    Examples:
        >>> import_mlruns("mlruns", tracking_uri="mlruns.duckdb")  # doctest: +SKIP
        {'experiments': 3, 'experiments_skipped': 0, ..., 'runs': 41, ...}
    """
    root = _tree_root(src)
    experiments = _experiments(root)
    registry = _registered_model_dirs(root)
    if not experiments and not registry:
        raise InvalidParameterValue(
            f"'{src}' is not an MLflow mlruns tree: it holds no experiment folder (<id>/meta.yaml) and no "
            "model registry (models/<name>/meta.yaml). Give the folder MLflow's file store wrote, e.g. ./mlruns."
        )
    runs = [(exp, _run_dirs(exp.path)) for exp in experiments]
    # Run id -> experiment id, from the folders: what a version's file path may point into.
    tree_runs = {name: os.path.basename(exp.path) for exp, names in runs for name in names}
    models = [(exp, name) for exp in experiments for name in _logged_model_dirs(exp.path)]
    store = _target_store(tracking_uri)
    bar = Progress(progress)
    with bar.running(), BulkLoader(store) as loader:
        loader.add_experiments(_experiment_record(exp) for exp in experiments)
        task = bar.task("runs", sum(len(names) for _, names in runs))
        for exp, names in runs:
            load_runs(loader, bar, task, names, functools.partial(_run_record, exp))
        task = bar.task("logged models", len(models))
        tree_models: set[str] = set()
        for exp, name in models:
            model = _logged_model_record(exp, name)
            if model is not None:
                loader.add_logged_model(model)
                tree_models.add(model.model_id)
            bar.advance(task)
        task = bar.task("registered models", len(registry))
        for path in registry:
            loader.add_registered_model(_registered_model_record(path, tree_runs, tree_models))
            bar.advance(task)
    return loader.counts


def load_runs(
    loader: BulkLoader, bar: Progress, task: Any, run_ids: Sequence[str], record: Callable[[str], RunRecord | None]
) -> None:
    """Hand the runs of ``run_ids`` that the store lacks to ``loader``, asking a chunk at a time,
    so that runs already in the store are not even read; ``record(run_id)`` reads one from the
    source (None: leave it out). Moves ``task`` of ``bar`` on by one a run."""
    for start in range(0, len(run_ids), _RUNS_PER_CHECK):
        chunk = run_ids[start : start + _RUNS_PER_CHECK]
        new = loader.new_run_ids(chunk)
        bar.advance(task, len(chunk) - len(new))
        for run_id in new:
            found = record(run_id)
            if found is not None:
                loader.add_run(found)
            bar.advance(task)


# -- finding things -----------------------------------------------------------------------------------


def _tree_root(src: str) -> str:
    if not isinstance(src, str | os.PathLike) or not os.fspath(src):
        raise InvalidParameterValue(f"import_mlruns needs the path of an mlruns folder, got {src!r}.")
    text = os.fspath(src)
    path = _local_path(text) if text.startswith("file:") else text
    root = os.path.abspath(path or text)
    if not os.path.exists(root):
        raise ResourceDoesNotExist(
            f"mlruns folder '{src}' does not exist; give the folder MLflow's file store wrote (it holds 0/meta.yaml)."
        )
    if not os.path.isdir(root):
        raise InvalidParameterValue(f"'{src}' is a file, not an mlruns folder; give the folder holding 0/meta.yaml.")
    return root


def _target_store(tracking_uri: str | None) -> Any:
    from tracklite.store import get_store
    from tracklite.store.duckdb_store import DuckDBStore
    from tracklite.tracking._uri import get_tracking_uri

    uri = tracking_uri or get_tracking_uri()
    store = get_store(uri)
    if not isinstance(store, DuckDBStore):
        raise InvalidParameterValue(f"Cannot import into '{uri}': give a tracklite store file path.")
    return store


def _subdirs(path: str) -> list[str]:
    try:
        return sorted(e.name for e in os.scandir(path) if e.is_dir())
    except FileNotFoundError:
        return []


def _has_meta(path: str) -> bool:
    return os.path.isfile(os.path.join(path, META))


def _experiments(root: str) -> list[_Experiment]:
    """Experiment folders at the root and in ``.trash``, as MLflow lists them."""
    found = []
    folders = [os.path.join(root, n) for n in _subdirs(root) if n not in (TRASH, REGISTRY)]
    folders += [os.path.join(root, TRASH, n) for n in _subdirs(os.path.join(root, TRASH))]
    for path in folders:
        if not _has_meta(path):
            continue
        meta = _read_yaml(os.path.join(path, META))
        if not meta or "experiment_id" not in meta or not meta.get("name"):
            _log.warning("Skipping malformed experiment folder '%s': its meta.yaml lacks experiment_id or name", path)
            continue
        if str(meta["experiment_id"]) != os.path.basename(path):
            # MLflow ignores such an experiment too.
            _log.warning("Skipping experiment folder '%s': its meta.yaml names id '%s'", path, meta["experiment_id"])
            continue
        found.append(_Experiment(path, meta))
    return found


def _run_dirs(exp_path: str) -> list[str]:
    return [n for n in _subdirs(exp_path) if n not in _NOT_RUNS and _has_meta(os.path.join(exp_path, n))]


def _logged_model_dirs(exp_path: str) -> list[str]:
    folder = os.path.join(exp_path, "models")
    return [n for n in _subdirs(folder) if _has_meta(os.path.join(folder, n))]


def _registered_model_dirs(root: str) -> list[str]:
    folder = os.path.join(root, REGISTRY)
    return [os.path.join(folder, n) for n in _subdirs(folder) if _has_meta(os.path.join(folder, n))]


# -- reading files ------------------------------------------------------------------------------------


def _read_yaml(path: str) -> dict[str, Any]:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.load(fh, Loader=loader)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InvalidParameterValue(f"'{path}' is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidParameterValue(f"'{path}' should hold a YAML mapping of fields; it holds {type(data).__name__}.")
    return data


def _read_values(folder: str) -> dict[str, str]:
    """Files below ``folder`` as ``{relative path: content}`` (params and tags)."""
    values = {}
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            full = os.path.join(dirpath, name)
            key = os.path.relpath(full, folder).replace(os.sep, "/")
            with open(full, encoding="utf-8", newline="") as fh:
                values[key] = fh.read()
    return values


def _local_path(uri: Any, base: str = "") -> str | None:
    """The local path a ``file:`` URI or plain path names (None for remote URIs); a relative
    one is taken below ``base`` (default: the working folder)."""
    if not isinstance(uri, str) or not uri:
        return None
    if uri.startswith("file:"):
        parsed = urlparse(uri)
        if parsed.netloc not in ("", "localhost"):
            return None
        return os.path.abspath(os.path.join(base, unquote(parsed.path)))
    if re.match(r"^[a-zA-Z][\w+.-]*:", uri):  # s3://, mlflow-artifacts:/, runs:/, models:/ ...
        return None
    return os.path.abspath(os.path.join(base, uri))


def _files_folder(uri: Any, layout_tail: str, in_tree: str) -> str | None:
    """Where an entity's files are: ``in_tree`` when ``uri`` has the file store's own layout
    (ends with ``layout_tail``; the tree may have moved), else the local folder ``uri`` names."""
    path = _local_path(uri)
    if (path is None or path.replace(os.sep, "/").endswith(layout_tail)) and os.path.isdir(in_tree):
        return in_tree
    if path is not None and os.path.isdir(path):
        return path
    return in_tree if os.path.isdir(in_tree) else None


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


# -- metrics ------------------------------------------------------------------------------------------


def _metric_batches(
    folder: str, block_bytes: int = BLOCK_BYTES, arrow_min_bytes: int = ARROW_MIN_BYTES
) -> Iterator[Any]:
    """Every point of every metric file below ``folder``, as Arrow tables of at most about
    ``BATCH_POINTS`` points (or one block of a large file)."""
    files = []
    for dirpath, _dirs, names in os.walk(folder):
        for name in names:
            full = os.path.join(dirpath, name)
            files.append((os.path.relpath(full, folder).replace(os.sep, "/"), full))
    lines = _Lines()
    for key, path in sorted(files):
        for block, first_line in _blocks(path, block_bytes):
            table = _arrow_block(key, block) if len(block) >= arrow_min_bytes else None
            if table is not None:
                yield table
            else:
                lines.parse(key, path, block, first_line)
                if len(lines.timestamps) >= BATCH_POINTS:
                    yield lines.take()
    if lines.timestamps:
        yield lines.take()


def _blocks(path: str, block_bytes: int) -> Iterator[tuple[bytes, int]]:
    """A file in blocks of whole lines (about ``block_bytes`` each), with each block's first line number."""
    first_line = 1
    rest = b""
    with open(path, "rb") as fh:
        while data := fh.read(block_bytes):
            data = rest + data
            cut = data.rfind(b"\n") + 1
            block, rest = data[:cut], data[cut:]
            if block:
                yield block, first_line
                first_line += block.count(b"\n")
    if rest:
        yield rest + b"\n", first_line


def _arrow_block(key: str, block: bytes) -> Any:
    """A block of lines that all have two or all three fields, parsed by Arrow's CSV reader;
    None when it is not such a block (or Arrow refuses a value), for the line parser to read."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    lines = block.count(b"\n")
    spaces = block.count(b" ")
    if spaces not in (lines, 2 * lines):
        return None
    names = ["timestamp", "value", "step"][: 3 if spaces == 2 * lines else 2]
    try:
        table = pa_csv.read_csv(
            pa.py_buffer(block),
            read_options=pa_csv.ReadOptions(column_names=names, block_size=len(block) + 1),
            parse_options=pa_csv.ParseOptions(
                delimiter=" ", quote_char=False, double_quote=False, escape_char=False, ignore_empty_lines=False
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types={"timestamp": pa.int64(), "value": pa.float64(), "step": pa.int64()},
                null_values=[],
                strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid:
        return None
    if table.num_rows != lines:
        return None
    n = table.num_rows
    return pa.table(
        {
            "key": pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), pa.array([key])),
            "step": table.column("step") if "step" in names else pa.array(np.zeros(n, dtype=np.int64)),
            "timestamp": table.column("timestamp"),
            "value": table.column("value"),
        }
    )


def _malformed(path: str, detail: str) -> InvalidParameterValue:
    return InvalidParameterValue(
        f"Metric file '{path}' is malformed ({detail}); each line should be 'timestamp value', "
        "'timestamp value step' or 'timestamp value step dataset_name dataset_digest'."
    )


class _Lines:
    """Points of small metric files, gathered across files into one batch."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.timestamps: list[int] = []
        self.values: list[float] = []
        self.steps: list[int] = []

    def clear(self) -> None:
        """Start a new batch."""
        self.keys, self.timestamps, self.values, self.steps = [], [], [], []

    def parse(self, key: str, path: str, block: bytes, first_line: int) -> None:
        """Lines parsed one by one, exactly as MLflow's ``FileStore._get_metric_from_line``."""
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _malformed(path, f"not UTF-8: {exc}") from None
        before = len(self.timestamps)
        for number, line in enumerate(text.splitlines(), first_line):
            parts = line.strip().split(" ")
            if parts == [""]:
                continue  # a blank line (MLflow would refuse it; nothing is lost by skipping it)
            if len(parts) not in (2, 3, 5):
                raise _malformed(path, f"line {number} has {len(parts)} fields")
            try:
                timestamp, value, step = int(parts[0]), float(parts[1]), int(parts[2]) if len(parts) > 2 else 0
            except ValueError:
                raise _malformed(path, f"line {number} is {line.strip()[:80]!r}") from None
            self.timestamps.append(timestamp)
            self.values.append(value)
            self.steps.append(step)
        self.keys.extend([key] * (len(self.timestamps) - before))

    def take(self) -> Any:
        """The gathered points as a table; starts a new batch."""
        import pyarrow as pa

        table = pa.table(
            {
                "key": pa.array(self.keys, type=pa.string()),
                "step": pa.array(self.steps, type=pa.int64()),
                "timestamp": pa.array(self.timestamps, type=pa.int64()),
                "value": pa.array(self.values, type=pa.float64()),
            }
        )
        self.clear()
        return table


# -- records ------------------------------------------------------------------------------------------


def _experiment_record(exp: _Experiment) -> ExperimentRecord:
    meta = exp.meta
    return ExperimentRecord(
        experiment_id=str(meta["experiment_id"]),
        name=str(meta["name"]),
        lifecycle_stage=meta.get("lifecycle_stage") or LifecycleStage.ACTIVE,
        creation_time=_int_or_none(meta.get("creation_time")),
        last_update_time=_int_or_none(meta.get("last_update_time")),
        tags=_read_values(os.path.join(exp.path, "tags")),
    )


def _run_record(exp: _Experiment, name: str) -> RunRecord | None:
    run_dir = os.path.join(exp.path, name)
    meta_path = os.path.join(run_dir, META)
    meta = _read_yaml(meta_path)
    found_id = meta.get("run_id") or meta.get("run_uuid")
    run_id = str(found_id) if found_id is not None else None
    exp_id = str(exp.meta["experiment_id"])
    if run_id is None or run_id != name or str(meta.get("experiment_id")) != exp_id:
        # MLflow's search_runs skips such a run too.
        _log.warning("Skipping run folder '%s': its meta.yaml names run '%s' of experiment '%s'",
                     run_dir, run_id, meta.get("experiment_id"))  # fmt: skip
        return None
    tags = _read_values(os.path.join(run_dir, "tags"))
    try:
        status = RunStatus.to_string(meta.get("status", "RUNNING"))
    except ValueError:
        raise InvalidParameterValue(f"'{meta_path}' has an unknown run status {meta.get('status')!r}.") from None
    layout = f"/{exp_id}/{run_id}/artifacts"
    return RunRecord(
        run_id=run_id,
        experiment_id=exp_id,
        run_name=meta.get("run_name") or tags.get("mlflow.runName") or "",
        user_id=str(meta.get("user_id") or ""),
        status=status,
        start_time=int(meta.get("start_time") or 0),
        end_time=_int_or_none(meta.get("end_time")),
        lifecycle_stage=meta.get("lifecycle_stage") or LifecycleStage.ACTIVE,
        deleted_time=_int_or_none(meta.get("deleted_time")),
        params=_read_values(os.path.join(run_dir, "params")),
        tags=tags,
        metrics=_metric_batches(os.path.join(run_dir, "metrics")),
        artifacts=_files_folder(meta.get("artifact_uri"), layout, os.path.join(run_dir, "artifacts")),
    )


def _logged_model_record(exp: _Experiment, name: str) -> LoggedModelRecord | None:
    model_dir = os.path.join(exp.path, "models", name)
    meta_path = os.path.join(model_dir, META)
    meta = _read_yaml(meta_path)
    model_id = meta.get("model_id")
    exp_id = str(exp.meta["experiment_id"])
    if model_id != name or str(meta.get("experiment_id")) != exp_id:
        _log.warning("Skipping logged model folder '%s': its meta.yaml names model '%s'", model_dir, model_id)
        return None
    raw_status = meta.get("status", 2)
    status = _LOGGED_MODEL_STATUS.get(raw_status.upper() if isinstance(raw_status, str) else raw_status)
    if status is None:
        raise InvalidParameterValue(f"'{meta_path}' has an unknown logged model status {raw_status!r}.")
    layout = f"/{exp_id}/models/{model_id}/artifacts"
    return LoggedModelRecord(
        model_id=model_id,
        experiment_id=exp_id,
        name=str(meta.get("name") or ""),
        source_run_id=meta.get("source_run_id"),
        status=status,
        model_type=meta.get("model_type"),
        creation_timestamp=_int_or_none(meta.get("creation_timestamp")),
        last_updated_timestamp=_int_or_none(meta.get("last_updated_timestamp")),
        params=_read_values(os.path.join(model_dir, "params")),
        tags=_read_values(os.path.join(model_dir, "tags")),
        artifacts=_files_folder(meta.get("artifact_location"), layout, os.path.join(model_dir, "artifacts")),
    )


def _registered_model_record(path: str, tree_runs: dict[str, str], tree_models: set[str]) -> RegisteredModelRecord:
    meta = _read_yaml(os.path.join(path, META))
    name = str(meta.get("name") or os.path.basename(path))
    versions = []
    for folder in _subdirs(path):
        if folder.startswith("version-") and _has_meta(os.path.join(path, folder)):
            versions.append(_version_record(os.path.join(path, folder), tree_runs, tree_models))
    aliases = {}
    for alias, value in _read_values(os.path.join(path, "aliases")).items():
        try:
            aliases[alias] = int(value.strip())
        except ValueError:
            raise InvalidParameterValue(
                f"Alias file '{os.path.join(path, 'aliases', alias)}' should hold a version number, not {value!r}."
            ) from None
    return RegisteredModelRecord(
        name=name,
        description=meta.get("description"),
        creation_timestamp=_int_or_none(meta.get("creation_timestamp")),
        last_updated_timestamp=_int_or_none(meta.get("last_updated_timestamp")),
        tags=_read_values(os.path.join(path, "tags")),
        aliases=aliases,
        versions=versions,
    )


def _version_record(folder: str, tree_runs: dict[str, str], tree_models: set[str]) -> ModelVersionRecord:
    meta_path = os.path.join(folder, META)
    meta = _read_yaml(meta_path)
    if meta.get("version") is None:
        raise InvalidParameterValue(f"'{meta_path}' has no version number.")
    status = meta.get("status") or "READY"
    return ModelVersionRecord(
        version=int(meta["version"]),
        source=str(meta.get("source") or ""),
        current_stage=meta.get("current_stage") or "None",
        description=meta.get("description"),
        user_id=meta.get("user_id"),
        run_id=meta.get("run_id"),
        run_link=meta.get("run_link"),
        model_id=meta.get("model_id"),
        status=_VERSION_STATUS.get(status, str(status)) if isinstance(status, int) else str(status),
        creation_timestamp=_int_or_none(meta.get("creation_timestamp")),
        last_updated_timestamp=_int_or_none(meta.get("last_updated_timestamp")),
        tags=_read_values(os.path.join(folder, "tags")),
        files=_version_files(meta, tree_runs, tree_models),
    )


def _version_files(meta: dict[str, Any], tree_runs: dict[str, str], tree_models: set[str]) -> str | StoredFiles | None:
    """Where a version's files come from: None lets the loader pin them from the logged model
    (MLflow 3); else the run's stored artifacts its path names, or the local folder (MLflow 2)."""
    source = str(meta.get("source") or "")
    if meta.get("model_id") in tree_models or source.removeprefix("models:/") in tree_models:
        return None
    for uri in (meta.get("storage_location"), source):
        path = _local_path(uri)
        if path is None:
            continue
        match = _RUN_ARTIFACTS.search(path.replace(os.sep, "/"))
        if match and tree_runs.get(match.group(2)) == match.group(1):
            return StoredFiles(f"{match.group(1)}/{match.group(2)}/artifacts", match.group(3) or "")
        if os.path.isdir(path):
            return path
    return None
