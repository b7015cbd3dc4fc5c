"""The real MLflow client (the oracle) against a real ``tracklite server`` subprocess.

Every call an MLflow user makes (tracking, artifacts, models, registry, search) goes over
HTTP to the server; results are read back through MLflow and, after the server stops,
through tracklite's ``Client`` on the store file. Error shapes are compared with a real
``mlflow server`` on a sqlite store.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
import requests
import tracklite
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from server_fixtures import ServerProcess, start_mlflow_server, start_server

#: What the tests logged through MLflow, checked against the store file at the end.
LOGGED: dict[str, Any] = {}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One tracklite server for the module (stopped by the last test to read the store file)."""
    # --log-level info: uvicorn's access log shows every status, also those MLflow's client retried.
    server = start_server(tmp_path_factory.mktemp("mlflow-oracle") / "s.duckdb", extra=["--log-level", "info"])
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A real ``mlflow server`` (sqlite), started with the module so its slow start overlaps the tests."""
    server = start_mlflow_server(tmp_path_factory.mktemp("mlflow-reference"), wait=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def client(live: ServerProcess, reference: ServerProcess) -> Iterator[MlflowClient]:
    """MLflow's client (and fluent API) pointed at the live server."""
    mlflow.set_tracking_uri(live.url)
    mlflow.set_registry_uri(live.url)
    try:
        yield MlflowClient(live.url, live.url)
    finally:
        while mlflow.active_run():
            mlflow.end_run()
        mlflow.set_registry_uri(None)  # type: ignore[arg-type]
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]


def same(a: float, b: float) -> bool:
    """Equal floats, NaN equal to NaN."""
    return (math.isnan(a) and math.isnan(b)) or a == b


# -- experiments ---------------------------------------------------------------------------


def test_experiments(client: MlflowClient) -> None:
    exp_id = client.create_experiment("oracle-exp", tags={"team": "a", "owner/name": "ü"})
    exp = client.get_experiment(exp_id)
    assert exp.name == "oracle-exp"
    assert exp.tags == {"team": "a", "owner/name": "ü"}
    assert exp.artifact_location.startswith("mlflow-artifacts:/")
    assert client.get_experiment_by_name("oracle-exp").experiment_id == exp_id
    assert client.get_experiment_by_name("no-such-experiment") is None
    found = client.search_experiments(filter_string="name LIKE 'oracle-%'")
    assert [e.experiment_id for e in found] == [exp_id]

    client.rename_experiment(exp_id, "oracle-renamed")
    client.set_experiment_tag(exp_id, "stage", "dev")
    client.delete_experiment_tag(exp_id, "team")
    exp = client.get_experiment(exp_id)
    assert exp.name == "oracle-renamed"
    assert exp.tags == {"owner/name": "ü", "stage": "dev"}

    client.delete_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "deleted"
    deleted = client.search_experiments(view_type=mlflow.entities.ViewType.DELETED_ONLY)
    assert exp_id in {e.experiment_id for e in deleted}
    assert exp_id not in {e.experiment_id for e in client.search_experiments()}
    client.restore_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "active"
    with pytest.raises(mlflow.MlflowException) as err:
        client.create_experiment("oracle-renamed")
    assert err.value.error_code == "RESOURCE_ALREADY_EXISTS"
    LOGGED["experiment"] = {"id": exp_id, "name": "oracle-renamed", "tags": {"owner/name": "ü", "stage": "dev"}}


# -- runs ----------------------------------------------------------------------------------


