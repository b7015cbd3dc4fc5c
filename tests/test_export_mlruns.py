"""``export_mlruns`` read back by real MLflow (its file store) and compared field by field."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
import numpy as np
import pytest
import tracklite
import tracklite.pyfunc
import tracklite.sklearn
from tracklite.entities import ViewType
from tracklite.errors import InvalidParameterValue, ResourceDoesNotExist
from tracklite.exchange.output import INCOMPLETE_MARKER

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


@pytest.fixture
def mlflow_file_store(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """MLflow 3.13+ reads a file store only with this variable set."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    yield
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


@pytest.fixture
def populated(client: tracklite.Client, tmp_path: Path, iris: Any, logreg: Any) -> dict[str, Any]:
    """A store with what an MLflow user has: nested runs, odd keys, NaN, deletions, artifacts, a
    model and a registry."""
    x, _ = iris
    exp = client.create_experiment("exp-ü", tags={"team": "vision", "owner/name": "ana"})
    gone = client.create_experiment("gone")
    tracklite.set_experiment(experiment_id=exp)
    with tracklite.start_run(run_name="parent", description="the parent") as parent:
        tracklite.log_params({"lr": 0.01, "layers/dense": 3, "ñame": "ünï"})
        tracklite.set_tags({"kind": "sweep", "nested/tag": "x/y"})
        for step in range(5):
            tracklite.log_metric("loss", 1.0 / (step + 1), step=step, timestamp=1_700_000_000_000 + step)
            tracklite.log_metric("val/acc", 0.5 + step / 10, step=step * 10)
        tracklite.log_metric("odd", math.nan, step=0)
        tracklite.log_metric("odd", math.inf, step=1)
        tracklite.log_metric("odd", -math.inf, step=2)
        tracklite.log_text("hello", "notes/readme.txt")
        tracklite.log_dict({"a": 1}, "config.json")
        info = tracklite.sklearn.log_model(logreg, name="model", input_example=x.head(3))
        with tracklite.start_run(run_name="child", nested=True) as child:
            tracklite.log_metric("child_m", 2.0)
    with tracklite.start_run(run_name="doomed") as doomed:
        tracklite.log_param("p", "1")
    client.delete_run(doomed.info.run_id)
    with tracklite.start_run(run_name="in-gone", experiment_id=gone):
        tracklite.log_metric("m", 1.0)
    client.delete_experiment(gone)
    client.create_registered_model("iris-model", tags={"rtag": "r"}, description="the iris model")
    v1 = tracklite.register_model(info.model_uri, "iris-model", tags={"vtag": "1"})
    v2 = tracklite.register_model(f"runs:/{parent.info.run_id}/model", "iris-model")
    v3 = tracklite.register_model(info.model_uri, "iris-model")
    client.transition_model_version_stage("iris-model", v1.version, "Staging")
    client.transition_model_version_stage("iris-model", v2.version, "Production")
    client.set_registered_model_alias("iris-model", "champion", v2.version)
    client.update_model_version("iris-model", v2.version, "promoted")
    client.delete_model_version("iris-model", v3.version)
    return {
        "experiments": [exp, gone, "0"],
        "parent": parent.info.run_id,
        "child": child.info.run_id,
        "doomed": doomed.info.run_id,
        "model_id": info.model_id,
    }


