"""tracklite's own client against a real ``tracklite server`` (and a real ``mlflow server``) on 127.0.0.1.

``set_tracking_uri("http://...")`` makes the fluent API, ``Client``, the registry and model
loading talk REST; metrics go through the local spool (``store/rest_metrics.py``). What the
server stored is read back through the store file after it stops.
"""

from __future__ import annotations

import base64
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
import tracklite
import tracklite.pyfunc
import tracklite.sklearn
from server_fixtures import ServerProcess, start_mlflow_server, start_server
from tracklite.errors import InvalidParameterValue, ResourceDoesNotExist
from tracklite.store import _STORES
from tracklite.tracking import fluent


def _reset() -> None:
    while fluent._active_runs:
        try:
            tracklite.end_run()
        except Exception:  # noqa: BLE001 - the server may be gone already
            fluent._active_runs.pop()
    fluent._reset_state()
    for store in list(_STORES.values()):
        store.close()  # type: ignore[attr-defined]
    _STORES.clear()
    tracklite.set_tracking_uri(None)  # type: ignore[arg-type]


@pytest.fixture
def spool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "spool"
    monkeypatch.setenv("TRACKLITE_REMOTE_SPOOL", str(folder))
    monkeypatch.setenv("TRACKLITE_MODEL_CACHE", str(tmp_path / "model-cache"))
    return folder


@pytest.fixture
def remote(tmp_path: Path, spool: Path) -> Iterator[ServerProcess]:
    """A tracklite server, set as the tracking URI."""
    (tmp_path / "server").mkdir()
    server = start_server(tmp_path / "server" / "s.duckdb")
    tracklite.set_tracking_uri(server.url)
    try:
        yield server
    finally:
        _reset()
        server.stop()


def _file_client(server: ServerProcess) -> tracklite.Client:
    """A Client on the server's store file (after the server stopped)."""
    _reset()  # first: a client still sending to a stopped server would warn from its thread
    server.stop()
    return tracklite.Client(server.store)


def _spool_files(spool: Path) -> list[Path]:
    return sorted(spool.glob("*/*.tlog")) if spool.exists() else []


def test_fluent_end_to_end(remote: ServerProcess, spool: Path, tmp_path: Path) -> None:
    tracklite.set_experiment("remote-exp")
    with tracklite.start_run(run_name="r1", tags={"team": "a"}) as run:
        tracklite.log_param("lr", 0.01)
        tracklite.log_params({"depth": 3, "opt": "adam"})
        for i in range(100_000):
            tracklite.log_metric("loss", 1.0 / (i + 1), step=i)
        tracklite.log_metric("nan", float("nan"))
        tracklite.log_metric("inf", float("inf"), step=1)
        tracklite.log_metric("ninf", float("-inf"), step=2)
        n = tracklite.log_metric_series("series", np.arange(50_000, dtype=np.float64) * 2.0)
        tracklite.log_metrics({"a": 1.0, "b": 2.0}, step=7)
        tracklite.set_tag("phase", "train")
        tracklite.log_text("hello remote", "notes/readme.txt")
        local = tmp_path / "data.csv"
        local.write_text("x,y\n1,2\n")
        tracklite.log_artifact(str(local), "inputs")
        tracklite.log_dict({"k": [1, 2]}, "cfg.json")
    run_id = run.info.run_id
    assert n == 50_000
    client = tracklite.Client()
    got = client.get_run(run_id)
    assert got.info.status == "FINISHED"
    assert got.info.artifact_uri.startswith("mlflow-artifacts:/")
    assert got.data.params == {"depth": "3", "lr": "0.01", "opt": "adam"}
    assert got.data.tags["team"] == "a" and got.data.tags["phase"] == "train"
    assert math.isnan(got.data.metrics["nan"]) and got.data.metrics["inf"] == math.inf
    assert got.data.metrics["ninf"] == -math.inf
    assert got.data.metrics["loss"] == 1.0 / 100_000
    history = client.get_metric_history(run_id, "loss")
    assert [m.step for m in history] == list(range(100_000))
    series = client.get_metric_series(run_id, "series")
    assert np.array_equal(series["value"], np.arange(50_000) * 2.0)
    assert sorted(f.path for f in client.list_artifacts(run_id)) == ["cfg.json", "inputs", "notes"]
    assert client.read_artifact(run_id, "notes/readme.txt") == b"hello remote"
    assert tracklite.load_dict(f"runs:/{run_id}/cfg.json") == {"k": [1, 2]}
    dst = client.download_artifacts(run_id, "inputs", str(tmp_path / "dl"))
    assert Path(dst, "data.csv").read_text() == "x,y\n1,2\n"
    frame = tracklite.search_runs()
    assert list(frame["run_id"]) == [run_id] and frame["params.lr"][0] == "0.01"
    assert not _spool_files(spool), "a finished run's spool is removed once the server has it"

    # Everything is in the store file, read without the server.
    local_client = _file_client(remote)
    stored = local_client.get_run(run_id)
    assert stored.data.params["lr"] == "0.01" and stored.info.status == "FINISHED"
    assert len(local_client.get_metric_history(run_id, "loss")) == 100_000
    assert len(local_client.get_metric_history(run_id, "series")) == 50_000
    assert math.isnan(local_client.get_metric_history(run_id, "nan")[0].value)
    assert local_client.read_artifact(run_id, "notes/readme.txt") == b"hello remote"