def test_runs_params_metrics_tags_inputs(client: MlflowClient) -> None:
    exp = mlflow.set_experiment("oracle-runs")
    with mlflow.start_run(run_name="parent", description="the parent") as parent:
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"layers": 3, "optimizer": "adam"})
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step, timestamp=1_700_000_000_000 + step)
        mlflow.log_metrics({"acc": 0.5, "f1": 0.25}, step=7)
        mlflow.log_metric("odd", math.nan, step=0)
        mlflow.log_metric("odd", math.inf, step=1)
        mlflow.log_metric("odd", -math.inf, step=2)
        mlflow.set_tag("kind", "sweep")
        mlflow.set_tags({"doomed": "x", "nested/tag": "a/b"})
        mlflow.delete_tag("doomed")
        client.log_batch(
            parent.info.run_id,
            metrics=[Metric("batch", float(i), 1_700_000_100_000 + i, i) for i in range(10)],
            params=[Param("batch_p", "1")],
            tags=[RunTag("batch_t", "t")],
        )
        df = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
        dataset = mlflow.data.from_pandas(df, name="toy", targets="y")
        mlflow.log_input(dataset, context="training")
        with mlflow.start_run(run_name="child", nested=True) as child:
            mlflow.log_metric("child_m", 2.0)
    run_id = parent.info.run_id

    with mlflow.start_run(run_id=run_id):  # resume
        mlflow.log_metric("loss", 0.1, step=5, timestamp=1_700_000_000_005)

    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "parent"
    assert run.data.params == {"lr": "0.01", "layers": "3", "optimizer": "adam", "batch_p": "1"}
    assert run.data.metrics["loss"] == 0.1
    assert run.data.metrics["acc"] == 0.5
    assert math.isinf(run.data.metrics["odd"]) and run.data.metrics["odd"] < 0
    assert run.data.tags["kind"] == "sweep" and run.data.tags["nested/tag"] == "a/b"
    assert run.data.tags["mlflow.note.content"] == "the parent"
    assert "doomed" not in run.data.tags
    assert run.data.tags["batch_t"] == "t"
    inputs = run.inputs.dataset_inputs
    assert len(inputs) == 1
    assert inputs[0].dataset.name == "toy"
    assert inputs[0].dataset.digest == dataset.digest
    assert {t.key: t.value for t in inputs[0].tags}["mlflow.data.context"] == "training"

    child_run = client.get_run(child.info.run_id)
    assert child_run.data.tags["mlflow.parentRunId"] == run_id
    assert child_run.data.metrics == {"child_m": 2.0}

    history = client.get_metric_history(run_id, "loss")
    assert [(m.step, m.value, m.timestamp) for m in history] == [
        (s, 1.0 / (s + 1) if s < 5 else 0.1, 1_700_000_000_000 + s) for s in range(6)
    ]
    odd = client.get_metric_history(run_id, "odd")
    assert [m.step for m in odd] == [0, 1, 2]
    assert math.isnan(odd[0].value) and odd[1].value == math.inf and odd[2].value == -math.inf
    assert [m.value for m in client.get_metric_history(run_id, "batch")] == [float(i) for i in range(10)]

    with pytest.raises(mlflow.MlflowException) as err:
        client.log_param(run_id, "lr", 0.5)  # a param cannot change
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    client.set_terminated(run_id, "FAILED")
    assert client.get_run(run_id).info.status == "FAILED"
    LOGGED["runs"] = {
        "experiment_id": exp.experiment_id,
        "parent": run_id,
        "child": child.info.run_id,
        "params": dict(run.data.params),
        "loss": [(m.step, m.value) for m in history],
        "odd": [m.value for m in odd],
        "tags": {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")},
        "dataset": (dataset.name, dataset.digest),
    }


def test_delete_and_restore_run(client: MlflowClient) -> None:
    exp = client.create_experiment("oracle-delete")
    run = client.create_run(exp)
    client.delete_run(run.info.run_id)
    assert client.get_run(run.info.run_id).info.lifecycle_stage == "deleted"
    assert client.search_runs([exp]) == []
    client.restore_run(run.info.run_id)
    assert [r.info.run_id for r in client.search_runs([exp])] == [run.info.run_id]


# -- artifacts -----------------------------------------------------------------------------


def test_artifacts(client: MlflowClient, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("alpha")
    folder = tmp_path / "folder"
    (folder / "inner").mkdir(parents=True)
    (folder / "b.txt").write_text("beta")
    (folder / "inner" / "c.bin").write_bytes(bytes(range(256)) * 10)
    mlflow.set_experiment("oracle-artifacts")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(tmp_path / "a.txt"))
        mlflow.log_artifact(str(tmp_path / "a.txt"), artifact_path="copies")
        mlflow.log_artifacts(str(folder), artifact_path="tree")
        mlflow.log_text("hello ü", "notes/readme.txt")
        mlflow.log_dict({"a": 1, "b": [1, 2]}, "config.json")
        mlflow.log_image(np.zeros((8, 8, 3), dtype=np.uint8), "images/black.png")
    run_id = run.info.run_id

    root = {f.path: f.is_dir for f in client.list_artifacts(run_id)}
    assert root == {
        "a.txt": False,
        "copies": True,
        "tree": True,
        "notes": True,
        "config.json": False,
        "images": True,
    }
    tree = {f.path: (f.is_dir, f.file_size) for f in client.list_artifacts(run_id, "tree")}
    assert tree == {"tree/b.txt": (False, 4), "tree/inner": (True, None)}
    assert [f.path for f in client.list_artifacts(run_id, "tree/inner")] == ["tree/inner/c.bin"]

    out = tmp_path / "down"
    got = Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="a.txt", dst_path=str(out / "1")))
    assert got.read_text() == "alpha"
    got = Path(client.download_artifacts(run_id, "tree", str(out / "2")))
    assert (got / "b.txt").read_text() == "beta"
    assert (got / "inner" / "c.bin").read_bytes() == bytes(range(256)) * 10
    assert mlflow.artifacts.load_text(f"runs:/{run_id}/notes/readme.txt") == "hello ü"
    assert mlflow.artifacts.load_dict(f"runs:/{run_id}/config.json") == {"a": 1, "b": [1, 2]}
    image = mlflow.artifacts.load_image(f"runs:/{run_id}/images/black.png")
    assert image.size == (8, 8)
    LOGGED["artifacts"] = {"run_id": run_id, "root": sorted(root)}


