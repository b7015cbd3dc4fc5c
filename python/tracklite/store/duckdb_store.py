"""The single-file backend: experiments, runs, params, tags, metrics and artifacts in DuckDB.

Metadata calls run as one short transaction each (see ``connection``); metric points
take the Rust append path (see ``metric_sink``). Reads first flush this process's own
unapplied points, so a process always reads what it wrote.
"""

from __future__ import annotations

import io
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from tracklite.entities import (
    DatasetInput,
    Experiment,
    FileInfo,
    LifecycleStage,
    LoggedModel,
    LoggedModelStatus,
    Metric,
    Param,
    Run,
    RunData,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)
from tracklite.errors import InvalidParameterValue, ResourceAlreadyExists, ResourceDoesNotExist
from tracklite.store import artifacts as _artifacts
from tracklite.store import logged_models as _logged
from tracklite.store.artifacts import ARTIFACT_SCHEME, artifact_root
from tracklite.store.base import TrackingStore
from tracklite.store.connection import Connector, StoreConnector
from tracklite.store.integrity import IndexProblem, check_unique_indexes, repair_unique_indexes
from tracklite.store.metric_sink import MetricSink
from tracklite.store.reads import Read
from tracklite.store.run_tables import RUN_COLUMNS, RunTables, read_runs, read_tables

# Attribute rows of the given run ids and their positions, in the order given.
_RUNS_BY_ID_SQL = (
    f"SELECT {', '.join(f'r.{c}' for c in RUN_COLUMNS)}, i.ord FROM runs r "
    "JOIN (SELECT unnest(?) AS run_id, generate_subscripts(?, 1) AS ord) i USING (run_id) ORDER BY i.ord"
)


def _now_ms() -> int:
    return int(time.time() * 1000)