def _mlflow_view(uri: str, experiment_ids: list[str]) -> dict[str, Any]:
    """Everything MLflow reports about a store, in comparable form."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = mlflow.MlflowClient(uri, registry_uri=uri)
        exps = {
            e.experiment_id: (e.name, e.lifecycle_stage, e.tags)
            for e in c.search_experiments(view_type=ViewType.ALL)
            if e.experiment_id in experiment_ids
        }
        runs = {}
        for run in c.search_runs(experiment_ids, run_view_type=ViewType.ALL, max_results=1000):
            i = run.info
            histories = {
                key: [(m.step, m.timestamp, m.value) for m in c.get_metric_history(i.run_id, key)]
                for key in run.data.metrics
            }
            runs[i.run_id] = {
                "info": (i.experiment_id, i.run_name, i.user_id, i.status, i.start_time, i.end_time, i.lifecycle_stage),
                "params": run.data.params,
                "tags": run.data.tags,
                "metrics": run.data.metrics,
                "histories": histories,
                "artifacts": sorted(_walk(c, i.run_id, None)),
            }
        models = {}
        for rm in c.search_registered_models():
            versions = {
                int(v.version): (v.current_stage, v.description, v.tags, v.run_id, v.source)
                for v in c.search_model_versions(f"name = '{rm.name}'")
            }
            models[rm.name] = {
                "description": rm.description,
                "tags": rm.tags,
                "aliases": {a: int(v) for a, v in rm.aliases.items()},
                "versions": versions,
            }
    return {"experiments": exps, "runs": runs, "models": models}


def _walk(c: Any, run_id: str, path: str | None) -> Iterator[tuple[str, int | None]]:
    for f in c.list_artifacts(run_id, path):
        if f.is_dir:
            yield from _walk(c, run_id, f.path)
        else:
            yield f.path, f.file_size


def _tracklite_view(client: tracklite.Client, experiment_ids: list[str]) -> dict[str, Any]:
    exps = {
        e.experiment_id: (e.name, e.lifecycle_stage, e.tags)
        for e in client.search_experiments(view_type=ViewType.ALL)
        if e.experiment_id in experiment_ids
    }
    runs = {}
    for run in client.search_runs(experiment_ids, run_view_type=ViewType.ALL, max_results=1000):
        i = run.info
        runs[i.run_id] = {
            "info": (i.experiment_id, i.run_name, i.user_id, i.status, i.start_time, i.end_time, i.lifecycle_stage),
            "params": run.data.params,
            "tags": run.data.tags,
            "metrics": run.data.metrics,
            "histories": {
                key: [(m.step, m.timestamp, m.value) for m in client.get_metric_history(i.run_id, key)]
                for key in run.data.metrics
            },
            "artifacts": sorted(_walk(client, i.run_id, None)),
        }
    models = {}
    for rm in client.search_registered_models():
        models[rm.name] = {
            "description": rm.description,
            "tags": rm.tags,
            "aliases": rm.aliases,
            "versions": {
                v.version: (v.current_stage, v.description, v.tags, v.run_id, v.source)
                for v in client.search_model_versions(f"name = '{rm.name}'")
            },
        }
    return {"experiments": exps, "runs": runs, "models": models}


def _same(a: Any, b: Any) -> bool:
    """Equality with NaN equal to NaN, through nested dicts, lists and tuples."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def test_mlflow_reads_everything_back(
    client: tracklite.Client, populated: dict[str, Any], tmp_path: Path, mlflow_file_store: None, iris: Any
) -> None:
    out = tmp_path / "mlruns"
    counts = tracklite.export_mlruns(str(out))
    assert counts["runs"] == 4 and counts["registered_models"] == 1 and counts["model_versions"] == 2
    assert not (out / INCOMPLETE_MARKER).exists()
    ids = populated["experiments"]
    ours = _tracklite_view(client, ids)
    theirs = _mlflow_view(f"file:{out}", ids)
    assert ours["experiments"] == theirs["experiments"]
    assert ours["runs"].keys() == theirs["runs"].keys()
    for run_id, run in ours["runs"].items():
        for field in run:
            assert _same(run[field], theirs["runs"][run_id][field]), (
                run_id,
                field,
                run[field],
                theirs["runs"][run_id][field],
            )
    assert ours["models"] == theirs["models"]
    # where MLflow keeps deletions: the deleted experiment in .trash, the deleted run in place
    assert (out / ".trash" / populated["experiments"][1] / "meta.yaml").exists()
    assert theirs["runs"][populated["doomed"]]["info"][-1] == "deleted"
    assert theirs["runs"][populated["child"]]["tags"]["mlflow.parentRunId"] == populated["parent"]
    # nested keys are nested paths, as MLflow writes them
    run_dir = out / ids[0] / populated["parent"]
    assert (run_dir / "metrics" / "val" / "acc").exists() and (run_dir / "params" / "layers" / "dense").exists()
    assert (run_dir / "params" / "lr").read_text() == "0.01"

    # the models load in MLflow, by logged-model id, run URI, version, stage and alias
    x, _ = iris
    mlflow.set_tracking_uri(f"file:{out}")
    mlflow.set_registry_uri(f"file:{out}")
    expected = tracklite.pyfunc.load_model(f"models:/{populated['model_id']}").predict(x)
    for uri in (
        f"runs:/{populated['parent']}/model",
        "models:/iris-model/1",
        "models:/iris-model/Production",
        "models:/iris-model@champion",
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = mlflow.pyfunc.load_model(uri).predict(x)
        assert np.array_equal(np.asarray(got), np.asarray(expected)), uri


def test_selection_by_experiment_and_runs_filter(
    client: tracklite.Client, populated: dict[str, Any], tmp_path: Path, mlflow_file_store: None
) -> None:
    exp = populated["experiments"][0]
    out = tmp_path / "some"
    counts = tracklite.export_mlruns(str(out), experiments=["exp-ü"], runs_filter="attributes.run_name = 'parent'")
    assert counts["experiments"] == 1 and counts["runs"] == 1
    theirs = _mlflow_view(f"file:{out}", [exp])
    assert list(theirs["runs"]) == [populated["parent"]]
    with pytest.raises(ResourceDoesNotExist, match="No experiment with name or id 'nope'"):
        tracklite.export_mlruns(str(tmp_path / "none"), experiments=["nope"])


def test_refuses_a_non_empty_folder_and_marks_an_interrupted_export(
    client: tracklite.Client, populated: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(InvalidParameterValue, match="is not empty; pass force=True"):
        tracklite.export_mlruns(str(out))
    assert (out / "keep.txt").read_text() == "mine"
    (out / INCOMPLETE_MARKER).write_text("")  # what a killed export leaves
    with pytest.raises(InvalidParameterValue, match="holds an interrupted export"):
        tracklite.export_mlruns(str(out))
    tracklite.export_mlruns(str(out), force=True)
    assert not (out / "keep.txt").exists() and not (out / INCOMPLETE_MARKER).exists()


def test_cli_export_mentions_the_file_store_switch(populated: dict[str, Any], store_path: str, tmp_path: Path) -> None:
    out = tmp_path / "cli-out"
    env = {**os.environ, "TRACKLITE_TRACKING_URI": store_path}
    tracklite.flush()
    proc = subprocess.run(
        [sys.executable, "-m", "tracklite", "export", "mlruns", str(out)], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert "4 runs" in proc.stdout and "MLFLOW_ALLOW_FILE_STORE=true" in proc.stdout
    again = subprocess.run(
        [sys.executable, "-m", "tracklite", "export", "mlruns", str(out)], capture_output=True, text=True, env=env
    )
    assert again.returncode != 0 and "not empty" in again.stderr and "Traceback" not in again.stderr