# -- models and registry ---------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:.*stages.*:FutureWarning")  # MLflow deprecates stages; we serve them
def test_models_and_registry(client: MlflowClient) -> None:
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    data = load_iris(as_frame=True)
    x, y = data.data, data.target
    model = LogisticRegression(max_iter=300).fit(x, y)
    expected = model.predict(x.head(5))
    signature = infer_signature(x, model.predict(x))
    mlflow.set_experiment("oracle-models")
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(
            model, name="model", signature=signature, input_example=x.head(3), registered_model_name="iris"
        )
    run_id = run.info.run_id
    assert str(info.registered_model_version) == "1"

    def predicts(uri: str) -> None:
        loaded = mlflow.pyfunc.load_model(uri)
        assert list(loaded.predict(x.head(5))) == list(expected), uri
        assert loaded.metadata.signature == signature, uri

    predicts(f"runs:/{run_id}/model")
    predicts("models:/iris/1")
    predicts(f"models:/{info.model_id}")
    assert client.get_logged_model(info.model_id).source_run_id == run_id

    # second and third versions from the same run
    v2 = client.create_model_version("iris", f"runs:/{run_id}/model", run_id=run_id, description="second")
    v3 = client.create_model_version("iris", f"runs:/{run_id}/model", run_id=run_id, tags={"t": "3"})
    assert (v2.version, v3.version) == ("2", "3")
    client.set_registered_model_alias("iris", "champion", "2")
    predicts("models:/iris@champion")
    assert client.get_model_version_by_alias("iris", "champion").version == "2"
    client.transition_model_version_stage("iris", "1", "Staging")
    predicts("models:/iris/Staging")
    client.transition_model_version_stage("iris", "1", "Production")
    client.transition_model_version_stage("iris", "2", "Production", archive_existing_versions=True)
    assert client.get_model_version("iris", "1").current_stage == "Archived"
    assert [v.version for v in client.get_latest_versions("iris", stages=["Production"])] == ["2"]
    uri = client.get_model_version_download_uri("iris", "2")
    assert uri.startswith("mlflow-artifacts:/") or uri.startswith("models:/")

    client.update_model_version("iris", "2", description="promoted")
    assert client.get_model_version("iris", "2").description == "promoted"
    client.set_model_version_tag("iris", "2", "approved", "yes")
    client.set_model_version_tag("iris", "2", "gone", "x")
    client.delete_model_version_tag("iris", "2", "gone")
    assert client.get_model_version("iris", "2").tags == {"approved": "yes"}
    assert [v.version for v in client.search_model_versions("name = 'iris'", order_by=["version_number ASC"])] == [
        "1",
        "2",
        "3",
    ]
    client.delete_model_version("iris", "3")
    assert {v.version for v in client.search_model_versions("name = 'iris'")} == {"1", "2"}

    client.set_registered_model_tag("iris", "team", "vision")
    client.set_registered_model_tag("iris", "gone", "x")
    client.delete_registered_model_tag("iris", "gone")
    client.update_registered_model("iris", description="the iris model")
    got = client.get_registered_model("iris")
    assert got.tags == {"team": "vision"}
    assert got.description == "the iris model"
    assert got.aliases == {"champion": "2"}
    client.delete_registered_model_alias("iris", "champion")
    assert client.get_registered_model("iris").aliases == {}

    client.create_registered_model("scratch", tags={"a": "1"}, description="temporary")
    assert client.get_registered_model("scratch").description == "temporary"
    client.rename_registered_model("scratch", "scratch-2")
    assert {m.name for m in client.search_registered_models(filter_string="name LIKE 'scratch%'")} == {"scratch-2"}
    client.delete_registered_model("scratch-2")
    with pytest.raises(mlflow.MlflowException) as err:
        client.get_registered_model("scratch-2")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    LOGGED["registry"] = {"versions": {"1": "Archived", "2": "Production"}, "model_id": info.model_id}