class DuckDBStore(TrackingStore):
    """A tracklite store in one DuckDB file.

    Args:
        path: The store file; created with its schema on first use.

    Examples:
        >>> import tempfile, os
        >>> store = DuckDBStore(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
        >>> store.get_experiment("0").name
        'Default'
    """

    def __init__(self, path: str) -> None:
        path = os.path.abspath(path)
        self._setup(path, Connector(path, path + ".logs"))

    def _setup(self, uri: str, connector: StoreConnector) -> None:
        self.path = connector.path
        self.uri = uri
        self.logs_dir = connector.logs_dir
        self.connector: StoreConnector = connector
        self.sink = MetricSink(self.connector)
        self._recovered_pid = 0
        self._active_checked: set[str] = set()
        from tracklite.store.registry_store import DuckDBRegistry

        self.registry = DuckDBRegistry(self)

    # -- plumbing -------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[Any]:
        self._prepare_read()
        with self.connector.connect() as con:
            yield con

    @contextmanager
    def _write(self) -> Iterator[Any]:
        self._recover_once()
        with self.connector.transaction() as con:
            yield con

    def _prepare_read(self) -> None:
        self._recover_once()
        if self.sink.has_unapplied():
            self.sink.flush()

    def _recover_once(self) -> None:
        if self._recovered_pid != os.getpid():
            self._recovered_pid = os.getpid()
            self.sink.recover()

    def flush(self) -> None:
        """Make every point logged by this process, and by dead processes whose logs are on
        this machine, durable and visible to queries."""
        self._recover_once()
        self.sink.flush()

    def close(self) -> None:
        """Flush, close this process's log and release the file."""
        self.sink.close()
        self.connector.close()

    # -- experiments ----------------------------------------------------------------

    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: dict[str, str] | None = None
    ) -> str:
        with self._write() as con:
            row = con.execute(
                "SELECT experiment_id, lifecycle_stage FROM experiments WHERE name = ?", [name]
            ).fetchone()
            if row is not None:
                state = (
                    " in deleted state (restore it with `Client().restore_experiment`)" if row[1] == "deleted" else ""
                )
                raise ResourceAlreadyExists(
                    f"Experiment(name={name}) already exists{state}. Error: choose another name."
                )
            next_id = con.execute(
                "SELECT coalesce(max(TRY_CAST(experiment_id AS BIGINT)), -1) + 1 FROM experiments"
            ).fetchone()[0]
            experiment_id = str(next_id)
            now = _now_ms()
            location = artifact_location or f"{ARTIFACT_SCHEME}{experiment_id}"
            con.execute(
                "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, "
                "last_update_time) VALUES (?, ?, ?, 'active', ?, ?)",
                [experiment_id, name, location, now, now],
            )
            for key, value in (tags or {}).items():
                con.execute(
                    "INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?, ?, ?)",
                    [experiment_id, key, value],
                )
            return experiment_id

    def _experiment_row(self, con: Any, where: str, arg: str) -> Experiment | None:
        row = con.execute(
            "SELECT experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time "
            f"FROM experiments WHERE {where} = ?",
            [arg],
        ).fetchone()
        if row is None:
            return None
        tags = dict(con.execute("SELECT key, value FROM experiment_tags WHERE experiment_id = ?", [row[0]]).fetchall())
        return Experiment(row[0], row[1], row[2], row[3], tags, row[4], row[5])

    def get_experiment(self, experiment_id: str) -> Experiment:
        with self._read() as con:
            exp = self._experiment_row(con, "experiment_id", str(experiment_id))
        if exp is None:
            raise ResourceDoesNotExist(
                f"No Experiment with id={experiment_id} exists; list experiments with `tracklite experiments list`"
            )
        return exp

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        with self._read() as con:
            return self._experiment_row(con, "name", name)

    def search_experiments(
        self,
        view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int | None = None,
        order_by: Sequence[str] | None = None,
        filter_string: str | None = None,
    ) -> list[Experiment]:
        from tracklite.search import compile_experiment_search

        stages = LifecycleStage.stages_for(view_type)
        query = compile_experiment_search(stages, filter_string, order_by, max_results)
        with self._read() as con:
            ids = [r[0] for r in con.execute(query.sql, query.params).fetchall()]
            return [e for e in (self._experiment_row(con, "experiment_id", i) for i in ids) if e is not None]

    def _set_experiment_stage(self, experiment_id: str, stage: str) -> None:
        with self._write() as con:
            if self._experiment_row(con, "experiment_id", experiment_id) is None:
                raise ResourceDoesNotExist(f"No Experiment with id={experiment_id} exists")
            now = _now_ms()
            con.execute(
                "UPDATE experiments SET lifecycle_stage = ?, last_update_time = ? WHERE experiment_id = ?",
                [stage, now, experiment_id],
            )
            # As MLflow: deleting an experiment deletes its runs; restoring restores them.
            con.execute(
                "UPDATE runs SET lifecycle_stage = ?, deleted_time = ? WHERE experiment_id = ?",
                [stage, now if stage == LifecycleStage.DELETED else None, experiment_id],
            )

    def delete_experiment(self, experiment_id: str) -> None:
        if str(experiment_id) == "0":
            raise InvalidParameterValue("Cannot delete the default experiment '0'; it is where runs go by default.")
        self._set_experiment_stage(str(experiment_id), LifecycleStage.DELETED)

    def restore_experiment(self, experiment_id: str) -> None:
        self._set_experiment_stage(str(experiment_id), LifecycleStage.ACTIVE)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        with self._write() as con:
            exp = self._experiment_row(con, "experiment_id", experiment_id)
            if exp is None:
                raise ResourceDoesNotExist(f"No Experiment with id={experiment_id} exists")
            if exp.lifecycle_stage != LifecycleStage.ACTIVE:
                raise InvalidParameterValue(f"Cannot rename a non-active experiment {experiment_id}; restore it first.")
            if con.execute("SELECT 1 FROM experiments WHERE name = ?", [new_name]).fetchone():
                raise ResourceAlreadyExists(f"Experiment(name={new_name}) already exists.")
            con.execute(
                "UPDATE experiments SET name = ?, last_update_time = ? WHERE experiment_id = ?",
                [new_name, _now_ms(), experiment_id],
            )

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        with self._write() as con:
            exp = self._experiment_row(con, "experiment_id", experiment_id)
            if exp is None:
                raise ResourceDoesNotExist(f"No Experiment with id={experiment_id} exists")
            if exp.lifecycle_stage != LifecycleStage.ACTIVE:
                raise InvalidParameterValue(
                    f"The experiment {experiment_id} must be in the 'active' state. Current state is deleted."
                )
            con.execute("DELETE FROM experiment_tags WHERE experiment_id = ? AND key = ?", [experiment_id, key])
            con.execute(
                "INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?, ?, ?)", [experiment_id, key, value]
            )

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        with self._write() as con:
            # Counts, not RETURNING: a lake's tables (DuckLake) have no RETURNING.
            (gone,) = con.execute(
                "DELETE FROM experiment_tags WHERE experiment_id = ? AND key = ?", [experiment_id, key]
            ).fetchone()
            if not gone:
                raise ResourceDoesNotExist(f"No tag with name: {key} in experiment with id {experiment_id}")

    # -- runs -----------------------------------------------------------------------

    def create_run(self, experiment_id: str, user_id: str, start_time: int, tags: dict[str, str], run_name: str) -> Run:
        writer = self.sink.ensure_log()
        run_id = uuid.uuid4().hex
        with self._write() as con:
            exp = self._experiment_row(con, "experiment_id", experiment_id)
            if exp is None:
                raise ResourceDoesNotExist(
                    f"Could not find experiment with ID {experiment_id}; create it with "
                    "`tracklite.create_experiment(name)` or choose one from `tracklite experiments list`"
                )
            if exp.lifecycle_stage != LifecycleStage.ACTIVE:
                raise InvalidParameterValue(
                    f"The experiment {experiment_id} must be in the 'active' state. Current state is deleted."
                )
            run_key = con.execute("SELECT coalesce(max(run_key), 0) + 1 FROM runs").fetchone()[0]
            base = exp.artifact_location.rstrip("/")
            artifact_uri = f"{base}/{run_id}/artifacts"
            con.execute(
                "INSERT INTO runs (run_key, run_id, experiment_id, run_name, user_id, status, start_time, "
                "lifecycle_stage, artifact_uri, writer) VALUES (?, ?, ?, ?, ?, 'RUNNING', ?, 'active', ?, ?)",
                [run_key, run_id, experiment_id, run_name, user_id, start_time, artifact_uri, writer],
            )
            _insert_key_values(con, "tags", run_key, run_id, dict(tags))
            # Built from what was just written: a new run has only these tags.
            info = RunInfo(
                run_id, experiment_id, run_name, user_id, "RUNNING", start_time, None, artifact_uri, "active"
            )
            return Run(info, RunData(metrics={}, params={}, tags=dict(tags)))

    def _run_info(self, con: Any, run_id: str) -> tuple[int, RunInfo]:
        row = con.execute(f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE run_id = ?", [run_id]).fetchone()
        if row is None:
            raise _run_not_found(run_id)
        return int(row[0]), RunInfo(*row[1:])

    def get_run(self, run_id: str) -> Run:
        found = self.get_runs([run_id])
        if not found:
            raise _run_not_found(run_id)
        return found[0]

    def _active_run_info(self, con: Any, run_id: str) -> tuple[int, RunInfo]:
        run_key, info = self._run_info(con, run_id)
        if info.lifecycle_stage != LifecycleStage.ACTIVE:
            raise InvalidParameterValue(
                f"The run {run_id} must be in the 'active' state. Current state is {info.lifecycle_stage}; "
                "restore it with `Client().restore_run`."
            )
        return run_key, info

    def update_run_info(
        self, run_id: str, status: str | None = None, end_time: int | None = None, run_name: str | None = None
    ) -> RunInfo:
        with self._write() as con:
            run_key, _ = self._active_run_info(con, run_id)
            if status is not None:
                con.execute("UPDATE runs SET status = ?, end_time = ? WHERE run_id = ?", [status, end_time, run_id])
            if run_name is not None:
                con.execute("UPDATE runs SET run_name = ? WHERE run_id = ?", [run_name, run_id])
                _set_tags(con, run_key, run_id, {"mlflow.runName": run_name})
            return self._run_info(con, run_id)[1]

    def _set_run_stage(self, run_id: str, stage: str) -> None:
        with self._write() as con:
            self._run_info(con, run_id)
            con.execute(
                "UPDATE runs SET lifecycle_stage = ?, deleted_time = ? WHERE run_id = ?",
                [stage, _now_ms() if stage == LifecycleStage.DELETED else None, run_id],
            )
        self._active_checked.discard(run_id)

    def delete_run(self, run_id: str) -> None:
        self._set_run_stage(run_id, LifecycleStage.DELETED)

    def restore_run(self, run_id: str) -> None:
        self._set_run_stage(run_id, LifecycleStage.ACTIVE)

    def log_batch(
        self, run_id: str, metrics: Sequence[Metric] = (), params: Sequence[Param] = (), tags: Sequence[RunTag] = ()
    ) -> None:
        if params or tags:
            with self._write() as con:
                run_key, _ = self._active_run_info(con, run_id)
                existing = dict(con.execute("SELECT key, value FROM params WHERE run_key = ?", [run_key]).fetchall())
                new_params: dict[str, str] = {}
                for p in params:
                    old = existing.get(p.key, new_params.get(p.key))
                    if old is None:
                        new_params[p.key] = p.value
                    elif old != p.value:
                        raise InvalidParameterValue(
                            f"Changing param values is not allowed. Param with key='{p.key}' was already logged "
                            f"with value='{old}' for run ID='{run_id}'. Attempted logging new value '{p.value}'. "
                            "Log it under a new key, or start a new run."
                        )
                _insert_key_values(con, "params", run_key, run_id, new_params)
                new_tags = {t.key: t.value for t in tags}  # the last value of a key wins, as in MLflow
                _set_tags(con, run_key, run_id, new_tags)
                if "mlflow.runName" in new_tags:
                    con.execute("UPDATE runs SET run_name = ? WHERE run_id = ?", [new_tags["mlflow.runName"], run_id])
        if metrics:
            writer = self.metric_writer(run_id)
            for m in metrics:
                writer.log(m.key, m.value, m.step, m.timestamp)

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        """Record datasets ``run_id`` used; one already logged (same name, digest and tags) is
        not added twice, as in MLflow."""
        import json

        with self._write() as con:
            self._active_run_info(con, run_id)
            for d in datasets:
                tags = json.dumps(d.tags, sort_keys=True)
                present = con.execute(
                    "SELECT 1 FROM run_inputs WHERE run_id = ? AND name = ? AND digest = ? AND tags = ?",
                    [run_id, d.name, d.digest, tags],
                ).fetchall()
                if not present:
                    con.execute(
                        "INSERT INTO run_inputs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [run_id, d.name, d.digest, d.source_type, d.source, d.schema, d.profile, tags],
                    )

    def latest_metric_points(self, run_ids: Sequence[str]) -> dict[str, dict[str, Metric]]:
        """The latest point of every metric of each run (with its timestamp and step)."""
        with self._read() as con:
            rows = con.execute(
                "SELECT r.run_id, k.key, l.value, l.timestamp, l.step FROM latest_metrics l "
                "JOIN metric_keys k ON k.key_id = l.key_id JOIN runs r ON r.run_key = l.run_key "
                "WHERE r.run_id IN (SELECT unnest(?))",
                [list(run_ids)],
            ).fetchall()
        out: dict[str, dict[str, Metric]] = {}
        for run_id, key, value, timestamp, step in rows:
            out.setdefault(run_id, {})[key] = Metric(key, value, timestamp, step)
        return out

    def get_run_inputs(self, run_id: str) -> list[DatasetInput]:
        """The datasets ``run_id`` logged, in logging order."""
        import json

        with self._read() as con:
            self._run_info(con, run_id)
            rows = con.execute(
                "SELECT name, digest, source_type, source, schema, profile, tags FROM run_inputs "
                "WHERE run_id = ? ORDER BY rowid",
                [run_id],
            ).fetchall()
        return [
            DatasetInput(name, digest, source_type, source, schema, profile, json.loads(tags))
            for name, digest, source_type, source, schema, profile, tags in rows
        ]

    def delete_tag(self, run_id: str, key: str) -> None:
        with self._write() as con:
            self._active_run_info(con, run_id)
            (gone,) = con.execute("DELETE FROM tags WHERE run_id = ? AND key = ?", [run_id, key]).fetchone()
            if not gone:
                raise ResourceDoesNotExist(f"No tag with name: {key} in run with id {run_id}")

    def metric_writer(self, run_id: str) -> Any:
        """The Rust writer for ``run_id``, after checking once that the run is active.

        Raises:
            ResourceDoesNotExist: if the run does not exist.
            InvalidParameterValue: if it is deleted.
        """
        if run_id not in self._active_checked:
            with self._read() as con:
                self._active_run_info(con, run_id)
            self._active_checked.add(run_id)
        return self.sink.writer(run_id)

    def _metric_rows(self, con: Any, run_id: str, key: str, *, ordered: bool = True) -> Read:
        ids = con.execute(
            "SELECT run_key, (SELECT key_id FROM metric_keys WHERE key = ?) FROM runs WHERE run_id = ?", [key, run_id]
        ).fetchone()
        if ids is None:
            raise _run_not_found(run_id)
        run_key, key_id = ids[0], -1 if ids[1] is None else ids[1]
        # Both ids as plain values: a filter DuckDB pushes into the scan keeps the stored
        # order, where a join on a subquery would come back in parallel, shuffled pieces.
        return Read(
            con,
            "SELECT step, timestamp, value FROM metrics WHERE run_key = ? AND key_id = ?"
            # "value + 0.0", not "value": DuckDB 1.4 rebuilds a sorted column from its sort key,
            # which turns -0.0 into 0.0; the expression keeps the stored value out of the key.
            + (" ORDER BY step, timestamp, value + 0.0" if ordered else ""),
            [run_key, key_id],
        )

    def sync_metrics(self) -> None:
        """Make the points logged through this process durable now (not yet visible to
        other processes: that takes a flush). The server calls this before it answers."""
        self.sink.sync()

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        with self._read() as con:
            rows = self._metric_rows(con, run_id, key).fetchall()
        return [Metric(key, value, timestamp, step) for step, timestamp, value in rows]

    def get_metric_arrays(self, run_id: str, key: str) -> Any:
        import pyarrow as pa

        # Series are nearly always logged in step order, so read them unsorted and only sort
        # (in NumPy) what is not in order yet: a sort in SQL costs more than the read itself.
        # Read as NumPy: one contiguous array per column, which Arrow then shares uncopied.
        with self._read() as con:
            columns = self._metric_rows(con, run_id, key, ordered=False).fetchnumpy()
        return pa.table(_in_step_order(columns))

    def list_runs(
        self, experiment_ids: Sequence[str], view_type: int = ViewType.ACTIVE_ONLY, max_results: int | None = None
    ) -> list[Run]:
        return self.search_runs(experiment_ids, view_type, None, None, max_results)

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        view_type: int = ViewType.ACTIVE_ONLY,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int | None = None,
        offset: int = 0,
    ) -> list[Run]:
        """The runs matching a filter, in search order (see ``docs/search.md``).

        Raises:
            InvalidParameterValue: for a malformed filter or order_by clause.
        """
        query = self._run_search(experiment_ids, view_type, filter_string, order_by, max_results, offset)
        with self._read() as con:
            return read_runs(con, query.sql, query.params)

    def search_run_tables(
        self,
        experiment_ids: Sequence[str],
        view_type: int = ViewType.ACTIVE_ONLY,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int | None = None,
        offset: int = 0,
    ) -> RunTables:
        """``search_runs`` as Arrow tables, for DataFrames of many runs.

        Raises:
            InvalidParameterValue: for a malformed filter or order_by clause.
        """
        query = self._run_search(experiment_ids, view_type, filter_string, order_by, max_results, offset)
        with self._read() as con:
            return read_tables(con, query.sql, query.params)

    @staticmethod
    def _run_search(
        experiment_ids: Sequence[str],
        view_type: int,
        filter_string: str | None,
        order_by: Sequence[str] | None,
        max_results: int | None,
        offset: int,
    ) -> Any:
        from tracklite.search import compile_run_search

        stages = LifecycleStage.stages_for(view_type)
        exp_ids = [str(e) for e in experiment_ids]
        return compile_run_search(exp_ids, stages, filter_string, order_by, max_results, offset)

    def run_tables(self, run_ids: Sequence[str]) -> RunTables:
        """The given runs as Arrow tables, in the given order (unknown ids are left out)."""
        with self._read() as con:
            return read_tables(con, _RUNS_BY_ID_SQL, [list(run_ids), list(run_ids)])

    def get_runs(self, run_ids: Sequence[str]) -> list[Run]:
        """Many runs at once, in the given order (one statement, not several per run)."""
        if not run_ids:
            return []
        with self._read() as con:
            return read_runs(con, _RUNS_BY_ID_SQL, [list(run_ids), list(run_ids)])

    def find_orphaned_runs(self) -> list[str]:
        """Runs still RUNNING whose writing process is gone (killed or crashed)."""
        import fcntl

        with self._read() as con:
            rows = con.execute("SELECT run_id, writer FROM runs WHERE status = 'RUNNING'").fetchall()
        orphans = []
        for run_id, writer in rows:
            if writer == self.sink.log_name and self.sink._log is not None:
                continue
            if writer and not self._is_local_log(writer):
                continue
            path = os.path.join(self.logs_dir, writer or "")
            try:
                with open(path, "rb") as fh:
                    try:
                        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        continue  # the writer holds its log: alive
            except (FileNotFoundError, IsADirectoryError):
                pass
            orphans.append(run_id)
        return orphans

    def _is_local_log(self, name: str) -> bool:
        """Whether the log ``name`` is on this machine, where its process can be checked."""
        return True

    def mark_orphaned_runs_killed(self) -> list[str]:
        """Mark runs left RUNNING by dead processes as KILLED; returns their ids."""
        orphans = self.find_orphaned_runs()
        if orphans:
            with self._write() as con:
                for run_id in orphans:
                    last = con.execute(
                        "SELECT max(timestamp) FROM metrics "
                        "WHERE run_key = (SELECT run_key FROM runs WHERE run_id = ?)",
                        [run_id],
                    ).fetchone()[0]
                    con.execute(
                        "UPDATE runs SET status = ?, end_time = coalesce(?, end_time, ?) WHERE run_id = ? "
                        "AND status = 'RUNNING'",
                        [RunStatus.KILLED, last, _now_ms(), run_id],
                    )
        return orphans

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
        """A new PENDING logged model in ``experiment_id`` (its files come next).

        Raises:
            ResourceDoesNotExist: for an unknown experiment or run.
            InvalidParameterValue: for an empty name or a deleted experiment.
        """
        if not isinstance(name, str) or not name.strip():
            raise InvalidParameterValue("A logged model needs a non-empty name, e.g. log_model(model, name='model').")
        model_id = _logged.new_model_id()
        with self._write() as con:
            exp = self._experiment_row(con, "experiment_id", str(experiment_id))
            if exp is None:
                raise ResourceDoesNotExist(f"No Experiment with id={experiment_id} exists")
            if exp.lifecycle_stage != LifecycleStage.ACTIVE:
                raise InvalidParameterValue(f"Experiment {experiment_id} is deleted; restore it to log models into it.")
            if source_run_id is not None:
                self._run_info(con, source_run_id)
            location = f"{exp.artifact_location.rstrip('/')}/models/{model_id}/artifacts"
            _logged.insert(
                con,
                model_id=model_id,
                experiment_id=str(experiment_id),
                name=name,
                artifact_location=location,
                source_run_id=source_run_id,
                model_type=model_type,
                params={k: str(v) for k, v in (params or {}).items()},
                tags={k: str(v) for k, v in (tags or {}).items()},
                now=_now_ms(),
            )
            return _logged.get(con, [model_id])[0]

    def log_model_files(self, model_id: str, local_dir: str) -> None:
        """Store a model directory's files as the logged model's artifacts and mark it READY.

        All files and the status change land in one transaction: a failure leaves the
        model PENDING with no files.
        """
        with self._write() as con:
            _artifacts.put_dir(con, artifact_root(_logged.get(con, [model_id])[0].artifact_location), local_dir)
            _logged.set_status(con, model_id, LoggedModelStatus.READY, _now_ms())

    def set_logged_model_status(self, model_id: str, status: str) -> None:
        """Set a logged model's status (``READY``, ``FAILED`` or ``PENDING``)."""
        with self._write() as con:
            _logged.set_status(con, model_id, status, _now_ms())

    def set_logged_model_tags(self, model_id: str, tags: dict[str, str]) -> None:
        """Set tags on a logged model."""
        with self._write() as con:
            _logged.set_tags(con, model_id, tags, _now_ms())

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        """Remove a tag from a logged model.

        Raises:
            ResourceDoesNotExist: for an unknown model or tag.
        """
        with self._write() as con:
            _logged.delete_tag(con, model_id, key, _now_ms())

    def log_logged_model_params(self, model_id: str, params: dict[str, str]) -> None:
        """Add params to a logged model.

        Raises:
            InvalidParameterValue: for a param whose value would change.
        """
        with self._write() as con:
            _logged.log_params(con, model_id, params, _now_ms())

    def delete_logged_model(self, model_id: str) -> None:
        """Delete a logged model and its files (chunks are reclaimed by ``gc``)."""
        with self._write() as con:
            _artifacts.delete_root(con, artifact_root(_logged.delete(con, model_id)))

    def get_logged_model(self, model_id: str) -> LoggedModel:
        """A logged model by id.

        Raises:
            ResourceDoesNotExist: for an unknown id.
        """
        with self._read() as con:
            return _logged.get(con, [model_id])[0]

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int | None = None,
        offset: int = 0,
    ) -> list[LoggedModel]:
        """Logged models matching a filter (grammar as ``search_runs``), newest first by default.

        Raises:
            InvalidParameterValue: for a malformed filter or order_by clause.
        """
        from tracklite.search import compile_logged_model_search

        query = compile_logged_model_search(
            [str(e) for e in experiment_ids], filter_string, order_by, max_results, offset
        )
        with self._read() as con:
            ids = [r[0] for r in con.execute(query.sql, query.params).fetchall()]
            return _logged.get(con, ids)

    def find_run_model(self, run_id: str, name: str) -> str | None:
        """The id of the newest READY model that ``run_id`` logged as ``name`` (None if none)."""
        with self._read() as con:
            return _logged.find_by_run(con, run_id, name)

    def logged_model_manifest(self, model_id: str) -> list[tuple[str, int, list[str]]]:
        """Every file of a logged model: ``(relative path, size, chunk digests)``."""
        with self._read() as con:
            return _artifacts.files_under(con, artifact_root(_logged.location(con, model_id)), "")

    def download_logged_model(self, model_id: str, dst_dir: str) -> str:
        """Write a logged model's files into ``dst_dir``; returns ``dst_dir``."""
        with self._read() as con:
            root = artifact_root(_logged.location(con, model_id))
        return _artifacts.write_tree(self.connector.connect, root, "", dst_dir)

    # -- artifacts ------------------------------------------------------------------

    def _artifact_root(self, run_id: str) -> str:
        with self._read() as con:
            return artifact_root(self._run_info(con, run_id)[1].artifact_uri)

    def log_artifact_file(self, run_id: str, local_path: str, artifact_path: str) -> None:
        path = _artifacts.clean_artifact_path(artifact_path)
        if not path:
            raise InvalidParameterValue("An artifact file needs a name; got an empty artifact path.")
        with open(local_path, "rb") as stream, self._write() as con:
            root = artifact_root(self._active_run_info(con, run_id)[1].artifact_uri)
            _artifacts.put_stream(con, root, path, stream)

    def log_artifact_bytes(self, run_id: str, data: bytes, artifact_path: str) -> None:
        path = _artifacts.clean_artifact_path(artifact_path)
        if not path:
            raise InvalidParameterValue("An artifact file needs a name; got an empty artifact path.")
        with self._write() as con:
            root = artifact_root(self._active_run_info(con, run_id)[1].artifact_uri)
            _artifacts.put_stream(con, root, path, io.BytesIO(data))

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        rel = _artifacts.clean_artifact_path(path)
        with self._read() as con:
            root = artifact_root(self._run_info(con, run_id)[1].artifact_uri)
            return _artifacts.list_files(con, root, rel)

    def download_artifacts(self, run_id: str, path: str, dst_path: str) -> str:
        rel = _artifacts.clean_artifact_path(path)
        root = self._artifact_root(run_id)
        _artifacts.write_tree(self.connector.connect, root, rel, dst_path)
        return os.path.join(dst_path, *rel.split("/")) if rel else dst_path

    def read_artifact_bytes(self, run_id: str, path: str) -> bytes:
        rel = _artifacts.clean_artifact_path(path)
        root = self._artifact_root(run_id)
        return b"".join(_artifacts.iter_file(self.connector.connect, root, rel))

    # Artifacts by root (``<exp>/<run>/artifacts``, ``<exp>/models/<id>/artifacts``): what the
    # server's artifact proxy serves. The caller checks the run or model the root belongs to.

    def put_artifact_at(self, root: str, path: str, stream: Any) -> int:
        """Store ``stream``'s bytes as file ``path`` under ``root``; returns its size."""
        rel = _artifacts.clean_artifact_path(path)
        if not rel:
            raise InvalidParameterValue("An artifact file needs a name; got an empty artifact path.")
        with self._write() as con:
            return _artifacts.put_stream(con, root, rel, stream)

    def list_artifacts_at(self, root: str, path: str) -> list[FileInfo]:
        """The direct children of directory ``path`` under ``root`` (empty for a file or nothing)."""
        rel = _artifacts.clean_artifact_path(path)
        with self._read() as con:
            return _artifacts.list_files(con, root, rel)

    def artifact_size_at(self, root: str, path: str) -> int | None:
        """The size of file ``path`` under ``root``, or None if no such file."""
        rel = _artifacts.clean_artifact_path(path)
        with self._read() as con:
            found = _artifacts.file_chunks(con, root, rel)
        return None if found is None else found[0]

    def iter_artifact_at(self, root: str, path: str) -> Iterator[bytes]:
        """The bytes of file ``path`` under ``root``, chunk by chunk.

        Raises:
            ResourceDoesNotExist: if there is no such file.
        """
        return _artifacts.iter_file(self.connector.connect, root, _artifacts.clean_artifact_path(path))

    def delete_artifacts_at(self, root: str, path: str) -> int:
        """Forget file ``path`` under ``root``, or everything below it if it is a directory."""
        rel = _artifacts.clean_artifact_path(path)
        with self._write() as con:
            (removed,) = con.execute(
                "DELETE FROM artifact_files WHERE root = ? AND (? = '' OR path = ? OR starts_with(path, ? || '/'))",
                [root, rel, rel, rel],
            ).fetchone()
        return int(removed)

    def sql(self, query: str, params: Any = None, allow_writes: bool = False) -> Any:
        """Run SQL over the documented views (``tracklite.sql`` explains the rules).

        Statements are parsed and checked before the file is opened; reads see this
        process's points (flushed first) and run in a rolled-back transaction, writes in
        one committed transaction.

        Returns:
            The last statement's result as a ``pyarrow.Table``.

        Raises:
            InvalidParameterValue: for a refused write, invalid SQL or unmatched parameters.
        """
        from tracklite.query import parse_statements, run_statements, views_search_path

        statements = parse_statements(query, allow_writes=allow_writes)
        # The search path is restored after the transaction ends, on the same held connection.
        with self._read() as con, views_search_path(con):
            if not allow_writes:
                return run_statements(con, statements, params, allow_writes=False)
            with self._write() as tx:
                result = run_statements(tx, statements, params, allow_writes=True)
                # Rows written by hand name their run by run_id; searches join on run_key.
                for table in ("params", "tags"):
                    tx.execute(
                        f"UPDATE main.{table} SET run_key = r.run_key FROM main.runs r "
                        f"WHERE main.{table}.run_key IS NULL AND r.run_id = main.{table}.run_id"
                    )
                return result

    # -- maintenance ----------------------------------------------------------------

    def gc(self, older_than_ms: int | None = None) -> dict[str, int]:
        """Permanently remove deleted runs and experiments, then unreferenced artifact bytes.

        Args:
            older_than_ms: Only runs deleted at least this long ago (None: all).

        Returns:
            Counts of removed runs, experiments and artifact chunks.
        """
        cutoff = _now_ms() - older_than_ms if older_than_ms is not None else None
        with self._write() as con:
            runs = con.execute(
                "SELECT run_key, run_id, artifact_uri FROM runs WHERE lifecycle_stage = 'deleted'"
                + (" AND deleted_time <= ?" if cutoff is not None else ""),
                [cutoff] if cutoff is not None else [],
            ).fetchall()
            keys = [r[0] for r in runs]
            ids = [r[1] for r in runs]
            for table, column, values in (
                ("metrics", "run_key", keys),
                ("latest_metrics", "run_key", keys),
                ("params", "run_id", ids),
                ("tags", "run_id", ids),
                ("run_inputs", "run_id", ids),
                ("runs", "run_id", ids),
            ):
                if values:
                    con.execute(f"DELETE FROM {table} WHERE list_contains(?, {column})", [values])
            for _, _, uri in runs:
                _artifacts.delete_root(con, artifact_root(uri))
            # An experiment goes once nothing refers to it: its id may be given out again (the
            # next experiment takes the highest id + 1), and must then inherit nothing, neither
            # runs, logged models nor anyone's permission on the old experiment.
            exps = [
                r[0]
                for r in con.execute(
                    "SELECT experiment_id FROM experiments WHERE lifecycle_stage = 'deleted' AND experiment_id NOT IN "
                    "(SELECT experiment_id FROM runs UNION ALL SELECT experiment_id FROM logged_models)"
                ).fetchall()
            ]
            if exps:
                for table in ("experiment_tags", "experiment_permissions", "experiments"):
                    con.execute(f"DELETE FROM {table} WHERE list_contains(?, experiment_id)", [exps])
            chunks = _artifacts.delete_orphan_chunks(con)
        self._compact()
        return {"runs": len(runs), "experiments": len(exps), "chunks": chunks}

    def _compact(self) -> None:
        # Give the freed blocks back: DuckDB reuses them, but only a checkpoint writes the file anew.
        with self.connector.connect() as con:
            con.execute("CHECKPOINT")

    def check_indexes(self) -> list[IndexProblem]:
        """Unique indexes that miss rows of their table or let a key be stored twice.

        Returns:
            One problem per damaged index (``store.integrity``); empty when all are sound.
        """
        with self._read() as con:
            return check_unique_indexes(con)

    def repair_indexes(self) -> list[IndexProblem]:
        """Rebuild damaged unique indexes; a key stored twice keeps one row and the others
        go to ``set_aside_rows``.

        Returns:
            The problems that were repaired.
        """
        with self._read() as con:  # the repair takes its own transactions
            return repair_unique_indexes(con)

    def stats(self) -> dict[str, Any]:
        """Sizes and counts for ``tracklite doctor``; logs are listed before this open recovers any."""
        found = []
        if os.path.isdir(self.logs_dir):
            for name in sorted(os.listdir(self.logs_dir)):
                if name.endswith(".tlog"):
                    found.append((name, os.path.getsize(os.path.join(self.logs_dir, name))))
        with self._read() as con:
            counts = {
                t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in (
                    "experiments",
                    "runs",
                    "params",
                    "tags",
                    "metrics",
                    "artifact_files",
                    "artifact_chunks",
                    "logged_models",
                    "registered_models",
                    "model_versions",
                    "registry_audit",
                )
            }
            artifact_bytes = con.execute("SELECT coalesce(sum(size), 0) FROM artifact_chunks").fetchone()[0]
            version = con.execute("SELECT max(version) FROM schema_info").fetchone()[0]
            progress = dict(con.execute("SELECT log_name, applied_offset FROM log_progress").fetchall())
        logs = []
        for name, size in found:
            alive = os.path.exists(os.path.join(self.logs_dir, name))
            applied = max(progress.get(name, 8), 8)
            logs.append(
                {
                    "name": name,
                    "bytes": size,
                    "pending_bytes": max(size - applied, 0) if alive else 0,
                    "state": "live" if alive else "recovered now (its process had died)",
                }
            )
        return {
            "path": self.path,
            "schema_version": version,
            "file_bytes": os.path.getsize(self.path) if os.path.exists(self.path) else 0,
            "artifact_bytes": int(artifact_bytes),
            "counts": counts,
            "logs": logs,
        }


