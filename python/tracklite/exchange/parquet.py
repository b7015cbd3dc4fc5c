"""``export_parquet`` and ``import_parquet``: the store as a Hive-partitioned Parquet dataset.

Every table is a folder of zstd Parquet files whose columns are those of the store's
documented views (``docs/schema.md``); runs, params, tags and metric points are split into
``experiment_id=<id>`` folders, which Spark, Trino, DuckDB, PyArrow and Polars read back as
a column. ``_tracklite_dataset.json`` names the format, its version, the store's schema
version and the tables. ``docs/parquet.md`` documents every column.

DuckDB writes the files itself (``COPY ... TO ... (PARTITION_BY ...)``) straight from the
views, so no point passes through Python; an import reads them back with DuckDB too, run by
run, and hands them to the store's ``BulkLoader``, which keeps every id.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from tracklite.errors import InvalidParameterValue, ResourceDoesNotExist
from tracklite.exchange.output import ExportDir, is_incomplete
from tracklite.exchange.progress import Progress
from tracklite.store.reads import Read
from tracklite.store.schema import quote_identifier, quote_literal

#: The dataset's ``format`` in ``_tracklite_dataset.json``.
FORMAT = "tracklite-parquet"
#: Raised when the layout or the columns change; an import refuses a newer one.
FORMAT_VERSION = 1
#: The dataset's description, at the top of the folder.
MANIFEST = "_tracklite_dataset.json"
#: The Hive partition column of the per-experiment tables (a folder name, not a column in the files).
PARTITION_COLUMN = "experiment_id"

# What bounds the memory of a partitioned COPY (duckdb 2.0.1, 10 M points, 2 threads): DuckDB
# buffers rows per partition and per open file, so one COPY with its default settings took
# 780 MB for 4 experiments and 1.4 GB for 200 or 2,000. Each COPY therefore takes at most
# this many experiments, and threads hand their rows to the file writers every this many
# rows: peaks then stay under 250 MB for every shape tried (docs/parquet.md). A lower flush
# threshold saves little more memory but makes smaller row groups, which compress worse.
_EXPERIMENTS_PER_COPY = 32
_PARTITION_FLUSH_ROWS = 10_000
# An import sorts metric points by run in a private in-memory DuckDB, spilling past this.
_IMPORT_MEMORY = "96MB"
# Rows per Arrow batch read back during an import.
_IMPORT_BATCH_ROWS = 100_000


class _Table(NamedTuple):
    name: str  # also the name of the ``views`` view its rows come from
    columns: tuple[tuple[str, str], ...]  # name and DuckDB type, in file order
    partitioned: bool = False  # by the experiment_id of the row's run
    scoped: bool = False  # rows belong to an experiment: experiment_ids selects them


_TAG = (("key", "VARCHAR"), ("value", "VARCHAR"))

# Every table of the format, in the order of the manifest and of an export.
_TABLES = (
    _Table(
        "experiments",
        (
            ("experiment_id", "VARCHAR"),
            ("name", "VARCHAR"),
            ("artifact_location", "VARCHAR"),
            ("lifecycle_stage", "VARCHAR"),
            ("creation_time", "BIGINT"),
            ("last_update_time", "BIGINT"),
        ),
        scoped=True,
    ),
    _Table("experiment_tags", (("experiment_id", "VARCHAR"), *_TAG), scoped=True),
    _Table(
        "runs",
        (
            ("run_id", "VARCHAR"),
            ("run_name", "VARCHAR"),
            ("user_id", "VARCHAR"),
            ("status", "VARCHAR"),
            ("start_time", "BIGINT"),
            ("end_time", "BIGINT"),
            ("lifecycle_stage", "VARCHAR"),
            ("artifact_uri", "VARCHAR"),
        ),
        partitioned=True,
    ),
    _Table("params", (("run_id", "VARCHAR"), *_TAG), partitioned=True),
    _Table("tags", (("run_id", "VARCHAR"), *_TAG), partitioned=True),
    _Table(
        "metrics",
        (("run_id", "VARCHAR"), ("key", "VARCHAR"), ("step", "BIGINT"), ("timestamp", "BIGINT"), ("value", "DOUBLE")),
        partitioned=True,
    ),
    _Table(
        "registered_models",
        (
            ("name", "VARCHAR"),
            ("description", "VARCHAR"),
            ("creation_timestamp", "BIGINT"),
            ("last_updated_timestamp", "BIGINT"),
        ),
    ),
    _Table("registered_model_tags", (("name", "VARCHAR"), *_TAG)),
    _Table(
        "model_versions",
        (
            ("name", "VARCHAR"),
            ("version", "INTEGER"),
            ("current_stage", "VARCHAR"),
            ("description", "VARCHAR"),
            ("user_id", "VARCHAR"),
            ("source", "VARCHAR"),
            ("run_id", "VARCHAR"),
            ("model_id", "VARCHAR"),
            ("storage_location", "VARCHAR"),
            ("status", "VARCHAR"),
            ("creation_timestamp", "BIGINT"),
            ("last_updated_timestamp", "BIGINT"),
        ),
    ),
    _Table("model_version_tags", (("name", "VARCHAR"), ("version", "INTEGER"), *_TAG)),
    _Table(
        "registered_model_aliases",
        (("name", "VARCHAR"), ("alias", "VARCHAR"), ("version", "INTEGER")),
    ),
    _Table(
        "logged_models",
        (
            ("model_id", "VARCHAR"),
            ("experiment_id", "VARCHAR"),
            ("name", "VARCHAR"),
            ("source_run_id", "VARCHAR"),
            ("artifact_location", "VARCHAR"),
            ("status", "VARCHAR"),
            ("model_type", "VARCHAR"),
            ("creation_timestamp", "BIGINT"),
            ("last_updated_timestamp", "BIGINT"),
        ),
        scoped=True,
    ),
    _Table("logged_model_params", (("model_id", "VARCHAR"), *_TAG), scoped=True),
    _Table("logged_model_tags", (("model_id", "VARCHAR"), *_TAG), scoped=True),
    _Table(
        "registry_audit",
        (
            ("event_id", "BIGINT"),
            ("timestamp", "BIGINT"),
            ("user_id", "VARCHAR"),
            ("action", "VARCHAR"),
            ("name", "VARCHAR"),
            ("version", "INTEGER"),
            ("key", "VARCHAR"),
            ("old_value", "VARCHAR"),
            ("new_value", "VARCHAR"),
        ),
    ),
)
_BY_NAME = {t.name: t for t in _TABLES}

#: The tables of a dataset, in the order they are written.
TABLES = tuple(_BY_NAME)


def table_columns(table: str) -> list[tuple[str, str]]:
    """The columns (name, DuckDB type) of one table of the format, as the files hold them; a
    partitioned table adds ``experiment_id`` (VARCHAR) from its folder names.

    Raises:
        InvalidParameterValue: if ``table`` is not a table of the format.
    """
    found = _BY_NAME.get(table)
    if found is None:
        raise InvalidParameterValue(f"'{table}' is not a table of a {FORMAT} dataset; they are {', '.join(TABLES)}.")
    return list(found.columns)


def _export_query(table: _Table, filtered: bool) -> str:
    """The SELECT that a table's rows are copied from (``$experiments`` filters when ``filtered``)."""
    columns = ", ".join(f"t.{quote_identifier(name)}" for name, _ in table.columns)
    where = f"list_contains($experiments, {PARTITION_COLUMN})" if filtered else "true"
    if table.partitioned and table.name != "runs":
        # Run-level rows take their run's experiment id as the partition column.
        return (
            f"SELECT r.{PARTITION_COLUMN}, {columns} FROM views.{table.name} t "
            f"JOIN views.runs r USING (run_id) WHERE {where}"
        )
    if table.partitioned:
        return f"SELECT t.{PARTITION_COLUMN}, {columns} FROM views.runs t WHERE {where}"
    if table.name in ("logged_model_params", "logged_model_tags"):
        return f"SELECT {columns} FROM views.{table.name} t JOIN views.logged_models m USING (model_id) WHERE {where}"
    if table.name in ("model_version_tags", "registered_model_aliases"):
        # Only rows of live versions (what the views hold today; this keeps it so).
        return f"SELECT {columns} FROM views.{table.name} t SEMI JOIN views.model_versions v USING (name, version)"
    return f"SELECT {columns} FROM views.{table.name} t WHERE {where}"


