"""Shared fixtures: a fresh store file per test, with the fluent state reset around it."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tracklite
from postgres_fixtures import lake_template, postgres  # noqa: F401 - fixtures of the lake backend
from server_fixtures import browser  # noqa: F401 - the browser tests' Chromium
from tracklite.store import _STORES
from tracklite.tracking import fluent


@pytest.fixture(scope="session")
def _mlflow_default_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mlflow-default")


@pytest.fixture(autouse=True)
def _mlflow_default_store(_mlflow_default_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """MLflow falls back to ``sqlite:///mlflow.db`` in the working folder whenever its tracking URI
    is unset (``set_tracking_uri(None)`` also clears the variable), and its file registry opens that
    fallback to look up logged models; point it into a temporary folder for every test."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{_mlflow_default_folder}/mlflow.db")
    # mlflow.set_experiment exports MLFLOW_EXPERIMENT_ID, which tracklite's fluent API honours:
    # registering it here makes monkeypatch remove it again after each test.
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", "")
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID")


def reset_tracking() -> None:
    """End active runs, close every cached store and forget the tracking URI."""
    while fluent._active_runs:
        try:
            tracklite.end_run()
        except Exception:  # noqa: BLE001 - the store may be gone already
            fluent._active_runs.pop()
    fluent._reset_state()
    for store in list(_STORES.values()):
        store.close()  # type: ignore[attr-defined]
    _STORES.clear()
    tracklite.set_tracking_uri(None)  # type: ignore[arg-type]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests of a module with ``ALSO_ON_LAKE = True`` that use ``store_path`` run twice: on a
    store file and on a lake (a ``ducklake:`` URI; PostgreSQL catalog). ``@pytest.mark.file_only``
    keeps a test on the file (it opens the file itself, say)."""
    if "backend" not in metafunc.fixturenames or not getattr(metafunc.module, "ALSO_ON_LAKE", False):
        return
    if metafunc.definition.get_closest_marker("file_only") is None:
        metafunc.parametrize("backend", ["file", "lake"], indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """Which store ``store_path`` names: ``"file"`` unless parametrised (see above)."""
    return str(getattr(request, "param", "file"))


@pytest.fixture
def store_path(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh store, set as the tracking URI: a file path in a fresh folder, or on the lake
    backend a ``ducklake:`` URI of a lake of its own."""
    if backend == "lake":
        template = request.getfixturevalue("lake_template")
        path = template.new_lake(tmp_path)
    else:
        path = str(tmp_path / "store.duckdb")
    tracklite.set_tracking_uri(path)
    yield path
    reset_tracking()


@pytest.fixture
def client(store_path: str) -> tracklite.Client:
    """A Client on the fresh store."""
    return tracklite.Client(store_path)


@pytest.fixture
def populated(client: tracklite.Client) -> dict[str, str]:
    """A store with one experiment and two finished runs."""
    exp_id = client.create_experiment("populated", tags={"team": "a"})
    ids = {}
    for i, name in enumerate(["first", "second"]):
        run = client.create_run(exp_id, run_name=name)
        rid = run.info.run_id
        client.log_param(rid, "lr", 0.1 * (i + 1))
        client.set_tag(rid, "kind", name)
        for step in range(5):
            client.log_metric(rid, "loss", 1.0 / (step + 1 + i), step=step)
        client.set_terminated(rid)
        ids[name] = rid
    ids["experiment_id"] = exp_id
    return ids


@pytest.fixture
def rich_store(client: tracklite.Client, iris: Any, logreg: Any) -> dict[str, Any]:
    """A store with what an MLflow user has: nested runs, odd keys, NaN, deletions, artifacts, a
    model and a registry."""
    import tracklite.sklearn

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


def run_python(
    code: str, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh Python interpreter (a real separate process)."""

    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=full_env, timeout=timeout
    )


@pytest.fixture(scope="session")
def iris() -> tuple[Any, Any]:
    """The iris data as ``(DataFrame, label array)``."""
    from sklearn.datasets import load_iris

    data = load_iris(as_frame=True)
    return data.data, data.target.to_numpy()


@pytest.fixture(scope="session")
def logreg(iris: tuple[Any, Any]) -> Any:
    """A LogisticRegression fitted on iris."""
    from sklearn.linear_model import LogisticRegression

    x, y = iris
    return LogisticRegression(max_iter=500).fit(x, y)


@pytest.fixture(autouse=True)
def _model_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Models loaded from a store materialise under the test's own folder."""
    monkeypatch.setenv("TRACKLITE_MODEL_CACHE", str(tmp_path / "model-cache"))