def _run_not_found(run_id: str) -> ResourceDoesNotExist:
    return ResourceDoesNotExist(f"Run with id={run_id} not found; runs are listed by `tracklite runs list`")


def _in_step_order(columns: dict[str, Any]) -> dict[str, Any]:
    """``step``, ``timestamp`` and ``value`` arrays ordered by step, then timestamp, then value (NaN last)."""
    import numpy as np

    step = columns["step"]
    if len(step) < 2 or (step[1:] > step[:-1]).all():
        return columns
    ts, value = columns["timestamp"], columns["value"]
    if (step[1:] >= step[:-1]).all():
        # Equal steps: in order if timestamps, then values, do not go backwards within them.
        same_step = step[1:] == step[:-1]
        ts_gap = np.diff(ts)
        if not (ts_gap[same_step] < 0).any():
            same = same_step & (ts_gap == 0)
            later, earlier = value[1:][same], value[:-1][same]
            back = (later < earlier) | (np.isnan(earlier) & ~np.isnan(later))
            if not back.any():
                return columns
    # Out of order, usually in whole blocks (DuckDB inserts and scans row groups in
    # parallel): a stable sort on the step alone is nearly linear on such data, and enough
    # when steps are distinct.
    order = np.argsort(step, kind="stable")
    if not (np.diff(step[order]) > 0).all():
        order = np.lexsort((value, ts, step))  # numpy sorts NaN last, as DuckDB does
    return {name: array[order] for name, array in columns.items()}


def _insert_key_values(con: Any, table: str, run_key: int, run_id: str, items: dict[str, str]) -> None:
    """One INSERT for many rows of ``params`` or ``tags`` (placeholders only; values are bound)."""
    if items:
        rows = ", ".join("(?, ?, ?, ?)" for _ in items)
        flat = [v for key, value in items.items() for v in (run_key, run_id, key, value)]
        con.execute(f"INSERT INTO {table} (run_key, run_id, key, value) VALUES {rows}", flat)


def _set_tags(con: Any, run_key: int, run_id: str, tags: dict[str, str]) -> None:
    """Set (or replace) a run's tags."""
    if tags:
        con.execute("DELETE FROM tags WHERE run_key = ? AND list_contains(?, key)", [run_key, list(tags)])
        _insert_key_values(con, "tags", run_key, run_id, tags)
