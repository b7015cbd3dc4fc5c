"""The fluent API and Client against a real store file: MLflow's names and semantics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tracklite
from tracklite import Client, Metric, Param, RunTag, ViewType

ALSO_ON_LAKE = True  # conftest: each test runs on a store file and on a lake


def test_fluent_run_lifecycle(store_path: str) -> None:
    exp = tracklite.set_experiment("lifecycle")
    with tracklite.start_run(run_name="r1", tags={"team": "a"}, description="first run") as run:
        assert tracklite.active_run() is run
        assert tracklite.log_param("lr", 0.01) == 0.01
        tracklite.log_params({"epochs": 3, "opt": "adam"})
        tracklite.set_tag("stage", "dev")
        tracklite.set_tags({"a": 1, "b": "two"})
        for step in range(3):
            tracklite.log_metric("loss", 1.0 / (step + 1), step=step)
        tracklite.log_metrics({"acc": 0.9, "f1": 0.8}, step=2)
    assert tracklite.active_run() is None
    got = tracklite.get_run(run.info.run_id)
    assert got.info.status == "FINISHED"
    assert got.info.end_time is not None and got.info.end_time >= got.info.start_time
    assert got.info.experiment_id == exp.experiment_id
    assert got.info.run_name == "r1"
    assert got.data.params == {"lr": "0.01", "epochs": "3", "opt": "adam"}
    assert got.data.metrics == {"loss": pytest.approx(1 / 3), "acc": 0.9, "f1": 0.8}
    tags = got.data.tags
    assert tags["team"] == "a" and tags["stage"] == "dev" and tags["a"] == "1" and tags["b"] == "two"
    assert tags["mlflow.runName"] == "r1"
    assert tags["mlflow.note.content"] == "first run"
    assert tags["mlflow.source.type"] == "LOCAL"
    assert "mlflow.user" in tags and "mlflow.source.name" in tags
    assert tracklite.last_active_run().info.run_id == run.info.run_id  # type: ignore[union-attr]


def test_exception_in_with_block_fails_run(store_path: str) -> None:
    with pytest.raises(RuntimeError), tracklite.start_run() as run:
        tracklite.log_metric("x", 1.0)
        raise RuntimeError("boom")
    got = tracklite.get_run(run.info.run_id)
    assert got.info.status == "FAILED"
    assert got.data.metrics == {"x": 1.0}


def test_nested_runs_carry_parent_tag(store_path: str) -> None:
    with tracklite.start_run() as parent:
        with pytest.raises(tracklite.InvalidState, match="already active"):
            tracklite.start_run()
        with tracklite.start_run(nested=True) as child:
            tracklite.log_metric("child_m", 2.0)
        assert tracklite.active_run() is parent
        tracklite.log_metric("parent_m", 1.0)
    c = tracklite.get_run(child.info.run_id)
    assert c.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert c.data.metrics == {"child_m": 2.0}
    assert tracklite.get_run(parent.info.run_id).data.metrics == {"parent_m": 1.0}


def test_resume_run(store_path: str) -> None:
    with tracklite.start_run() as run:
        tracklite.log_metric("m", 1.0, step=0)
    with tracklite.start_run(run_id=run.info.run_id):
        assert tracklite.get_run(run.info.run_id).info.status == "RUNNING"
        tracklite.log_metric("m", 2.0, step=1)
    hist = Client().get_metric_history(run.info.run_id, "m")
    assert [(m.step, m.value) for m in hist] == [(0, 1.0), (1, 2.0)]
    assert tracklite.get_run(run.info.run_id).info.status == "FINISHED"


def test_log_metric_without_active_run_starts_one(store_path: str) -> None:
    tracklite.log_metric("auto", 3.0)
    run = tracklite.active_run()
    assert run is not None
    tracklite.end_run()
    assert tracklite.get_run(run.info.run_id).data.metrics == {"auto": 3.0}


def test_generated_run_name_and_default_experiment(store_path: str) -> None:
    with tracklite.start_run() as run:
        pass
    assert run.info.experiment_id == "0"
    assert run.info.run_name.count("-") == 2
    assert tracklite.get_experiment("0").name == "Default"


def test_param_cannot_change(client: Client) -> None:
    run = client.create_run("0")
    rid = run.info.run_id
    client.log_param(rid, "lr", 0.1)
    client.log_param(rid, "lr", "0.1")  # same value again is fine
    with pytest.raises(tracklite.InvalidParameterValue, match="Changing param values is not allowed") as err:
        client.log_param(rid, "lr", 0.2)
    assert err.value.error_code == "INVALID_PARAMETER_VALUE" and err.value.http_status == 400
    assert client.get_run(rid).data.params == {"lr": "0.1"}


def test_tags_can_change_and_be_deleted(client: Client) -> None:
    rid = client.create_run("0").info.run_id
    client.set_tag(rid, "t", "1")
    client.set_tag(rid, "t", "2")
    assert client.get_run(rid).data.tags["t"] == "2"
    client.delete_tag(rid, "t")
    assert "t" not in client.get_run(rid).data.tags
    with pytest.raises(tracklite.ResourceDoesNotExist):
        client.delete_tag(rid, "t")


def test_metric_history_keeps_every_point(client: Client) -> None:
    rid = client.create_run("0").info.run_id
    values = [0.5, math.nan, math.inf, -math.inf, -0.0, 1e308]
    for i, v in enumerate(values):
        client.log_metric(rid, "m", v, timestamp=1000 + i, step=10 - i)
    hist = client.get_metric_history(rid, "m")  # ordered by step, then timestamp
    assert [m.step for m in hist] == [5, 6, 7, 8, 9, 10]
    assert [m.timestamp for m in hist] == [1005, 1004, 1003, 1002, 1001, 1000]
    got = [m.value for m in hist][::-1]
    assert math.isnan(got[1]) and got[2] == math.inf and got[3] == -math.inf and got[5] == 1e308
    assert math.copysign(1, got[4]) == -1.0  # -0.0 keeps its sign
    assert all(isinstance(m, Metric) for m in hist)
    # latest value: the largest (step, timestamp, value)
    assert client.get_run(rid).data.metrics["m"] == 0.5


def test_log_batch(client: Client) -> None:
    rid = client.create_run("0").info.run_id
    client.log_batch(
        rid,
        metrics=[Metric("a", 1.0, 1, 0), Metric("a", 2.0, 2, 1)],
        params=[Param("p", "v")],
        tags=[RunTag("t", "x")],
    )
    run = client.get_run(rid)
    assert run.data.metrics == {"a": 2.0} and run.data.params == {"p": "v"} and run.data.tags["t"] == "x"


def test_metric_series_numpy(client: Client) -> None:
    rid = client.create_run("0").info.run_id
    values = np.linspace(0, 1, 10_000)
    assert client.log_metric_series(rid, "curve", values) == 10_000
    client.log_metric_series(rid, "explicit", [1.0, 2.0], steps=[5, 7], timestamps=[11, 12])
    cols = client.get_metric_series(rid, "curve")
    np.testing.assert_array_equal(cols["value"], values)
    np.testing.assert_array_equal(cols["step"], np.arange(10_000))
    assert [(m.step, m.timestamp, m.value) for m in client.get_metric_history(rid, "explicit")] == [
        (5, 11, 1.0),
        (7, 12, 2.0),
    ]
    table = client.get_metric_series(rid, "curve", format="arrow")
    assert table.num_rows == 10_000 and table.column_names == ["step", "timestamp", "value"]


def test_fluent_series(store_path: str) -> None:
    with tracklite.start_run() as run:
        tracklite.log_metric_series("s", np.arange(5, dtype=np.float64))
    assert tracklite.get_run(run.info.run_id).data.metrics == {"s": 4.0}


def test_delete_and_restore_run(populated: dict[str, str], client: Client) -> None:
    rid = populated["first"]
    client.delete_run(rid)
    assert client.get_run(rid).info.lifecycle_stage == "deleted"
    with pytest.raises(tracklite.InvalidParameterValue, match="must be in the 'active' state"):
        client.log_param(rid, "new", 1)
    listed = client.store.list_runs([populated["experiment_id"]], ViewType.ACTIVE_ONLY)
    assert [r.info.run_id for r in listed] == [populated["second"]]
    client.restore_run(rid)
    assert client.get_run(rid).info.lifecycle_stage == "active"


def test_experiments(client: Client) -> None:
    eid = client.create_experiment("exp-a", tags={"team": "x"})
    assert client.get_experiment(eid).tags == {"team": "x"}
    assert client.get_experiment_by_name("exp-a").experiment_id == eid  # type: ignore[union-attr]
    assert client.get_experiment_by_name("missing") is None
    with pytest.raises(tracklite.ResourceAlreadyExists):
        client.create_experiment("exp-a")
    client.create_experiment("exp-b")
    names = [e.name for e in client.search_experiments(filter_string="name LIKE 'exp-%'", order_by=["name ASC"])]
    assert names == ["exp-a", "exp-b"]
    assert [e.name for e in client.search_experiments(filter_string="tags.team = 'x'")] == ["exp-a"]
    client.delete_experiment(eid)
    assert [e.name for e in client.search_experiments(view_type=ViewType.DELETED_ONLY)] == ["exp-a"]
    with pytest.raises(tracklite.ResourceAlreadyExists, match="deleted state"):
        client.create_experiment("exp-a")
    client.restore_experiment(eid)
    client.rename_experiment(eid, "exp-renamed")
    assert client.get_experiment(eid).name == "exp-renamed"
    with pytest.raises(tracklite.ResourceDoesNotExist):
        client.get_experiment("999")
    with pytest.raises(tracklite.InvalidParameterValue, match="position 5"):
        client.search_experiments(filter_string="name ~ 'x'")


def test_set_experiment_then_runs_go_there(store_path: str) -> None:
    exp = tracklite.set_experiment("target")
    with tracklite.start_run() as run:
        pass
    assert run.info.experiment_id == exp.experiment_id
    assert tracklite.set_experiment(experiment_id=exp.experiment_id).name == "target"
    with pytest.raises(tracklite.InvalidParameterValue):
        tracklite.set_experiment()


def test_mlflow_client_alias_and_exception_alias() -> None:
    assert tracklite.MlflowClient is tracklite.Client
    assert tracklite.MlflowException is tracklite.TrackliteError
    assert issubclass(tracklite.ResourceDoesNotExist, tracklite.MlflowException)


def test_get_missing_run(client: Client) -> None:
    with pytest.raises(tracklite.ResourceDoesNotExist, match="not found") as err:
        client.get_run("0123456789abcdef0123456789abcdef")
    assert err.value.http_status == 404 and err.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_set_terminated_and_update_run(client: Client) -> None:
    rid = client.create_run("0").info.run_id
    client.update_run(rid, name="renamed")
    assert client.get_run(rid).data.tags["mlflow.runName"] == "renamed"
    client.set_terminated(rid, "KILLED", end_time=123)
    info = client.get_run(rid).info
    assert (info.status, info.end_time, info.run_name) == ("KILLED", 123, "renamed")
    with pytest.raises(tracklite.InvalidParameterValue):
        client.set_terminated(rid, "DONE")
