"""Bad input gets a clear error naming the problem, and the store is left unchanged."""

from __future__ import annotations

import os

import pytest
import tracklite
from tracklite import Client, Metric, Param, RunTag

ALSO_ON_LAKE = True  # conftest: tests using store_path run on a store file and on a lake


def _snapshot(client: Client, run_id: str) -> tuple:
    client.flush()
    run = client.get_run(run_id)
    history = {k: client.get_metric_history(run_id, k) for k in run.data.metrics}
    return run.data.params, run.data.tags, run.data.metrics, history


@pytest.fixture
def run_id(client: Client) -> str:
    rid = client.create_run("0").info.run_id
    client.log_param(rid, "kept", "1")
    client.log_metric(rid, "kept_m", 1.0, step=0)
    return rid


@pytest.mark.parametrize(
    "key",
    ["", ".", "/abs", "../up", "a//b", "trailing/", "a/./b", "a\\b", "star*", "x" * 251, "semi;colon"],
)
def test_invalid_metric_names(client: Client, run_id: str, key: str) -> None:
    before = _snapshot(client, run_id)
    with pytest.raises(tracklite.InvalidParameterValue) as err:
        client.log_metric(run_id, key, 1.0)
    assert "name" in str(err.value)
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(tracklite.InvalidParameterValue):
        client.log_param(run_id, key, 1)
    with pytest.raises(tracklite.InvalidParameterValue):
        client.set_tag(run_id, key, 1)
    assert _snapshot(client, run_id) == before


@pytest.mark.parametrize("value", [True, False, "1.0", None, [1.0], 1j])
def test_invalid_metric_values(client: Client, run_id: str, value: object) -> None:
    before = _snapshot(client, run_id)
    with pytest.raises(tracklite.InvalidParameterValue, match="invalid value"):
        client.log_metric(run_id, "m", value)  # type: ignore[arg-type]
    assert _snapshot(client, run_id) == before


@pytest.mark.parametrize("step", [1.5, "3", True])
def test_invalid_steps(client: Client, run_id: str, step: object) -> None:
    before = _snapshot(client, run_id)
    with pytest.raises((tracklite.InvalidParameterValue, TypeError)):
        client.log_metric(run_id, "m", 1.0, step=step)  # type: ignore[arg-type]
    assert _snapshot(client, run_id) == before


def test_negative_timestamp(client: Client, run_id: str) -> None:
    with pytest.raises(tracklite.InvalidParameterValue):
        client.log_metric(run_id, "m", 1.0, timestamp=-5)


def test_batch_is_all_or_nothing(client: Client, run_id: str) -> None:
    before = _snapshot(client, run_id)
    with pytest.raises(tracklite.InvalidParameterValue):
        client.log_batch(run_id, metrics=[Metric("good", 1.0, 0, 0), Metric("bad", "x", 0, 0)])  # type: ignore[arg-type]
    with pytest.raises(tracklite.InvalidParameterValue, match="Changing param"):
        client.log_batch(run_id, metrics=[Metric("good", 1.0, 0, 0)], params=[Param("new", "1"), Param("kept", "2")])
    with pytest.raises(tracklite.InvalidParameterValue, match="Duplicate"):
        client.log_batch(run_id, params=[Param("d", "1"), Param("d", "1")])
    with pytest.raises(tracklite.InvalidParameterValue, match="at most 1000 metrics"):
        client.log_batch(run_id, metrics=[Metric("m", 1.0, 0, i) for i in range(1001)])
    with pytest.raises(tracklite.InvalidParameterValue, match="at most 100"):
        client.log_batch(run_id, tags=[RunTag(f"t{i}", "v") for i in range(101)])
    assert _snapshot(client, run_id) == before


def test_fluent_log_metrics_all_or_nothing(store_path: str) -> None:
    with tracklite.start_run() as run, pytest.raises(tracklite.InvalidParameterValue):
        tracklite.log_metrics({"ok": 1.0, "bad name*": 2.0})
    assert tracklite.get_run(run.info.run_id).data.metrics == {}


def test_oversized_values(client: Client, run_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _snapshot(client, run_id)
    monkeypatch.setenv("TRACKLITE_TRUNCATE_LONG_VALUES", "false")
    with pytest.raises(tracklite.InvalidParameterValue, match="exceeded length limit of 6000"):
        client.log_param(run_id, "big", "x" * 6001)
    with pytest.raises(tracklite.InvalidParameterValue, match="exceeded length limit of 8000"):
        client.set_tag(run_id, "big", "x" * 8001)
    assert _snapshot(client, run_id) == before
    monkeypatch.setenv("TRACKLITE_TRUNCATE_LONG_VALUES", "true")
    with pytest.warns(UserWarning, match="truncated"):
        client.log_param(run_id, "big", "y" * 7000)
    assert client.get_run(run_id).data.params["big"] == "y" * 6000


def test_bad_experiment_names(client: Client) -> None:
    for bad in ("", "x" * 501, 5):
        with pytest.raises(tracklite.InvalidParameterValue):
            client.create_experiment(bad)  # type: ignore[arg-type]
    assert [e.name for e in client.search_experiments()] == ["Default"]


def test_bad_run_ids(client: Client) -> None:
    for bad in ("", "../x", "a/b", "-lead"):
        with pytest.raises(tracklite.InvalidParameterValue, match="Invalid run ID"):
            client.get_run(bad)


@pytest.mark.parametrize("path", ["/etc/passwd", "../escape.txt", "a/../../b", "a\\b.txt", "C:/x"])
def test_artifact_path_traversal(client: Client, run_id: str, path: str, tmp_path: os.PathLike[str]) -> None:
    with pytest.raises(tracklite.InvalidParameterValue, match="Invalid artifact path"):
        client.log_text(run_id, "x", path)
    local = os.path.join(tmp_path, "f.txt")
    with open(local, "w") as fh:
        fh.write("data")
    with pytest.raises(tracklite.InvalidParameterValue):
        client.log_artifact(run_id, local, artifact_path=path)
    with pytest.raises(tracklite.InvalidParameterValue):
        client.download_artifacts(run_id, path, str(tmp_path))
    assert client.list_artifacts(run_id) == []


def test_logging_to_missing_run(client: Client) -> None:
    missing = "f" * 32
    with pytest.raises(tracklite.ResourceDoesNotExist):
        client.log_metric(missing, "m", 1.0)
    with pytest.raises(tracklite.ResourceDoesNotExist):
        client.log_param(missing, "p", 1)
