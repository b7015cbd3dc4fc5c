"""What MLflow and tracklite each report about a store, in comparable form: the oracle of the
export tests (tests/test_export_mlruns.py, tests/test_export_mlflow.py)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from typing import Any

import mlflow
import tracklite
from tracklite.entities import ViewType


def mlflow_view(uri: str, experiment_ids: list[str]) -> dict[str, Any]:
    """Everything MLflow reports about a store, in comparable form."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return view(mlflow.MlflowClient(uri, registry_uri=uri), experiment_ids)


def tracklite_view(client: tracklite.Client, experiment_ids: list[str]) -> dict[str, Any]:
    """Everything tracklite reports about its store, in the same form."""
    return view(client, experiment_ids)


def view(c: Any, experiment_ids: list[str]) -> dict[str, Any]:
    """Experiments, runs (every metric point, the artifact files) and the registry, as a client
    with MLflow's API (MLflow's or tracklite's) reports them."""
    exps = {
        e.experiment_id: (e.name, e.lifecycle_stage, e.tags)
        for e in c.search_experiments(view_type=ViewType.ALL)
        if e.experiment_id in experiment_ids
    }
    runs = {}
    for run in c.search_runs(experiment_ids, run_view_type=ViewType.ALL, max_results=1000):
        i = run.info
        runs[i.run_id] = {
            "info": (i.experiment_id, i.run_name, i.user_id, i.status, i.start_time, i.end_time, i.lifecycle_stage),
            "params": run.data.params,
            "tags": run.data.tags,
            "metrics": run.data.metrics,
            "histories": {
                key: [(m.step, m.timestamp, m.value) for m in c.get_metric_history(i.run_id, key)]
                for key in run.data.metrics
            },
            "artifacts": sorted(walk(c, i.run_id, None)),
        }
    models = {}
    for rm in c.search_registered_models():
        models[rm.name] = {
            "description": rm.description,
            "tags": rm.tags,
            "aliases": {a: int(v) for a, v in rm.aliases.items()},
            "versions": {
                int(v.version): (v.current_stage, v.description, v.tags, v.run_id, v.source)
                for v in c.search_model_versions(f"name = '{rm.name}'")
            },
        }
    return {"experiments": exps, "runs": runs, "models": models}


def walk(c: Any, run_id: str, path: str | None) -> Iterator[tuple[str, int | None]]:
    """Every artifact file of a run below ``path``, as ``(path, size)``."""
    for f in c.list_artifacts(run_id, path):
        if f.is_dir:
            yield from walk(c, run_id, f.path)
        else:
            yield f.path, f.file_size


def same(a: Any, b: Any) -> bool:
    """Equality with NaN equal to NaN, through nested dicts, lists and tuples."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)