# -- search ----------------------------------------------------------------------------------


def test_search_runs_and_paging(client: MlflowClient) -> None:
    exp = client.create_experiment("oracle-search")
    ids = []
    for i in range(7):
        run = client.create_run(exp, run_name=f"r{i}", tags={"parity": "even" if i % 2 == 0 else "odd"})
        client.log_batch(run.info.run_id, [Metric("m", float(i), 1, 0)], [Param("p", str(i))])
        ids.append(run.info.run_id)
    found = client.search_runs([exp], "metrics.m >= 2 and tags.parity = 'even'", order_by=["metrics.m DESC"])
    assert [r.info.run_id for r in found] == [ids[6], ids[4], ids[2]]
    pages: list[str] = []
    token = None
    while True:
        page = client.search_runs([exp], order_by=["params.p ASC"], max_results=3, page_token=token)
        pages.extend(r.info.run_id for r in page)
        token = page.token
        if not token:
            break
    assert pages == ids
    frame = mlflow.search_runs([exp], filter_string="params.p != '0'", order_by=["metrics.m ASC"])
    assert list(frame["run_id"]) == ids[1:]
    assert list(frame["metrics.m"]) == [float(i) for i in range(1, 7)]
    assert list(frame["params.p"]) == [str(i) for i in range(1, 7)]
    assert list(frame["tags.mlflow.runName"]) == [f"r{i}" for i in range(1, 7)]
    LOGGED["search"] = {"experiment_id": exp, "ids": ids}


# -- error shapes against a real mlflow server ------------------------------------------------


def _bad_requests(url: str) -> dict[str, tuple[int, str]]:
    api = url + "/api/2.0/mlflow/"
    out: dict[str, tuple[int, str]] = {}

    def record(name: str, resp: requests.Response) -> None:
        out[name] = (resp.status_code, resp.json().get("error_code", "?"))

    record("missing experiment", requests.get(api + "experiments/get", params={"experiment_id": "424242"}, timeout=30))
    record(
        "missing experiment by name",
        requests.get(api + "experiments/get-by-name", params={"experiment_name": "nope"}, timeout=30),
    )
    requests.post(api + "experiments/create", json={"name": "dup"}, timeout=30).raise_for_status()
    record("duplicate experiment", requests.post(api + "experiments/create", json={"name": "dup"}, timeout=30))
    run_id = requests.post(api + "runs/create", json={"experiment_id": "0"}, timeout=30).json()["run"]["info"]["run_id"]
    requests.post(api + "runs/log-parameter", json={"run_id": run_id, "key": "p", "value": "1"}, timeout=30)
    record(
        "changed param",
        requests.post(api + "runs/log-parameter", json={"run_id": run_id, "key": "p", "value": "2"}, timeout=30),
    )
    record(
        "bad metric value",
        requests.post(
            api + "runs/log-metric",
            json={"run_id": run_id, "key": "m", "value": "nan_test", "timestamp": 1, "step": 0},
            timeout=30,
        ),
    )
    unknown = "f" * 32
    record("unknown run", requests.get(api + "runs/get", params={"run_id": unknown}, timeout=30))
    record(
        "log to unknown run",
        requests.post(api + "runs/log-metric", json={"run_id": unknown, "key": "m", "value": 1.0, "timestamp": 1}),
    )
    record("missing model", requests.get(api + "registered-models/get", params={"name": "nope"}, timeout=30))
    return out