def test_model_registry_and_loading(remote: ServerProcess) -> None:
    from sklearn.linear_model import LinearRegression

    x = np.arange(20, dtype=np.float64).reshape(10, 2)
    y = x[:, 0] * 2 + x[:, 1]
    model = LinearRegression().fit(x, y)
    tracklite.set_experiment("models")
    with tracklite.start_run() as run:
        tracklite.log_param("alpha", 1)
        info = tracklite.sklearn.log_model(model, name="model", registered_model_name="reg")
    assert info.registered_model_version == 1
    client = tracklite.Client()
    client.set_registered_model_alias("reg", "champion", 1)
    client.set_registered_model_tag("reg", "owner", "me")
    client.update_model_version("reg", 1, "first")
    client.transition_model_version_stage("reg", 1, "Production")
    expected = model.predict(x)
    for uri in ("models:/reg@champion", "models:/reg/1", "models:/reg/Production", f"runs:/{run.info.run_id}/model"):
        loaded = tracklite.pyfunc.load_model(uri)
        assert np.allclose(np.asarray(loaded.predict(x)), expected), uri
    assert np.allclose(tracklite.pyfunc.load_model(info.model_uri).predict(x), expected)
    rm = client.get_registered_model("reg")
    assert rm.tags == {"owner": "me"} and rm.aliases == {"champion": 1}
    mv = client.get_model_version_by_alias("reg", "champion")
    assert mv.description == "first" and mv.current_stage == "Production"
    assert [m.name for m in client.search_registered_models()] == ["reg"]
    assert [v.version for v in client.search_model_versions("name = 'reg'")] == [1]
    actions = [e.action for e in client.get_registry_history("reg")]
    assert actions and len(actions) >= 4
    client.delete_registered_model_alias("reg", "champion")
    with pytest.raises(InvalidParameterValue, match="alias champion not found"):  # as MLflow answers
        client.get_model_version_by_alias("reg", "champion")
    models = tracklite.search_logged_models(output_format="list")
    assert [m.model_id for m in models] == [info.model_id]

    local_client = _file_client(remote)
    assert local_client.get_model_version("reg", 1).current_stage == "Production"
    assert local_client.get_logged_model(info.model_id).status == "READY"