def _store(tracking_uri: str | None, *, must_exist: bool) -> Any:
    """The DuckDB store of ``tracking_uri`` (the current tracking URI by default)."""
    from tracklite.store import get_store
    from tracklite.store.duckdb_store import DuckDBStore
    from tracklite.tracking._uri import get_tracking_uri

    uri = tracking_uri or get_tracking_uri()
    store = get_store(uri)
    if not isinstance(store, DuckDBStore):
        raise InvalidParameterValue(f"tracking URI '{uri}' is not a store file; give the path of a .duckdb store.")
    if must_exist and not store.uri.startswith("ducklake:") and not os.path.exists(store.path):
        raise ResourceDoesNotExist(
            f"No store file at '{store.path}'; give the path of an existing store (tracking_uri=, --store)."
        )
    return store


def _check_experiments(con: Any, experiment_ids: Sequence[str]) -> list[str]:
    """The given ids, each checked to exist, without repeats."""
    if isinstance(experiment_ids, str):
        raise InvalidParameterValue(
            f"experiment_ids must be a list of ids, got the string '{experiment_ids}'; write ['{experiment_ids}']."
        )
    wanted = list(dict.fromkeys(str(e) for e in experiment_ids))
    if not wanted:
        raise InvalidParameterValue("experiment_ids is empty; pass None to export every experiment.")
    rows = con.execute("SELECT experiment_id, name FROM experiments").fetchall()
    ids = {eid for eid, _ in rows}
    by_name = {name: eid for eid, name in rows}
    for eid in wanted:
        if eid not in ids:
            hint = f" ('{eid}' is the name of experiment {by_name[eid]})" if eid in by_name else ""
            raise ResourceDoesNotExist(
                f"No experiment with id '{eid}'{hint}; `tracklite experiments list` shows the ids."
            )
    return wanted