def test_null_and_missing_param_values_match_mlflow_server(live: ServerProcess, reference: ServerProcess) -> None:
    """Over REST a null or missing param value is stored as "" by both servers; MLflow's
    client sends a Python None as "None" (so does tracklite's, which stores it the same)."""
    reference.wait_healthy(timeout=180)

    def params(url: str) -> list[tuple[str, str]]:
        api = url + "/api/2.0/mlflow/"
        exp = requests.post(api + "experiments/create", json={"name": "null-params"}, timeout=30).json()
        run = requests.post(api + "runs/create", json={"experiment_id": exp["experiment_id"]}, timeout=30).json()
        run_id = run["run"]["info"]["run_id"]
        for path, body in (
            ("runs/log-parameter", {"run_id": run_id, "key": "a", "value": None}),
            ("runs/log-batch", {"run_id": run_id, "params": [{"key": "b", "value": None}]}),
            ("runs/log-parameter", {"run_id": run_id, "key": "c"}),
        ):
            assert requests.post(api + path, json=body, timeout=30).status_code == 200
        MlflowClient(url).log_param(run_id, "d", None)
        got = requests.get(api + "runs/get", params={"run_id": run_id}, timeout=30).json()["run"]["data"]["params"]
        return sorted((p["key"], p["value"]) for p in got)

    assert params(live.url) == params(reference.url) == [("a", ""), ("b", ""), ("c", ""), ("d", "None")]


def test_error_shapes_match_mlflow_server(live: ServerProcess, reference: ServerProcess) -> None:
    reference.wait_healthy(timeout=180)
    expected = _bad_requests(reference.url)
    reference.stop()
    got = _bad_requests(live.url)
    assert got == expected


# -- the store file --------------------------------------------------------------------------


def test_store_file_after_stop(live: ServerProcess) -> None:
    live.stop()
    log = live.log_text()
    assert "Traceback" not in log, log[-4000:]
    assert re.findall(r'^.*HTTP/1\.1" 5\d\d.*$', log, flags=re.M) == [], "the server answered with a 5xx"
    client = tracklite.Client(live.store)
    if "experiment" in LOGGED:
        exp = client.get_experiment(LOGGED["experiment"]["id"])
        assert exp.name == LOGGED["experiment"]["name"]
        assert exp.tags == LOGGED["experiment"]["tags"]
    if "runs" in LOGGED:
        seen = LOGGED["runs"]
        run = client.get_run(seen["parent"])
        assert run.data.params == seen["params"]
        assert {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")} == seen["tags"]
        assert [(m.step, m.value) for m in client.get_metric_history(seen["parent"], "loss")] == seen["loss"]
        odd = [m.value for m in client.get_metric_history(seen["parent"], "odd")]
        assert all(same(a, b) for a, b in zip(odd, seen["odd"], strict=True))
        assert client.get_run(seen["child"]).data.tags["mlflow.parentRunId"] == seen["parent"]
        inputs = client.store.get_run_inputs(seen["parent"])
        assert [(d.name, d.digest) for d in inputs] == [seen["dataset"]]
    if "artifacts" in LOGGED:
        names = sorted(f.path for f in client.list_artifacts(LOGGED["artifacts"]["run_id"]))
        assert names == LOGGED["artifacts"]["root"]
    if "registry" in LOGGED:
        versions = {v.version: v.current_stage for v in client.search_model_versions("name = 'iris'")}
        assert {str(k): v for k, v in versions.items()} == LOGGED["registry"]["versions"]
        assert client.get_logged_model(LOGGED["registry"]["model_id"]).model_id == LOGGED["registry"]["model_id"]
    if "search" in LOGGED:
        runs = client.search_runs([LOGGED["search"]["experiment_id"]], order_by=["params.p ASC"])
        assert [r.info.run_id for r in runs] == LOGGED["search"]["ids"]
    assert len(LOGGED) == 5, f"earlier tests did not all record what they logged: {sorted(LOGGED)}"