def test_client_search_paging_and_errors(remote: ServerProcess) -> None:
    client = tracklite.Client()
    exp_id = client.create_experiment("search-me", tags={"k": "v"})
    ids = []
    for i in range(7):
        run = client.create_run(exp_id, run_name=f"run-{i}")
        client.log_param(run.info.run_id, "i", str(i))
        client.log_metric(run.info.run_id, "score", float(i), step=i)
        ids.append(run.info.run_id)
    page = client.search_runs(exp_id, "metrics.score >= 2", order_by=["metrics.score DESC"], max_results=3)
    assert [r.data.params["i"] for r in page] == ["6", "5", "4"]
    assert page.token is not None
    rest = client.search_runs(exp_id, "metrics.score >= 2", order_by=["metrics.score DESC"], page_token=page.token)
    assert [r.data.params["i"] for r in rest] == ["3", "2"] and rest.token is None
    assert [m.value for m in client.get_metric_history(ids[3], "score")] == [3.0]
    assert client.get_experiment_by_name("search-me").tags == {"k": "v"}  # type: ignore[union-attr]
    assert client.get_experiment_by_name("nope") is None
    assert "search-me" in [e.name for e in client.search_experiments()]
    frame = tracklite.search_runs([exp_id], "params.i = '4'", output_format="pandas")
    assert list(frame["params.i"]) == ["4"]

    with pytest.raises(ResourceDoesNotExist, match="abc0123"):
        client.get_run("abc0123" + "0" * 25)
    client.log_param(ids[0], "fixed", "1")
    with pytest.raises(InvalidParameterValue, match="Changing param values is not allowed"):
        client.log_param(ids[0], "fixed", "2")
    with pytest.raises(tracklite.errors.ResourceAlreadyExists):
        client.create_experiment("search-me")
    with pytest.raises(InvalidParameterValue, match="store file"):
        tracklite.sql("SELECT 1")
    client.delete_run(ids[1])
    assert ids[1] not in [r.info.run_id for r in client.search_runs(exp_id)]
    client.restore_run(ids[1])
    client.set_tag(ids[2], "x", "y")
    client.delete_tag(ids[2], "x")
    assert "x" not in client.get_run(ids[2]).data.tags