# -- export -------------------------------------------------------------------------------------------


def export_parquet(
    out: str | os.PathLike[str],
    *,
    tracking_uri: str | None = None,
    experiment_ids: Sequence[str] | None = None,
    force: bool = False,
    progress: bool = False,
) -> dict[str, int]:
    """Write the store as a Hive-partitioned Parquet dataset under ``out``.

    One folder per table (``docs/parquet.md``): ``experiments``, ``experiment_tags``,
    ``runs``, ``params``, ``tags`` and ``metrics`` (every point), the last four split into
    ``experiment_id=<id>`` folders; the registry (``registered_models``,
    ``registered_model_tags``, ``model_versions``, ``model_version_tags``,
    ``registered_model_aliases``, ``registry_audit``); and ``logged_models``,
    ``logged_model_params``, ``logged_model_tags``. Columns are those of the store's
    ``views`` schema. Deleted experiments and runs are included (see ``lifecycle_stage``),
    deleted model versions are not. Artifacts and model files are not part of the dataset.

    The store is held for the whole export, so the dataset is one consistent snapshot (other
    processes' points wait in their durability logs meanwhile). DuckDB streams the rows into
    zstd Parquet files: 10 million points take a few seconds and about 200 MB of memory.

    Args:
        out: An empty (or new) folder; with ``force`` its contents are replaced.
        tracking_uri: The store; the current tracking URI by default.
        experiment_ids: Export only these experiments (their runs, points and logged models);
            every experiment by default. The registry is always exported whole.
        force: Replace what ``out`` holds (also the way to redo an interrupted export).
        progress: Show a progress bar (one step per table).

    Returns:
        Rows written per table, in the order of ``TABLES``.

    Raises:
        InvalidParameterValue: if ``out`` is a file, or holds anything and ``force`` is false;
            if ``experiment_ids`` is empty or a bare string; if the tracking URI is not a
            store file.
        ResourceDoesNotExist: for a store file that does not exist, or an unknown experiment id.
        StoreLockedError: if other processes held the store past the lock timeout.

    Examples:
        >>> from tracklite.exchange.parquet import export_parquet  # doctest: +SKIP
        >>> export_parquet("dataset")  # doctest: +SKIP
        {'experiments': 2, 'experiment_tags': 1, 'runs': 12, 'params': 36, 'tags': 60, 'metrics': 24000, ...}
    """
    store = _store(tracking_uri, must_exist=True)
    bars = Progress(progress)
    counts: dict[str, int] = {}
    with store._read() as con:
        chosen = None if experiment_ids is None else _check_experiments(con, experiment_ids)
        target = ExportDir(out, force=force)
        schema_version = int(con.execute("SELECT max(version) FROM schema_info").fetchone()[0])
        # The experiments with runs, a batch of them per COPY of a partitioned table.
        with_runs = [
            r[0]
            for r in con.execute("SELECT DISTINCT experiment_id FROM runs ORDER BY experiment_id").fetchall()
            if chosen is None or r[0] in chosen
        ]
        batches = [with_runs[i : i + _EXPERIMENTS_PER_COPY] for i in range(0, len(with_runs), _EXPERIMENTS_PER_COPY)]
        with bars.running(), _frequent_partition_flushes(con):
            task = bars.task("Parquet tables", len(_TABLES))
            for table in _TABLES:
                target.path(table.name).mkdir(exist_ok=True)  # a table with no rows still gets its folder
                if table.partitioned:
                    dest = target.path(table.name)
                    counts[table.name] = sum(_copy(con, dest, table, batch) for batch in batches)
                else:
                    only = chosen if table.scoped else None
                    counts[table.name] = _copy(con, target.path(table.name, "data_0.parquet"), table, only)
                bars.advance(task)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "schema_version": schema_version,
        "created_time": int(time.time() * 1000),
        "experiment_ids": chosen,
        "tables": [
            {"name": t.name, "partition_by": [PARTITION_COLUMN] if t.partitioned else [], "rows": counts[t.name]}
            for t in _TABLES
        ],
    }
    target.path(MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    target.finish()
    return counts


@contextmanager
def _frequent_partition_flushes(con: Any) -> Iterator[None]:
    """Make threads hand partitioned rows to the writers often during the block, then restore the setting."""
    saved = con.execute("SELECT current_setting('partitioned_write_flush_threshold')").fetchone()[0]
    con.execute(f"SET partitioned_write_flush_threshold = {_PARTITION_FLUSH_ROWS}")
    try:
        yield
    finally:
        con.execute(f"SET partitioned_write_flush_threshold = {int(saved)}")


def _copy(con: Any, dest: Path, table: _Table, experiments: list[str] | None) -> int:
    """``COPY`` a table's rows of ``experiments`` (None: all) to ``dest`` (the table's folder when
    partitioned, else its one file); returns the rows written."""
    if table.partitioned:
        # Batches write disjoint experiment_id=<id> folders, into the folder earlier batches filled.
        options = f"FORMAT parquet, PARTITION_BY ({PARTITION_COLUMN}), COMPRESSION zstd, OVERWRITE_OR_IGNORE"
    else:
        options = "FORMAT parquet, COMPRESSION zstd"
    query = _export_query(table, experiments is not None)
    sql = f"COPY ({query}) TO {quote_literal(str(dest))} ({options})"
    if "$experiments" not in query:
        return int(con.execute(sql).fetchone()[0])
    return int(con.execute(sql, {"experiments": experiments}).fetchone()[0])


# -- reading a dataset --------------------------------------------------------------------------------


def read_manifest(src: str | os.PathLike[str]) -> dict[str, Any]:
    """The checked ``_tracklite_dataset.json`` of the dataset at ``src``.

    Raises:
        InvalidParameterValue: if ``src`` is not a finished tracklite Parquet dataset, or one
            of a newer format version.
    """
    root = Path(src)
    if not root.is_dir():
        raise InvalidParameterValue(f"'{root}' is not a folder; give the folder that `tracklite export parquet` wrote.")
    if is_incomplete(root):
        raise InvalidParameterValue(
            f"'{root}' holds an export that did not finish; run the export again with --force (force=True)."
        )
    path = root / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidParameterValue(
            f"'{root}' is not a tracklite Parquet dataset: it has no {MANIFEST}. Give the folder that "
            "`tracklite export parquet` wrote."
        ) from None
    except (OSError, ValueError) as exc:
        raise InvalidParameterValue(f"'{path}' is unreadable ({exc}); export the dataset again.") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InvalidParameterValue(f"'{path}' does not describe a {FORMAT} dataset; export the dataset again.")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise InvalidParameterValue(f"'{path}' has no valid format_version; export the dataset again.")
    if version > FORMAT_VERSION:
        raise InvalidParameterValue(
            f"'{root}' is a {FORMAT} dataset of format version {version}, newer than this tracklite reads "
            f"({FORMAT_VERSION}); upgrade tracklite (`pip install -U tracklite`)."
        )
    tables = manifest.get("tables")
    if not isinstance(tables, list) or not all(isinstance(t, dict) and t.get("name") in _BY_NAME for t in tables):
        raise InvalidParameterValue(f"'{path}' lists tables this tracklite does not know; export the dataset again.")
    return manifest


def table_source(src: str | os.PathLike[str], table: str) -> str | None:
    """A DuckDB ``read_parquet(...)`` expression for one table of the dataset at ``src``, with
    ``experiment_id`` read as VARCHAR; None when the table has no files (it had no rows).

    Raises:
        InvalidParameterValue: if ``table`` is not a table of the format.
    """
    table_columns(table)
    folder = Path(src).resolve() / table
    if not folder.is_dir() or not any(folder.rglob("*.parquet")):
        return None
    if _BY_NAME[table].partitioned:
        pattern = quote_literal(str(folder / "**" / "*.parquet"))
        return f"read_parquet({pattern}, hive_partitioning = true, hive_types = {{{PARTITION_COLUMN}: VARCHAR}})"
    return f"read_parquet({quote_literal(str(folder / '*.parquet'))}, hive_partitioning = false)"


class _Dataset:
    """A dataset opened in a private in-memory DuckDB: one view per table, with the format's
    columns (an empty table where the dataset has no files), and the runs numbered in run_id
    order so that params, tags and points can be streamed one run after another."""

    def __init__(self, src: str | os.PathLike[str]) -> None:
        import duckdb

        self.root = Path(src).resolve()
        self._cursors: list[Any] = []
        self._spill = tempfile.TemporaryDirectory(prefix="tracklite-import-")
        self.con: Any = duckdb.connect(
            ":memory:", config={"memory_limit": _IMPORT_MEMORY, "temp_directory": self._spill.name}
        )
        try:
            for table in _TABLES:
                self._define(table)
            # ord numbers the runs; every stream below comes sorted by it.
            self.con.execute("CREATE TABLE run_order AS SELECT row_number() OVER (ORDER BY run_id) AS ord, * FROM runs")
        except BaseException:
            self.close()
            raise

    def _define(self, table: _Table) -> None:
        import duckdb

        columns = [(PARTITION_COLUMN, "VARCHAR"), *table.columns] if table.partitioned else list(table.columns)
        source = table_source(self.root, table.name)
        if source is None:
            typed = ", ".join(f"NULL::{kind} AS {quote_identifier(n)}" for n, kind in columns)
            self.con.execute(f"CREATE VIEW {table.name} AS SELECT {typed} WHERE false")
            return
        casts = ", ".join(f"CAST({quote_identifier(n)} AS {kind}) AS {quote_identifier(n)}" for n, kind in columns)
        try:  # binding the view finds missing columns
            self.con.execute(f"CREATE VIEW {table.name} AS SELECT {casts} FROM {source}")
        except duckdb.Error as exc:
            raise InvalidParameterValue(
                f"The '{table.name}' files of the dataset at '{self.root}' do not have the columns of a {FORMAT} "
                f"dataset ({', '.join(n for n, _ in columns)}): {exc}"
            ) from None

    def close(self) -> None:
        for cursor in self._cursors:
            cursor.close()
        self.con.close()
        self._spill.cleanup()

    def rows(self, query: str) -> list[dict[str, Any]]:
        """Every row of a (small) query as dicts."""
        cursor = self.con.cursor()
        try:
            result = cursor.execute(query)
            names = [d[0] for d in result.description]
            return [dict(zip(names, row, strict=True)) for row in result.fetchall()]
        finally:
            cursor.close()

    def grouped(self, query: str) -> dict[Any, dict[str, str]]:
        """``owner -> {key: value}`` from a query of (owner, key, value) rows."""
        found: dict[Any, dict[str, str]] = {}
        for row in self.rows(query):
            owner, key, value = row.values()
            found.setdefault(owner, {})[key] = value
        return found

    def stream(self, query: str) -> Any:
        """A ``pyarrow.RecordBatchReader`` over a query, on a cursor of its own."""
        cursor = self.con.cursor()
        # DuckDB 1.4's reader does not keep its cursor alive: a collected cursor closes the stream.
        self._cursors.append(cursor)
        return Read(cursor, query).fetch_record_batch(_IMPORT_BATCH_ROWS)


class _ByRun:
    """A stream of rows sorted by ``ord``, handed out one run at a time."""

    def __init__(self, reader: Any) -> None:
        self._reader = reader
        self._batch: Any = None
        self._ords: Any = None
        self._pos = 0

    def _head(self) -> bool:
        while self._batch is None or self._pos >= self._batch.num_rows:
            try:
                self._batch = self._reader.read_next_batch()
            except StopIteration:
                self._batch = None
                return False
            self._ords = self._batch.column("ord").to_numpy()
            self._pos = 0
        return True

    def take(self, ord: int) -> Iterator[Any]:
        """The record batches of run ``ord`` (rows of earlier runs not taken are passed over)."""
        import numpy as np

        while self._head():
            start = int(np.searchsorted(self._ords, ord, side="left"))
            if start >= self._batch.num_rows:
                self._pos = start  # the whole rest of this batch is of earlier runs
                continue
            self._pos = max(self._pos, start)
            end = int(np.searchsorted(self._ords, ord, side="right"))
            if end <= self._pos:
                return  # the next rows are of a later run
            piece = self._batch.slice(self._pos, end - self._pos)
            self._pos = end
            yield piece
            if end < self._batch.num_rows:
                return

    def pairs(self, ord: int) -> dict[str, str]:
        """Run ``ord``'s rows as ``{key: value}``."""
        found: dict[str, str] = {}
        for piece in self.take(ord):
            found.update(zip(piece.column("key").to_pylist(), piece.column("value").to_pylist(), strict=True))
        return found


def import_parquet(
    src: str | os.PathLike[str],
    *,
    tracking_uri: str | None = None,
    progress: bool = False,
) -> dict[str, int]:
    """Load a dataset written by ``export_parquet`` into a store, keeping every id.

    Experiments, runs (with params, tags and every metric point), logged models and the
    registry are handed to the store's ``BulkLoader``
    (``tracklite.store.bulk_load``), so experiment ids, run ids, logged model ids, model
    names and version numbers stay as they were. What the store already has (by id, and by
    name for registered models) is left exactly as it is, so importing the same dataset
    twice changes nothing the second time, and an interrupted import completes when run
    again. The dataset carries no artifact files: imported model versions have files only
    when the store holds their logged model or run already. ``registry_audit`` rows are not
    imported; the registry's own audit rows for the imported models are written instead.

    Args:
        src: The dataset folder (the one holding ``_tracklite_dataset.json``).
        tracking_uri: The store to load into (created if missing); the current tracking URI
            by default.
        progress: Show a progress bar (runs).

    Returns:
        The loader's counts: what was written and what was skipped as already present
        (``runs``, ``runs_skipped``, ``metrics``, ...).

    Raises:
        InvalidParameterValue: if ``src`` is not a finished tracklite Parquet dataset, is of a
            newer format version, has files with other columns, or holds malformed rows; if
            the tracking URI is not a store file.
        ResourceAlreadyExists: if an experiment of the dataset has a name that the store uses
            under another id (nothing is imported then).
        StoreLockedError: if other processes held the store past the lock timeout.

    Examples:
        >>> from tracklite.exchange.parquet import import_parquet  # doctest: +SKIP
        >>> import_parquet("dataset", tracking_uri="copy.duckdb")  # doctest: +SKIP
        {'experiments': 2, 'experiments_skipped': 1, ..., 'runs': 12, 'runs_skipped': 0, 'metrics': 24000, ...}
    """
    from tracklite.store.bulk_load import BulkLoader

    read_manifest(src)
    store = _store(tracking_uri, must_exist=False)
    data = _Dataset(src)
    bars = Progress(progress)
    try:
        with bars.running(), BulkLoader(store) as loader:
            loader.add_experiments(_experiments(data))
            task = bars.task("runs", int(data.con.execute("SELECT count(*) FROM run_order").fetchone()[0]))
            for run in _runs(data):
                loader.add_run(run)
                bars.advance(task)
            for model in _logged_models(data):
                loader.add_logged_model(model)
            for registered in _registered_models(data):
                loader.add_registered_model(registered)
    finally:
        data.close()
    return loader.counts


def _experiments(data: _Dataset) -> list[Any]:
    from tracklite.store.bulk_load import ExperimentRecord

    tags = data.grouped("SELECT experiment_id, key, value FROM experiment_tags")
    return [
        ExperimentRecord(
            experiment_id=row["experiment_id"],
            name=row["name"],
            lifecycle_stage=row["lifecycle_stage"],
            creation_time=row["creation_time"],
            last_update_time=row["last_update_time"],
            tags=tags.get(row["experiment_id"], {}),
        )
        for row in data.rows("SELECT * FROM experiments ORDER BY experiment_id")
    ]


def _runs(data: _Dataset) -> Iterator[Any]:
    """Each run with its params and tags, and its points as a lazy stream of batches."""
    from tracklite.entities import LifecycleStage
    from tracklite.store.bulk_load import RunRecord

    by_run = "JOIN run_order o USING (run_id) ORDER BY o.ord"
    params = _ByRun(data.stream(f"SELECT o.ord, t.key, t.value FROM params t {by_run}"))
    tags = _ByRun(data.stream(f"SELECT o.ord, t.key, t.value FROM tags t {by_run}"))
    points = _ByRun(data.stream(f"SELECT o.ord, t.key, t.step, t.timestamp, t.value FROM metrics t {by_run}"))
    runs = data.stream("SELECT * FROM run_order ORDER BY ord")
    imported_at = int(time.time() * 1000)
    for batch in runs:
        for row in batch.to_pylist():
            ord = row["ord"]
            yield RunRecord(
                run_id=row["run_id"],
                experiment_id=row["experiment_id"],
                run_name=row["run_name"] or "",
                user_id=row["user_id"] or "",
                status=row["status"],
                start_time=row["start_time"] or 0,
                end_time=row["end_time"],
                lifecycle_stage=row["lifecycle_stage"],
                # The views do not show when a run was deleted: its clock for `gc` starts now.
                deleted_time=imported_at if row["lifecycle_stage"] == LifecycleStage.DELETED else None,
                params=params.pairs(ord),
                tags=tags.pairs(ord),
                metrics=points.take(ord),
            )


def _logged_models(data: _Dataset) -> list[Any]:
    from tracklite.store.bulk_load import LoggedModelRecord

    params = data.grouped("SELECT model_id, key, value FROM logged_model_params")
    tags = data.grouped("SELECT model_id, key, value FROM logged_model_tags")
    return [
        LoggedModelRecord(
            model_id=row["model_id"],
            experiment_id=row["experiment_id"],
            name=row["name"],
            source_run_id=row["source_run_id"],
            status=row["status"],
            model_type=row["model_type"],
            creation_timestamp=row["creation_timestamp"],
            last_updated_timestamp=row["last_updated_timestamp"],
            params=params.get(row["model_id"], {}),
            tags=tags.get(row["model_id"], {}),
        )
        for row in data.rows("SELECT * FROM logged_models ORDER BY creation_timestamp, model_id")
    ]


def _registered_models(data: _Dataset) -> list[Any]:
    from tracklite.store.bulk_load import ModelVersionRecord, RegisteredModelRecord

    model_tags = data.grouped("SELECT name, key, value FROM registered_model_tags")
    version_tags: dict[tuple[str, int], dict[str, str]] = {}
    for row in data.rows("SELECT name, version, key, value FROM model_version_tags"):
        version_tags.setdefault((row["name"], row["version"]), {})[row["key"]] = row["value"]
    aliases: dict[str, dict[str, int]] = {}
    for row in data.rows("SELECT name, alias, version FROM registered_model_aliases"):
        aliases.setdefault(row["name"], {})[row["alias"]] = row["version"]
    versions: dict[str, list[ModelVersionRecord]] = {}
    for row in data.rows("SELECT * FROM model_versions ORDER BY name, version"):
        versions.setdefault(row["name"], []).append(
            ModelVersionRecord(
                version=row["version"],
                source=row["source"],
                current_stage=row["current_stage"],
                description=row["description"],
                user_id=row["user_id"],
                run_id=row["run_id"],
                model_id=row["model_id"],
                status=row["status"],
                creation_timestamp=row["creation_timestamp"],
                last_updated_timestamp=row["last_updated_timestamp"],
                tags=version_tags.get((row["name"], row["version"]), {}),
            )
        )
    return [
        RegisteredModelRecord(
            name=row["name"],
            description=row["description"],
            creation_timestamp=row["creation_timestamp"],
            last_updated_timestamp=row["last_updated_timestamp"],
            tags=model_tags.get(row["name"], {}),
            aliases=aliases.get(row["name"], {}),
            versions=versions.get(row["name"], []),
        )
        for row in data.rows("SELECT * FROM registered_models ORDER BY creation_timestamp, name")
    ]
