"""``export_mlruns``: the store written as an MLflow file store (an ``mlruns`` tree).

The layout is the one MLflow 3 writes (``../shared/MLFLOW_COMPAT.md`` section 1):

    OUT/<experiment_id>/meta.yaml, tags/<key>
    OUT/<experiment_id>/<run_id>/meta.yaml, params/<key>, tags/<key>, metrics/<key>, artifacts/...
    OUT/<experiment_id>/<run_id>/outputs/<model_id>/meta.yaml      (the run logged that model)
    OUT/<experiment_id>/models/<model_id>/meta.yaml, params/, tags/, artifacts/...
    OUT/.trash/<experiment_id>/...                                  (deleted experiments)
    OUT/models/<name>/meta.yaml, tags/<key>, aliases/<alias>
    OUT/models/<name>/version-<n>/meta.yaml, tags/<key>, artifacts/...  (the version's pinned files)

Keys with ``/`` become nested paths, as MLflow writes them. Metric files hold one
``<timestamp> <value> <step>`` line per point, in step order; the lines are formatted by
DuckDB and written straight from Arrow buffers, so exporting millions of points costs no
Python work per point, and runs go a chunk at a time, so memory stays bounded and the store
is only held open briefly. MLflow 3.13 and later read a file store only with
``MLFLOW_ALLOW_FILE_STORE=true``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tracklite.entities import LoggedModelStatus, ModelVersionStage, RunStatus
from tracklite.exchange.output import ExportDir
from tracklite.exchange.progress import Progress
from tracklite.exchange.selection import read_experiments, read_runs, registered_models, select
from tracklite.store.artifacts import artifact_root, write_tree
from tracklite.store.reads import Read
from tracklite.store.schema import quote_literal

#: Runs exported per open of the store (their params, tags and metric lines).
RUN_CHUNK = 100
#: Metric lines fetched per Arrow batch.
LINE_BATCH = 200_000
#: What MLflow needs set to read the tree, said by the command and the docs.
FILE_STORE_NOTE = "MLflow 3.13+ reads a file store only with MLFLOW_ALLOW_FILE_STORE=true set."

#: At most this many points are sorted per query (more only when one metric alone has more).
POINTS_PER_QUERY = 250_000

# The sort carries only numbers; the lines are formatted as the sorted rows stream out.
# The range of run keys lets the scan skip row groups; the series list is joined as a set
# (a list parameter in list_contains is searched row by row on DuckDB 1.4: 1.8x slower).
_METRIC_LINES_SQL = """
SELECT series, ts::VARCHAR || ' ' || value::VARCHAR || ' ' || step::VARCHAR || chr(10) AS line
FROM (
    SELECT (run_key::BIGINT << 32) + key_id AS series, timestamp AS ts, value, step FROM metrics
    WHERE run_key BETWEEN ? AND ? AND (run_key::BIGINT << 32) + key_id IN (SELECT unnest(?::BIGINT[]))
    ORDER BY run_key, key_id, step, timestamp
)
"""
_SERIES_SQL = """
SELECT (m.run_key::BIGINT << 32) + m.key_id AS series, r.run_id, k.key, count(*) AS points
FROM metrics m JOIN runs r USING (run_key) JOIN metric_keys k USING (key_id)
WHERE list_contains(?, r.run_id)
GROUP BY ALL ORDER BY series
"""


def _dump_yaml(path: Path, data: dict[str, Any]) -> None:
    import yaml  # here: importing it costs more than the rest of `import tracklite`

    # libyaml's dumper where PyYAML has it, as MLflow writes its meta.yaml files (5-10x faster).
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    text = yaml.dump(data, Dumper=dumper, default_flow_style=False, sort_keys=True, allow_unicode=False)
    path.write_text(text, encoding="utf-8")


def _file_uri(path: Path) -> str:
    return path.as_uri()


class _Tree:
    """Where each entity goes in the tree."""

    def __init__(self, out: ExportDir, deleted_experiments: set[str]) -> None:
        self.out = out
        self.deleted = deleted_experiments

    def experiment(self, experiment_id: str, *parts: str) -> Path:
        base = (".trash", experiment_id) if experiment_id in self.deleted else (experiment_id,)
        return self.out.path(*base, *parts)

    def run(self, experiment_id: str, run_id: str, *parts: str) -> Path:
        return self.experiment(experiment_id, run_id, *parts)


def _write_key_files(folder: Path, items: Iterable[tuple[str, str]], out: ExportDir) -> None:
    """One file per key (``a/b`` nested), holding the raw value with no trailing newline."""
    folder.mkdir(parents=True, exist_ok=True)
    for key, value in items:
        target = out.path(*folder.relative_to(out.root).parts, *key.split("/"))
        target.write_text(value, encoding="utf-8")


def export_mlruns(
    out: str | os.PathLike[str],
    *,
    tracking_uri: str | None = None,
    experiments: Sequence[str] | None = None,
    runs_filter: str | None = None,
    force: bool = False,
    progress: bool = False,
) -> dict[str, int]:
    """Write the store as an MLflow file store under ``out``.

    Args:
        out: An empty (or new) folder; with ``force`` its contents are replaced.
        tracking_uri: The store; the current tracking URI by default.
        experiments: Experiment names or ids to export (every experiment by default, deleted
            ones included, as MLflow keeps them in ``.trash``).
        runs_filter: A ``search_runs`` filter: only matching runs are exported.
        force: Replace what ``out`` holds.
        progress: Show progress bars.

    Returns:
        Counts of what was written: experiments, runs, metric points, artifact files, logged
        models, registered models and model versions.

    Raises:
        InvalidParameterValue: for a non-empty ``out`` without ``force``, or a bad filter.
        ResourceDoesNotExist: for an unknown experiment.

    Examples:
        >>> import tracklite  # doctest: +SKIP
        >>> tracklite.export_mlruns("mlruns-export")  # doctest: +SKIP
        {'experiments': 2, 'runs': 3, ...}
    """
    from tracklite.tracking.client import Client

    store: Any = Client(tracking_uri).store
    store.flush()
    exp_ids, run_ids = select(store, experiments, runs_filter)
    target = ExportDir(out, force=force)
    counts = dict.fromkeys(
        ("experiments", "runs", "metric_points", "artifact_files", "logged_models", "registered_models",
         "model_versions"),
        0,
    )  # fmt: skip
    bars = Progress(progress)
    with bars.running():
        with store._read() as con:
            deleted = {
                r[0]
                for r in con.execute(
                    "SELECT experiment_id FROM experiments WHERE lifecycle_stage = 'deleted' "
                    "AND list_contains(?, experiment_id)",
                    [exp_ids],
                ).fetchall()
            }
        tree = _Tree(target, deleted)
        counts["experiments"] = _export_experiments(store, tree, exp_ids)
        task = bars.task("runs", len(run_ids))
        for start in range(0, len(run_ids), RUN_CHUNK):
            chunk = run_ids[start : start + RUN_CHUNK]
            points, files = _export_runs(store, tree, chunk)
            counts["runs"] += len(chunk)
            counts["metric_points"] += points
            counts["artifact_files"] += files
            bars.advance(task, len(chunk))
        counts["logged_models"] = _export_logged_models(store, tree, exp_ids, set(run_ids), runs_filter is not None)
        counts["registered_models"], counts["model_versions"] = _export_registry(store, target, bars)
    target.finish()
    return counts


def _export_experiments(store: Any, tree: _Tree, exp_ids: list[str]) -> int:
    rows, tags = read_experiments(store, exp_ids)
    for exp_id, name, stage, created, updated in rows:
        folder = tree.experiment(exp_id)
        folder.mkdir(parents=True, exist_ok=True)
        _dump_yaml(
            tree.experiment(exp_id, "meta.yaml"),
            {
                "artifact_location": _file_uri(folder),
                "creation_time": created,
                "experiment_id": str(exp_id),
                "last_update_time": updated,
                "lifecycle_stage": stage,
                "name": name,
            },
        )
        _write_key_files(tree.experiment(exp_id, "tags"), tags.get(exp_id, {}).items(), tree.out)
    return len(rows)


def _export_runs(store: Any, tree: _Tree, run_ids: list[str]) -> tuple[int, int]:
    """One chunk of runs: meta.yaml, params, tags, metric files and artifacts."""
    runs, by_run = read_runs(store, run_ids)
    experiment_of = {r.run_id: r.experiment_id for r in runs}
    files = 0
    for run_id, exp_id, run_name, user, status, start, end, stage, deleted_time, artifact_uri, _ in runs:
        meta: dict[str, Any] = {
            "artifact_uri": _file_uri(tree.run(exp_id, run_id, "artifacts")),
            "end_time": end,
            "entry_point_name": "",
            "experiment_id": str(exp_id),
            "lifecycle_stage": stage,
            "run_id": run_id,
            "run_name": run_name,
            "source_name": "",
            "source_type": 4,
            "source_version": "",
            "start_time": start,
            "status": RunStatus.from_string(status),
            "tags": [],
            "user_id": user,
        }
        if deleted_time is not None:
            meta["deleted_time"] = deleted_time
        for sub in ("artifacts", "metrics", "params", "tags"):
            tree.run(exp_id, run_id, sub).mkdir(parents=True, exist_ok=True)
        _dump_yaml(tree.run(exp_id, run_id, "meta.yaml"), meta)
        _write_key_files(tree.run(exp_id, run_id, "params"), by_run[run_id][0], tree.out)
        _write_key_files(tree.run(exp_id, run_id, "tags"), by_run[run_id][1], tree.out)
        files += _export_artifacts(store, artifact_root(artifact_uri), tree.run(exp_id, run_id, "artifacts"))
    points = _export_metric_lines(store, tree, experiment_of)
    return points, files


def _export_artifacts(store: Any, root: str, dst: Path) -> int:
    with store._read() as con:
        (n,) = con.execute("SELECT count(*) FROM artifact_files WHERE root = ?", [root]).fetchone()
    if n:
        write_tree(store.connector.connect, root, "", str(dst))
    return int(n)


def _export_metric_lines(store: Any, tree: _Tree, experiment_of: dict[str, str]) -> int:
    """Every point of the chunk's runs, appended to its metric file from Arrow's string buffers,
    a bounded number of points per query."""
    with store._read() as con:
        series = con.execute(_SERIES_SQL, [list(experiment_of)]).fetchall()
    paths = {sid: tree.run(experiment_of[run_id], run_id, "metrics", *key.split("/")) for sid, run_id, key, _ in series}
    batch: list[int] = []
    size = 0
    points = 0
    for sid, _run_id, _key, n in series:
        if batch and size + n > POINTS_PER_QUERY:
            points += _write_series(store, tree, batch, paths)
            batch, size = [], 0
        batch.append(sid)
        size += n
    if batch:
        points += _write_series(store, tree, batch, paths)
    return points


def _write_series(store: Any, tree: _Tree, series: list[int], paths: dict[int, Path]) -> int:
    import numpy as np
    import pyarrow as pa

    run_keys = sorted({sid >> 32 for sid in series})
    points = 0
    current: tuple[int, Any] | None = None  # (series, open file)
    try:
        with store._read() as con:
            result = Read(con, _METRIC_LINES_SQL, [run_keys[0], run_keys[-1], series])
            for batch in result.fetch_record_batch(LINE_BATCH):
                if batch.num_rows == 0:
                    continue
                ids = batch.column(0).to_numpy()
                lines = batch.column(1).cast(pa.large_string())
                offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)
                offsets = offsets[lines.offset : lines.offset + len(lines) + 1]
                data = memoryview(lines.buffers()[2])  # type: ignore[arg-type]
                # Each run of equal ids is one metric's contiguous block of lines.
                cuts = np.flatnonzero(np.diff(ids)) + 1
                for start, end in zip(np.r_[0, cuts], np.r_[cuts, len(ids)], strict=True):
                    sid = int(ids[start])
                    if current is None or current[0] != sid:
                        if current is not None:
                            current[1].close()
                        current = (sid, tree.out.path(*paths[sid].relative_to(tree.out.root).parts).open("ab"))
                    current[1].write(data[offsets[start] : offsets[end]])
                points += batch.num_rows
    finally:
        if current is not None:
            current[1].close()
    return points


def _export_logged_models(store: Any, tree: _Tree, exp_ids: list[str], run_ids: set[str], runs_filtered: bool) -> int:
    with store._read() as con:
        rows = con.execute(
            "SELECT model_id, experiment_id, name, source_run_id, artifact_location, status, model_type, "
            "creation_timestamp, last_updated_timestamp FROM logged_models WHERE list_contains(?, experiment_id) "
            "ORDER BY creation_timestamp",
            [exp_ids],
        ).fetchall()
        extras = con.execute(
            "SELECT 'params', model_id, key, value FROM logged_model_params UNION ALL "
            "SELECT 'tags', model_id, key, value FROM logged_model_tags ORDER BY 3"
        ).fetchall()
    written = 0
    for model_id, exp_id, name, run_id, location, status, model_type, created, updated in rows:
        if runs_filtered and run_id not in run_ids:
            continue
        folder = tree.experiment(exp_id, "models", model_id)
        for sub in ("artifacts", "metrics", "params", "tags"):
            tree.experiment(exp_id, "models", model_id, sub).mkdir(parents=True, exist_ok=True)
        _dump_yaml(
            tree.experiment(exp_id, "models", model_id, "meta.yaml"),
            {
                "artifact_location": _file_uri(folder / "artifacts"),
                "creation_timestamp": created,
                "experiment_id": str(exp_id),
                "last_updated_timestamp": updated,
                "model_id": model_id,
                "model_type": model_type,
                "name": name,
                "source_run_id": run_id,
                "status": LoggedModelStatus.to_int(status),
                "status_message": None,
            },
        )
        for kind in ("params", "tags"):
            items = [(k, v) for what, m, k, v in extras if what == kind and m == model_id]
            _write_key_files(tree.experiment(exp_id, "models", model_id, kind), items, tree.out)
        _export_artifacts(store, artifact_root(location), folder / "artifacts")
        if run_id is not None and run_id in run_ids:
            _dump_yaml(
                tree.run(exp_id, run_id, "outputs", model_id, "meta.yaml"),
                {
                    "destination_id": model_id,
                    "destination_type": "MODEL_OUTPUT",
                    "source_id": model_id,
                    "source_type": "RUN_OUTPUT",
                    "step": 0,
                    "tags": {},
                },
            )
        written += 1
    return written


def _export_registry(store: Any, out: ExportDir, bars: Progress) -> tuple[int, int]:
    registry = store.registry
    models = registered_models(store)
    task = bars.task("registered models", len(models))
    versions_written = 0
    with store._read() as con:
        deleted_rows = con.execute(
            "SELECT m.name, v.version, v.creation_timestamp, v.last_updated_timestamp, v.source, v.run_id, v.user_id "
            "FROM model_versions v JOIN registered_models m USING (model_key) WHERE v.current_stage = ?",
            [ModelVersionStage.DELETED_INTERNAL],
        ).fetchall()
    for model in models:
        base = ("models", model.name)
        out.path(*base).mkdir(parents=True, exist_ok=True)
        _dump_yaml(
            out.path(*base, "meta.yaml"),
            {
                "aliases": {alias: str(v) for alias, v in model.aliases.items()},
                "creation_timestamp": model.creation_timestamp,
                "description": model.description,
                "last_updated_timestamp": model.last_updated_timestamp,
                "name": model.name,
            },
        )
        _write_key_files(out.path(*base, "tags"), model.tags.items(), out)
        for alias, version in model.aliases.items():
            out.path(*base, "aliases", alias).write_text(str(version), encoding="utf-8")
        versions = registry.search_model_versions(
            f"name = {quote_literal(model.name)}", None, ["version_number ASC"], 0
        )
        for mv in versions:
            files = out.path(*base, f"version-{mv.version}", "artifacts")
            files.mkdir(parents=True, exist_ok=True)
            registry.download_model_version(mv, str(files))
            _write_version(out, base, mv.version, {
                "creation_timestamp": mv.creation_timestamp,
                "current_stage": mv.current_stage,
                "description": mv.description,
                "last_updated_timestamp": mv.last_updated_timestamp,
                "model_id": mv.model_id,
                "name": model.name,
                "run_id": mv.run_id,
                "run_link": mv.run_link,
                "source": mv.source,
                "status": "READY",
                "status_message": None,
                "storage_location": _file_uri(files),
                "user_id": mv.user_id,
                "version": mv.version,
            })  # fmt: skip
            _write_key_files(out.path(*base, f"version-{mv.version}", "tags"), mv.tags.items(), out)
            versions_written += 1
        # Deleted versions keep their folder (stage Deleted_Internal), so MLflow never reuses the number.
        for name, number, created, updated, source, run_id, user in deleted_rows:
            if name == model.name:
                _write_version(out, base, number, {
                    "creation_timestamp": created,
                    "current_stage": ModelVersionStage.DELETED_INTERNAL,
                    "description": None,
                    "last_updated_timestamp": updated,
                    "name": name,
                    "run_id": run_id,
                    "source": source,
                    "status": "READY",
                    "user_id": user,
                    "version": number,
                })  # fmt: skip
        bars.advance(task)
    return len(models), versions_written


def _write_version(out: ExportDir, base: tuple[str, str], version: int, meta: dict[str, Any]) -> None:
    folder = (*base, f"version-{version}")
    out.path(*folder, "tags").mkdir(parents=True, exist_ok=True)
    _dump_yaml(out.path(*folder, "meta.yaml"), meta)


__all__ = ["FILE_STORE_NOTE", "export_mlruns"]
