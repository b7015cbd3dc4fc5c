"""``export_mlflow`` into real MLflow backends (its SQLite store, a tracking server), read back
with ``mlflow.MlflowClient`` and compared field by field; interrupted exports completed."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
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
from mlflow_views import mlflow_view, same, tracklite_view
from tracklite.entities import Metric, Param, RunTag, ViewType
from tracklite.errors import InvalidParameterValue, ResourceAlreadyExists, TrackliteError
from tracklite.exchange.mlflow_export import (
    COMPLETE_TAG,
    ORIGIN_TAG,
    SOURCE_EXPERIMENT_TAG,
    SOURCE_MODEL_TAG,
    SOURCE_RUN_TAG,
    SOURCE_VERSION_TAG,
    VERSIONS_TAG,
)

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")
_OURS = {SOURCE_RUN_TAG, SOURCE_EXPERIMENT_TAG, SOURCE_MODEL_TAG, SOURCE_VERSION_TAG, COMPLETE_TAG}


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty MLflow SQLite store, made once: creating one runs MLflow's migrations (seconds)."""
    folder = tmp_path_factory.mktemp("mlflow-template")
    path = folder / "mlflow.db"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


def _copy_template(template: Path, folder: Path) -> Path:
    """The template copied into ``folder``, its Default experiment's artifacts there too."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "mlflow.db"
    shutil.copy(template, path)
    with sqlite3.connect(path) as con:
        con.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0", [str(folder / "mlruns/0")])
    return path


@pytest.fixture
def target(template_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh MLflow SQLite store's URI; new experiments keep their artifacts in the test's folder."""
    monkeypatch.chdir(tmp_path)  # MLflow's default artifact root for a database is ./mlruns
    yield f"sqlite:///{_copy_template(template_db, tmp_path / 'target')}"
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(template_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``mlflow server`` (one worker, artifacts proxied), started once for the module."""
    folder = tmp_path_factory.mktemp("mlflow-server")
    db = _copy_template(template_db, folder)
    port = _free_port()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    env.pop("MLFLOW_TRACKING_URI", None)
    with (folder / "server.log").open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
             "--backend-store-uri", f"sqlite:///{db}", "--artifacts-destination", str(folder / "artifacts")],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=folder, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"mlflow server did not start:\n{(folder / 'server.log').read_text()[-3000:]}")
                time.sleep(0.2)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and its worker, a group of their own
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# -- the target as the store's ids --------------------------------------------------------------


def _clamped(value: Any) -> Any:
    """What MLflow's SQL stores keep of ±inf: ±max float."""
    return math.copysign(sys.float_info.max, value) if isinstance(value, float) and math.isinf(value) else value


def _store_view(client: tracklite.Client, experiment_ids: list[str]) -> dict[str, Any]:
    view = tracklite_view(client, experiment_ids)
    for run in view["runs"].values():
        run["metrics"] = {k: _clamped(v) for k, v in run["metrics"].items()}
        run["histories"] = {k: [(s, t, _clamped(v)) for s, t, v in h] for k, h in run["histories"].items()}
    view["logged_models"] = {
        m.model_id: (m.experiment_id, m.name, m.source_run_id, m.status, m.model_type, m.params, m.tags)
        for m in client.search_logged_models(experiment_ids)
    }
    return view


def _target_view(uri: str) -> dict[str, Any]:
    """``mlflow_view`` of the target with the store's ids in place of the target's (from the tags
    the export writes), checking that each entity was copied exactly once."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = mlflow.MlflowClient(uri, registry_uri=uri)
        exp_ids = {
            e.experiment_id: e.tags[SOURCE_EXPERIMENT_TAG]
            for e in c.search_experiments(view_type=ViewType.ALL)
            if SOURCE_EXPERIMENT_TAG in e.tags
        }
        view = mlflow_view(uri, list(exp_ids))
        models = [m for m in c.search_logged_models(list(exp_ids)) if SOURCE_MODEL_TAG in m.tags]
    run_ids = {tid: run["tags"][SOURCE_RUN_TAG] for tid, run in view["runs"].items()}
    model_ids = {m.model_id: m.tags[SOURCE_MODEL_TAG] for m in models}
    assert len(set(run_ids.values())) == len(run_ids), "a run was copied twice"
    assert len(set(model_ids.values())) == len(model_ids), "a logged model was copied twice"
    runs = {}
    for tid, run in view["runs"].items():
        assert run["tags"][COMPLETE_TAG] == "true"
        tags = {k: v for k, v in run["tags"].items() if k not in _OURS}
        if "mlflow.parentRunId" in tags:
            tags["mlflow.parentRunId"] = run_ids.get(tags["mlflow.parentRunId"], tags["mlflow.parentRunId"])
        runs[run_ids[tid]] = {**run, "info": (exp_ids[run["info"][0]], *run["info"][1:]), "tags": tags}
    registry = {}
    for name, model in view["models"].items():
        registry[name] = {
            **model,
            "tags": {k: v for k, v in model["tags"].items() if k not in (ORIGIN_TAG, VERSIONS_TAG)},
            "versions": {
                n: (stage, description or None, tags, run_ids.get(run_id or ""), _source(source, model_ids))
                for n, (stage, description, tags, run_id, source) in model["versions"].items()
            },
        }
    return {
        "experiments": {
            exp_ids[e]: (name, stage, {k: v for k, v in tags.items() if k not in _OURS})
            for e, (name, stage, tags) in view["experiments"].items()
        },
        "runs": runs,
        "models": registry,
        "logged_models": {
            model_ids[m.model_id]: (
                exp_ids[m.experiment_id],
                m.name,
                run_ids.get(m.source_run_id or ""),
                str(m.status),
                m.model_type or None,  # None comes back as "" from a server
                m.params,
                {k: v for k, v in m.tags.items() if k not in _OURS and k != "mlflow.modelVersions"},
            )
            for m in models
        },
    }


def _source(source: str, model_ids: dict[str, str]) -> str:
    model_id = source.removeprefix("models:/")
    return f"models:/{model_ids[model_id]}" if model_id in model_ids else source


def _assert_same_history(client: tracklite.Client, experiment_ids: list[str], uri: str) -> dict[str, Any]:
    ours, theirs = _store_view(client, experiment_ids), _target_view(uri)
    assert ours["experiments"] == theirs["experiments"]
    assert ours["runs"].keys() == theirs["runs"].keys()
    for run_id, run in ours["runs"].items():
        for field in run:
            assert same(run[field], theirs["runs"][run_id][field]), (run_id, field, theirs["runs"][run_id][field])
    assert ours["logged_models"] == theirs["logged_models"]
    assert ours["models"] == theirs["models"]
    return theirs


def _load(uri: str, model_uri: str) -> Any:
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mlflow.pyfunc.load_model(model_uri)


def _target_ids(uri: str, source_run: str, source_model: str) -> tuple[str, str]:
    c = mlflow.MlflowClient(uri)
    (run,) = c.search_runs(
        [e.experiment_id for e in c.search_experiments()], f"tags.`{SOURCE_RUN_TAG}` = '{source_run}'"
    )
    (model,) = [m for m in c.search_logged_models([run.info.experiment_id]) if m.tags[SOURCE_MODEL_TAG] == source_model]
    return run.info.run_id, model.model_id


# -- tests ----------------------------------------------------------------------------------------


def test_mlflow_reads_everything_back(
    client: tracklite.Client, rich_store: dict[str, Any], target: str, iris: Any
) -> None:
    counts = tracklite.export_mlflow(target)
    assert counts["runs"] == 4 and counts["logged_models"] == 1
    assert counts["registered_models"] == 1 and counts["model_versions"] == 2
    theirs = _assert_same_history(client, rich_store["experiments"], target)
    assert theirs["runs"][rich_store["doomed"]]["info"][-1] == "deleted"
    assert theirs["experiments"][rich_store["experiments"][1]][1] == "deleted"
    assert theirs["runs"][rich_store["child"]]["tags"]["mlflow.parentRunId"] == rich_store["parent"]
    assert theirs["models"]["iris-model"]["aliases"] == {"champion": 2}

    # the run lists its logged model among its outputs, as MLflow's log_model records it
    run_id, model_id = _target_ids(target, rich_store["parent"], rich_store["model_id"])
    assert [o.model_id for o in mlflow.MlflowClient(target).get_run(run_id).outputs.model_outputs] == [model_id]

    # the model loads in MLflow by run, logged model, version, stage and alias
    x, _ = iris
    expected = tracklite.pyfunc.load_model(f"models:/{rich_store['model_id']}").predict(x)
    for uri in (
        f"runs:/{run_id}/model",
        f"models:/{model_id}",
        "models:/iris-model/1",
        "models:/iris-model/Production",
        "models:/iris-model@champion",
    ):
        assert np.array_equal(np.asarray(_load(target, uri).predict(x)), np.asarray(expected)), uri

    # a second export changes nothing and says so
    again = tracklite.export_mlflow(target)
    assert {k: n for k, n in again.items() if n} == {
        "experiments_skipped": 3,
        "runs_skipped": 4,
        "logged_models_skipped": 1,
        "registered_models_skipped": 1,
        "model_versions_skipped": 2,
    }
    assert same(_target_view(target), theirs)


def test_a_tracking_server_as_the_target(
    client: tracklite.Client, rich_store: dict[str, Any], server: str, iris: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    counts = tracklite.export_mlflow(server)
    assert counts["runs"] == 4 and counts["model_versions"] == 2
    _assert_same_history(client, rich_store["experiments"], server)
    run_id, _ = _target_ids(server, rich_store["parent"], rich_store["model_id"])
    x, _ = iris
    expected = tracklite.pyfunc.load_model(f"models:/{rich_store['model_id']}").predict(x)
    try:
        for uri in (f"runs:/{run_id}/model", "models:/iris-model@champion"):
            assert np.array_equal(np.asarray(_load(server, uri).predict(x)), np.asarray(expected)), uri
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
    assert tracklite.export_mlflow(server)["runs_skipped"] == 4


def test_selection_keeps_registered_versions_loadable(
    client: tracklite.Client, rich_store: dict[str, Any], target: str, iris: Any
) -> None:
    """Without the run that logged the model, each version gets a logged model of its own that
    holds the version's files, in experiment 0."""
    counts = tracklite.export_mlflow(target, experiments=["exp-ü"], runs_filter="attributes.run_name = 'child'")
    assert counts["runs"] == 1 and counts["logged_models"] == 0 and counts["model_versions"] == 2
    c = mlflow.MlflowClient(target)
    (run,) = c.search_runs([e.experiment_id for e in c.search_experiments()])
    assert run.data.tags[SOURCE_RUN_TAG] == rich_store["child"]
    holders = {m.tags[SOURCE_VERSION_TAG]: m for m in c.search_logged_models(["0"])}
    assert sorted(holders) == ["iris-model/1", "iris-model/2", "iris-model/3"]
    x, _ = iris
    expected = tracklite.pyfunc.load_model(f"models:/{rich_store['model_id']}").predict(x)
    got = _load(target, "models:/iris-model/Production").predict(x)
    assert np.array_equal(np.asarray(got), np.asarray(expected))
    assert (
        tracklite.export_mlflow(target, experiments=["exp-ü"], runs_filter="attributes.run_name = 'child'")[
            "model_versions_skipped"
        ]
        == 2
    )
    assert len(c.search_logged_models(["0"])) == 3


@pytest.mark.parametrize(
    ("method", "call", "after"),
    [
        ("log_batch", 2, False),
        ("log_artifacts", 1, True),
        ("log_model_artifacts", 1, False),
        ("log_outputs", 1, True),
        ("set_terminated", 3, True),
        ("create_model_version", 3, True),
        ("delete_model_version", 1, False),
        ("delete_experiment", 1, False),
    ],
)
def test_an_interrupted_export_completes_when_run_again(
    client: tracklite.Client,
    rich_store: dict[str, Any],
    target: str,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    call: int,
    after: bool,
) -> None:
    """The process dies just before (or after) the n-th call of a kind; the next export ends
    with one whole copy of everything."""
    real = getattr(mlflow.MlflowClient, method)
    calls = 0

    def dying(self: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == call and not after:
            raise KeyboardInterrupt
        result = real(self, *args, **kwargs)
        if calls == call:
            raise KeyboardInterrupt
        return result

    monkeypatch.setattr(mlflow.MlflowClient, method, dying)
    with pytest.raises(KeyboardInterrupt):
        tracklite.export_mlflow(target)
    monkeypatch.setattr(mlflow.MlflowClient, method, real)
    tracklite.export_mlflow(target)
    theirs = _assert_same_history(client, rich_store["experiments"], target)
    again = tracklite.export_mlflow(target)
    assert again["runs"] == again["model_versions"] == again["logged_models"] == 0
    assert same(_target_view(target), theirs)


def test_batches_stay_within_mlflow_limits(
    client: tracklite.Client, target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many params, long (non-ASCII) tags and a long history: every ``log_batch`` call is within
    MLflow's counts and well inside its 1 MB request, and nothing is lost between calls."""
    run_id = client.create_run(client.create_experiment("wide"), run_name="wide").info.run_id
    params = [Param(f"p{i:03d}", str(i) * 2000) for i in range(250)]
    tags = [RunTag(f"t{i:03d}", "ü" * 7000) for i in range(150)]
    for start in range(0, 250, 100):
        client.log_batch(run_id, params=params[start : start + 100], tags=tags[start : start + 100])
    points = [Metric("m", float(i), 1_700_000_000_000, i) for i in range(999)]
    points += [Metric("m", -i - 0.5, 1_700_000_000_000, i) for i in range(1001)]
    for start in range(0, len(points), 1000):
        client.log_batch(run_id, metrics=points[start : start + 1000])
    client.set_terminated(run_id)
    running = client.create_run(client.get_experiment_by_name("wide").experiment_id, run_name="running")
    killed = client.create_run(client.get_experiment_by_name("wide").experiment_id, run_name="killed")
    client.set_terminated(killed.info.run_id, "KILLED", end_time=killed.info.start_time + 5)
    real, calls = mlflow.MlflowClient.log_batch, []

    def counting(self: Any, run: str, metrics: Any = (), params: Any = (), tags: Any = (), **kw: Any) -> Any:
        size = len(json.dumps([[e.key, str(getattr(e, "value", ""))] for e in [*metrics, *params, *tags]]))
        calls.append((len(metrics), len(params), len(tags), size))
        return real(self, run, metrics, params, tags, **kw)

    monkeypatch.setattr(mlflow.MlflowClient, "log_batch", counting)
    assert tracklite.export_mlflow(target, experiments=["wide"])["metric_points"] == 2000
    assert all(m <= 1000 and p <= 100 and t <= 100 and m + p + t <= 1000 and size < 1e6 for m, p, t, size in calls)
    c = mlflow.MlflowClient(target)
    runs = {r.info.run_name: r for r in c.search_runs([c.get_experiment_by_name("wide").experiment_id])}
    for name, source in (("running", running), ("killed", client.get_run(killed.info.run_id))):
        i, j = runs[name].info, source.info
        assert (i.status, i.start_time, i.end_time) == (j.status, j.start_time, j.end_time), name
    run = runs["wide"]
    assert run.data.params == {p.key: p.value for p in params}
    assert {k: v for k, v in run.data.tags.items() if k[0] == "t" and k[1:].isdigit()} == {t.key: t.value for t in tags}
    history = c.get_metric_history(run.info.run_id, "m")
    assert sorted((m.step, m.value) for m in history) == sorted((p.step, p.value) for p in points)


def _long_runs(path: str, runs: int, points: int) -> list[str]:
    tracklite.set_tracking_uri(path)
    tracklite.set_experiment("long")
    ids = []
    for i in range(runs):
        with tracklite.start_run(run_name=f"r{i}") as run:
            tracklite.log_params({"i": i, "kind": "long"})
            steps = np.arange(points)
            tracklite.log_metric_series("loss", 1.0 / (steps + 1), steps=steps)
            tracklite.log_metric_series("acc", steps / points, steps=steps)
            tracklite.log_text(f"run {i}", "notes.txt")
        ids.append(run.info.run_id)
    tracklite.flush()
    return ids


def _copies(db: Path) -> tuple[int, int]:
    """(complete, partial) run copies in an MLflow SQLite store, read with sqlite3."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.1) as con:
            rows = con.execute(
                "SELECT t.run_uuid, max(c.value) FROM tags t LEFT JOIN tags c ON c.run_uuid = t.run_uuid "
                "AND c.key = ? WHERE t.key = ? GROUP BY t.run_uuid",
                [COMPLETE_TAG, SOURCE_RUN_TAG],
            ).fetchall()
    except sqlite3.OperationalError:  # locked, or not created yet
        return 0, 0
    complete = sum(1 for _, mark in rows if mark == "true")
    return complete, len(rows) - complete


def test_cli_export_killed_mid_run_resumes(
    store_path: str, template_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source_ids = _long_runs(store_path, runs=4, points=1000)
    db = _copy_template(template_db, tmp_path / "target")
    uri = f"sqlite:///{db}"
    env = {**os.environ, "TRACKLITE_TRACKING_URI": store_path}
    command = [sys.executable, "-m", "tracklite", "export", "mlflow", "--to", uri]
    proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        complete, partial = _copies(db)
        if complete >= 1 and partial >= 1:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert _copies(db)[1] >= 1, "the export was not caught in the middle of a run"

    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "already present, left as they were" in done.stdout and "Traceback" not in done.stderr
    assert _copies(db) == (4, 0)
    c = mlflow.MlflowClient(uri)
    runs = c.search_runs([c.get_experiment_by_name("long").experiment_id], run_view_type=ViewType.ALL)
    assert sorted(r.data.tags[SOURCE_RUN_TAG] for r in runs) == sorted(source_ids)
    for run in runs:
        for key in ("loss", "acc"):
            history = c.get_metric_history(run.info.run_id, key)
            assert [m.step for m in history] == list(range(1000))
        assert [f.path for f in c.list_artifacts(run.info.run_id)] == ["notes.txt"]

    assert tracklite.export_mlflow(uri, tracking_uri=store_path)["runs_skipped"] == 4


def test_a_registered_model_the_export_did_not_make_is_refused(
    client: tracklite.Client, rich_store: dict[str, Any], target: str
) -> None:
    mlflow.MlflowClient(target, registry_uri=target).create_registered_model("iris-model")
    with pytest.raises(
        ResourceAlreadyExists, match=r"already has a registered model 'iris-model'.*nothing was written"
    ):
        tracklite.export_mlflow(target)
    c = mlflow.MlflowClient(target)
    assert [e.name for e in c.search_experiments(view_type=ViewType.ALL)] == ["Default"]


def test_bad_targets_are_named(store_path: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterValue, match=r"not an MLflow tracking URI.*sqlite:///mlflow\.db"):
        tracklite.export_mlflow(str(tmp_path / "mlflow.db"))
    with pytest.raises(InvalidParameterValue, match="cannot use 'nope://x'"):
        tracklite.export_mlflow("nope://x")
    nobody = f"http://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    with pytest.raises(TrackliteError, match=f"No MLflow tracking server answers at {nobody}"):
        tracklite.export_mlflow(nobody)
    assert time.monotonic() - started < 10
    env = {**os.environ, "TRACKLITE_TRACKING_URI": store_path}
    proc = subprocess.run(
        [sys.executable, "-m", "tracklite", "export", "mlflow", "--to", nobody], capture_output=True, text=True, env=env
    )
    assert proc.returncode != 0 and "No MLflow tracking server answers" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_without_mlflow_the_error_says_what_to_install(
    rich_store: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(TrackliteError, match=r"pip install 'tracklite\[mlflow\]'"):
        tracklite.export_mlflow("sqlite:///never.db")
    assert not Path("never.db").exists()