def _post_columnar(url: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = requests.post(url + "/api/2.0/tracklite/runs/log-metrics-columnar", json=body, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def test_columnar_batch_is_applied_exactly_once(remote: ServerProcess) -> None:
    client = tracklite.Client()
    run_id = client.create_run("0").info.run_id

    def col(values: list[float] | list[int], dtype: str) -> str:
        return base64.b64encode(np.asarray(values, dtype=dtype).tobytes()).decode()

    batch: dict[str, Any] = {
        "run_id": run_id,
        "spool": "test-spool.tlog",
        "start_offset": 0,
        "end_offset": 100,
        "count": 3,
        "keys": ["m"],
        "key_index": col([0, 0, 0], "<u4"),
        "steps": col([0, 1, 2], "<i8"),
        "timestamps": col([1, 2, 3], "<i8"),
        "values": col([0.5, float("nan"), 2.5], "<f8"),
    }
    assert _post_columnar(remote.url, batch) == {"applied_offset": 100, "accepted": True, "count": 3}
    # The same batch again (a retry after a lost answer) is not applied twice.
    assert _post_columnar(remote.url, batch)["accepted"] is False
    # A batch that skips ahead is refused with where to resume.
    gap = {**batch, "start_offset": 150, "end_offset": 200}
    assert _post_columnar(remote.url, gap) == {"applied_offset": 100, "accepted": False, "count": 0}
    nxt = {**batch, "start_offset": 100, "end_offset": 140, "count": 1}
    nxt.update(key_index=col([0], "<u4"), steps=col([3], "<i8"), timestamps=col([4], "<i8"), values=col([9.0], "<f8"))
    assert _post_columnar(remote.url, nxt)["accepted"] is True
    bad: dict[str, Any] = {**nxt, "start_offset": 140, "end_offset": 150, "keys": ["bad key!?"]}
    resp = requests.post(remote.url + "/api/2.0/tracklite/runs/log-metrics-columnar", json=bad, timeout=30)
    assert resp.status_code == 400 and resp.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert [m.step for m in client.get_metric_history(run_id, "m")] == [0, 1, 2, 3]

    local_client = _file_client(remote)
    points = local_client.get_metric_history(run_id, "m")
    assert len(points) == 4 and math.isnan(points[1].value)


_KILLED_CLIENT = textwrap.dedent(
    """
    import os, sys, tracklite
    tracklite.set_tracking_uri(sys.argv[1])
    client = tracklite.Client()
    run = tracklite.start_run(run_id=sys.argv[2])
    for i in range(5000):
        tracklite.log_metric("killed", float(i), step=i)
    client.store.metrics._stop.set()  # no more background sends: the rest stays in the spool
    client.store.metrics._spools[sys.argv[2]].log.sync()  # on disk before we say so
    print("logged", flush=True)
    import time
    time.sleep(600)
    """
)


def test_spool_of_a_killed_client_is_sent_by_the_next(remote: ServerProcess, spool: Path, tmp_path: Path) -> None:
    client = tracklite.Client()
    run_id = client.create_run("0").info.run_id
    script = tmp_path / "killed.py"
    script.write_text(_KILLED_CLIENT)
    proc = subprocess.Popen(
        [sys.executable, str(script), remote.url, run_id], stdout=subprocess.PIPE, env=dict(os.environ)
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"logged"
        # Wait for the sender thread to stop (it may be in the middle of one send).
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()
    assert _spool_files(spool), "the killed client's spool is on disk"
    # The next client process using the server sends it (recovery on its sender thread, or here).
    nxt = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, tracklite; tracklite.set_tracking_uri(sys.argv[1]); "
            "s = tracklite.Client().store; s.metrics.recover()",
            remote.url,
        ],
        check=True,
        env=dict(os.environ),
        capture_output=True,
        timeout=120,
    )
    assert nxt.returncode == 0, nxt.stderr
    points = client.get_metric_history(run_id, "killed")
    assert [p.step for p in points] == list(range(5000))
    assert not _spool_files(spool)


def test_unsent_points_are_kept_when_the_server_is_down(
    remote: ServerProcess, spool: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKLITE_HTTP_REQUEST_MAX_RETRIES", "0")
    client = tracklite.Client()
    run_id = client.create_run("0").info.run_id
    store = client.store
    store.metrics._stop.set()  # type: ignore[attr-defined]
    for i in range(100):
        client.log_metric(run_id, "late", float(i), step=i)
    remote.stop()
    with pytest.warns(RuntimeWarning, match="kept in"):
        store.metrics.close(timeout=2)  # type: ignore[attr-defined]
    assert _spool_files(spool)
    _STORES.clear()
    # The server is back: the next client sends the kept spool.
    again = start_server(remote.store)
    try:
        tracklite.set_tracking_uri(again.url)
        # A new URL (port) is a new spool folder: point the new client at the old folder.
        new_store = tracklite.Client(again.url).store
        new_store.metrics.dir = str(_spool_files(spool)[0].parent)  # type: ignore[attr-defined]
        new_store.metrics.recover()  # type: ignore[attr-defined]
        assert [m.step for m in tracklite.Client(again.url).get_metric_history(run_id, "late")] == list(range(100))
        assert not _spool_files(spool)
    finally:
        _reset()
        again.stop()


def test_against_a_real_mlflow_server(tmp_path: Path, spool: Path) -> None:
    folder = tmp_path / "mlflow"
    folder.mkdir()
    server = start_mlflow_server(folder)
    try:
        tracklite.set_tracking_uri(server.url)
        store = tracklite.Client().store
        assert store.is_tracklite() is False  # type: ignore[attr-defined]
        tracklite.set_experiment("from-tracklite")
        with tracklite.start_run() as run:
            tracklite.log_param("lr", "0.1")
            tracklite.set_tag("who", "tracklite")
            for i in range(2500):
                tracklite.log_metric("loss", i / 10, step=i)
            tracklite.log_metric("nan", float("nan"))
            tracklite.log_text("hi", "note.txt")
        run_id = run.info.run_id
        _reset()

        import mlflow

        mlflow.set_tracking_uri(server.url)
        mlflow.set_registry_uri(server.url)
        mclient = mlflow.MlflowClient()
        got = mclient.get_run(run_id)
        assert got.info.status == "FINISHED"
        assert got.data.params == {"lr": "0.1"} and got.data.tags["who"] == "tracklite"
        history = mclient.get_metric_history(run_id, "loss")
        assert sorted(m.step for m in history) == list(range(2500))
        assert math.isnan(mclient.get_metric_history(run_id, "nan")[0].value)
        assert mlflow.artifacts.load_text(f"runs:/{run_id}/note.txt") == "hi"
    finally:
        if "mlflow" in sys.modules:
            sys.modules["mlflow"].set_tracking_uri(None)
            sys.modules["mlflow"].set_registry_uri(None)
        _reset()
        server.stop()


def test_basic_auth_and_permission_errors(tmp_path: Path, spool: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tracklite.errors import PermissionDenied, Unauthenticated
    from tracklite.server.auth import UserStore

    store_path = tmp_path / "auth" / "s.duckdb"
    store_path.parent.mkdir()
    users = UserStore(str(store_path))
    users.create_user("admin", "admin-pw", is_admin=True)
    users.create_user("bob", "bob-pw")
    _reset()
    server = start_server(store_path, extra=["--auth"])
    try:
        monkeypatch.setenv("TRACKLITE_TRACKING_USERNAME", "admin")
        monkeypatch.setenv("TRACKLITE_TRACKING_PASSWORD", "admin-pw")
        admin = tracklite.Client(server.url)
        exp_id = admin.create_experiment("private")
        run_id = admin.create_run(exp_id).info.run_id
        admin.log_metric(run_id, "m", 1.0)
        admin.flush()
        assert [m.value for m in admin.get_metric_history(run_id, "m")] == [1.0]
        _reset()

        monkeypatch.setenv("TRACKLITE_TRACKING_PASSWORD", "wrong")
        with pytest.raises(Unauthenticated) as unauthenticated:
            tracklite.Client(server.url).get_run(run_id)
        assert unauthenticated.value.error_code == "UNAUTHENTICATED" and unauthenticated.value.http_status == 401
        _reset()

        monkeypatch.delenv("TRACKLITE_TRACKING_USERNAME")
        monkeypatch.delenv("TRACKLITE_TRACKING_PASSWORD")
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "bob")  # MLflow's names work too
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "bob-pw")
        bob = tracklite.Client(server.url)
        with pytest.raises(PermissionDenied) as denied:
            bob.set_tag(run_id, "k", "v")
        assert denied.value.error_code == "PERMISSION_DENIED" and denied.value.http_status == 403
    finally:
        _reset()
        server.stop()


def test_a_series_bigger_than_the_json_limit_is_sent_whole(remote: ServerProcess) -> None:
    # One log_metric_series call is one spool record, sent in one columnar request (its byte
    # range is what makes sending exactly-once): 700,000 points are about 26 MB of JSON, over
    # the 16 MB limit of MLflow's endpoints, and must still arrive.
    n = 700_000
    with tracklite.start_run() as run:
        tracklite.log_metric_series("long", np.linspace(0.0, 1.0, n))
    answer = requests.get(
        remote.url + "/api/2.0/tracklite/metrics/series",
        params={"run_ids": run.info.run_id, "key": "long", "max_points": 100},
        timeout=60,
    ).json()
    assert answer["series"][0]["points"] == n
    assert answer["series"][0]["y"][-1] == 1.0
