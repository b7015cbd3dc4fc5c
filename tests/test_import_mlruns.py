"""``import_mlruns`` on trees real MLflow wrote, compared field by field with what MLflow reads back;
and the ``bulk_load`` API it stands on (ids kept, idempotent, long histories in bounded pieces)."""

from __future__ import annotations

import contextlib
import math
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import mlflow
import mlflow.sklearn
import numpy as np
import pyarrow as pa
import pytest
import tracklite
import tracklite.pyfunc
import tracklite.sklearn
from mlflow.entities import ViewType
from tracklite.errors import InvalidParameterValue, ResourceAlreadyExists, ResourceDoesNotExist
from tracklite.exchange import mlruns_import
from tracklite.exchange.mlruns_import import import_mlruns
from tracklite.store import get_store
from tracklite.store.bulk_load import (
    INCOMPLETE_TAG,
    BulkLoader,
    ExperimentRecord,
    LoggedModelRecord,
    ModelVersionRecord,
    RegisteredModelRecord,
    RunRecord,
    StoredFiles,
    load,
)

# Stages are deprecated in MLflow; it warns on every stage call and on reading them.
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

_BIG = bytes(range(256)) * (5 * 4096 + 7)  # a little over 5 MiB: more than one 4 MiB chunk


@contextlib.contextmanager
def mlflow_at(uri: str) -> Iterator[mlflow.MlflowClient]:
    """MLflow's tracking and registry URI set to ``uri`` for the block (its client on it), reset after."""
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield mlflow.MlflowClient(uri, uri)
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
        mlflow.set_registry_uri(None)  # type: ignore[arg-type]


def log_history(client: mlflow.MlflowClient, folder: Path, logreg: Any) -> dict[str, Any]:
    """What an MLflow user's store holds, logged by real MLflow where ``mlflow_at`` points it:
    experiments (one deleted) with tags, nested and deleted runs, unicode and slashed keys, NaN and
    ±inf, repeated steps, artifact files, a logged model, and a registered model with versions,
    stages, an alias, tags and descriptions (one version deleted). Returns the ids."""
    exp = client.create_experiment("exp-ü", tags={"team": "vision", "owner/name": "ana"})
    gone = client.create_experiment("gone", tags={"why": "obsolete"})
    with mlflow.start_run(experiment_id=exp, run_name="parent", description="the parent") as parent:
        mlflow.log_params({"lr": 0.01, "layers/dense": 3, "ñame": "ünï"})
        mlflow.set_tags({"kind": "sweep", "nested/deep/tag": "x/y", "uni": "héllo ✓ 日本"})
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step, timestamp=1_700_000_000_000 + step)
            mlflow.log_metric("val/acc", 0.5 + step / 10, step=step * 10)
        for step, value in enumerate((math.nan, math.inf, -math.inf, 0.5)):
            mlflow.log_metric("odd", value, step=step)
        mlflow.log_metric("loss", 7.0, step=2, timestamp=1_700_000_000_002)  # a repeated step
        mlflow.log_text("hello ✓", "notes/readme.txt")
        mlflow.log_dict({"a": 1}, "config.json")
        big = folder / "big.bin"
        big.write_bytes(_BIG)
        mlflow.log_artifact(str(big), "data")
        info = mlflow.sklearn.log_model(
            logreg,
            name="model",
            registered_model_name="iris-model",
            serialization_format="cloudpickle",
            pip_requirements=["scikit-learn"],
        )
        with mlflow.start_run(run_name="child", nested=True) as child:
            mlflow.log_metric("child_m", 2.0)
    with mlflow.start_run(experiment_id=exp, run_name="doomed") as doomed:
        mlflow.log_param("p", "1")
        mlflow.log_metric("m", 3.0)
    client.delete_run(doomed.info.run_id)
    with mlflow.start_run(experiment_id=gone, run_name="in-gone") as in_gone:
        mlflow.log_metric("m", 1.0)
    client.delete_experiment(gone)
    client.set_registered_model_tag("iris-model", "rtag", "r ✓")
    client.update_registered_model("iris-model", "the iris model")
    client.create_model_version("iris-model", info.model_uri, run_id=parent.info.run_id)
    client.create_model_version("iris-model", info.model_uri, run_id=parent.info.run_id)
    client.transition_model_version_stage("iris-model", "1", "Staging")
    client.transition_model_version_stage("iris-model", "2", "Production")
    client.set_registered_model_alias("iris-model", "champion", "2")
    client.set_model_version_tag("iris-model", "1", "vtag", "1")
    client.update_model_version("iris-model", "2", "promoted")
    client.delete_model_version("iris-model", "3")
    return {
        "experiments": [exp, gone],
        "parent": parent.info.run_id,
        "child": child.info.run_id,
        "doomed": doomed.info.run_id,
        "in_gone": in_gone.info.run_id,
        "model_id": info.model_id,
    }


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory, logreg: Any, iris: Any) -> Iterator[dict[str, Any]]:
    """An mlruns tree written by real MLflow: what an MLflow user's tree holds."""
    root = tmp_path_factory.mktemp("source") / "mlruns"
    uri = f"file:{root}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
        with mlflow_at(uri) as client:
            ids = log_history(client, root.parent, logreg)
    yield {"root": str(root), "uri": uri, "x": iris[0], **ids}


@pytest.fixture
def oracle(source: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> mlflow.MlflowClient:
    """MLflow's own client reading the source tree."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    return mlflow.MlflowClient(source["uri"], source["uri"])


@pytest.fixture
def imported(source: dict[str, Any], store_path: str) -> dict[str, int]:
    """The counts of importing the source tree into the test's store."""
    return import_mlruns(source["root"], tracking_uri=store_path)


# -- helpers -----------------------------------------------------------------------------------------


def _snapshot(store_path: str) -> dict[str, list[str]]:
    """Every row of every table of the store, as sorted reprs (NaN compares equal that way)."""
    tables = [
        r[0]
        for r in tracklite.sql(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' ORDER BY 1", tracking_uri=store_path
        ).fetchall()
    ]
    return {
        t: sorted(repr(row) for row in tracklite.sql(f"SELECT * FROM main.{t}", tracking_uri=store_path).fetchall())
        for t in tables
    }


def _same(value: float) -> float:
    return value


def _points(history: list[Any], as_logged: Callable[[float], float] = _same) -> list[tuple[int, int, str]]:
    return sorted((m.step, m.timestamp, repr(as_logged(m.value))) for m in history)


def _latest(metrics: dict[str, float], as_logged: Callable[[float], float] = _same) -> dict[str, str]:
    return {k: repr(as_logged(v)) for k, v in metrics.items()}


def _files(list_artifacts: Any, run_id: str, path: str | None = None) -> dict[str, int | None]:
    """Every file of a run's artifacts, recursively: ``{path: size}``."""
    out: dict[str, int | None] = {}
    for info in list_artifacts(run_id, path):
        if info.is_dir:
            out.update(_files(list_artifacts, run_id, info.path))
        else:
            out[info.path] = info.file_size
    return out


def _version(mv: Any) -> dict[str, Any]:
    return {
        "name": mv.name,
        "version": int(mv.version),
        "current_stage": mv.current_stage,
        "description": mv.description,
        "user_id": mv.user_id,
        "source": mv.source,
        "run_id": mv.run_id,
        "run_link": mv.run_link,
        "model_id": mv.model_id,
        "status": str(mv.status),
        "creation_timestamp": mv.creation_timestamp,
        "last_updated_timestamp": mv.last_updated_timestamp,
        "tags": dict(mv.tags),
        "aliases": sorted(mv.aliases),
    }


# -- comparisons with what MLflow reads (test_import_mlflow_db.py makes them too) ---------------------


def check_experiments(oracle: mlflow.MlflowClient, client: tracklite.Client) -> dict[str, Any]:
    """Every experiment as MLflow and tracklite report it; returns tracklite's by id."""
    theirs = {e.experiment_id: e for e in oracle.search_experiments(view_type=ViewType.ALL)}
    ours = {e.experiment_id: e for e in client.search_experiments(view_type=ViewType.ALL)}
    assert set(ours) == set(theirs)
    for exp_id, exp in theirs.items():
        mine = ours[exp_id]
        fields = ("name", "lifecycle_stage", "creation_time", "last_update_time")
        if exp_id == "0":  # the store's own Default experiment was kept as it was
            fields = ("name", "lifecycle_stage")
        assert {f: getattr(mine, f) for f in fields} == {f: getattr(exp, f) for f in fields}, exp_id
        assert mine.tags == exp.tags
        assert mine.artifact_location == f"tracklite-artifacts:/{exp_id}"
    return ours


def check_runs(
    oracle: mlflow.MlflowClient,
    client: tracklite.Client,
    experiment_ids: list[str],
    as_logged: Callable[[float], float] = _same,
) -> dict[str, Any]:
    """Every run of the experiments, with params, tags and every metric point, as MLflow (its
    values mapped by ``as_logged``) and tracklite report it; returns tracklite's by id."""
    theirs = {r.info.run_id: r for r in oracle.search_runs(experiment_ids, run_view_type=ViewType.ALL)}
    ours = {r.info.run_id: r for r in client.search_runs(experiment_ids, run_view_type=ViewType.ALL)}
    assert set(ours) == set(theirs)
    for run_id, run in theirs.items():
        mine = ours[run_id]
        for field in ("experiment_id", "run_name", "user_id", "status", "start_time", "end_time", "lifecycle_stage"):
            assert getattr(mine.info, field) == getattr(run.info, field), (run_id, field)
        assert mine.info.artifact_uri == f"tracklite-artifacts:/{run.info.experiment_id}/{run_id}/artifacts"
        assert mine.data.params == run.data.params
        assert mine.data.tags == run.data.tags
        assert _latest(mine.data.metrics) == _latest(run.data.metrics, as_logged)
        for key in run.data.metrics:
            mine_points = _points(client.get_metric_history(run_id, key))
            assert mine_points == _points(oracle.get_metric_history(run_id, key), as_logged), (run_id, key)
    return ours


def check_artifacts(oracle: mlflow.MlflowClient, client: tracklite.Client, run_ids: list[str], tmp_path: Path) -> None:
    """Every artifact file of the runs, listed and read, as MLflow and tracklite give it."""
    for run_id in run_ids:
        theirs = _files(oracle.list_artifacts, run_id)
        assert _files(client.list_artifacts, run_id) == theirs, run_id
        for path in theirs:
            local = oracle.download_artifacts(run_id, path, str(tmp_path / run_id))
            assert client.read_artifact(run_id, path) == Path(local).read_bytes(), (run_id, path)


def check_logged_model(oracle: mlflow.MlflowClient, client: tracklite.Client, model_id: str, model_dir: Path) -> None:
    """A logged model as MLflow and tracklite report it, its files those of ``model_dir``."""
    theirs = oracle.get_logged_model(model_id)
    mine = client.get_logged_model(model_id)
    for field in ("model_id", "experiment_id", "name", "source_run_id", "creation_timestamp", "last_updated_timestamp"):
        assert getattr(mine, field) == getattr(theirs, field), field
    assert mine.status == str(theirs.status) == "READY"
    assert mine.params == theirs.params and mine.tags == theirs.tags
    assert mine.artifact_location == f"tracklite-artifacts:/{theirs.experiment_id}/models/{model_id}/artifacts"
    files = {rel: size for rel, size, _ in client.store.logged_model_manifest(model_id)}  # type: ignore[attr-defined]
    assert files == {p.relative_to(model_dir).as_posix(): p.stat().st_size for p in model_dir.rglob("*") if p.is_file()}


def check_registered_model(oracle: mlflow.MlflowClient, client: tracklite.Client, name: str) -> list[dict[str, Any]]:
    """A registered model and its live versions as MLflow and tracklite report them (aliases as
    numbers); returns tracklite's versions."""
    theirs = oracle.get_registered_model(name)
    mine = client.get_registered_model(name)
    for field in ("name", "description", "creation_timestamp", "last_updated_timestamp"):
        assert getattr(mine, field) == getattr(theirs, field), field
    assert mine.tags == theirs.tags
    assert mine.aliases == {k: int(v) for k, v in theirs.aliases.items()}
    assert sorted(_version(v)["version"] for v in mine.latest_versions) == sorted(
        int(v.version) for v in theirs.latest_versions
    )
    numbers = sorted(int(v.version) for v in oracle.search_model_versions(f"name = '{name}'"))
    their_versions = [_version(oracle.get_model_version(name, str(n))) for n in numbers]
    my_versions = [_version(client.get_model_version(name, str(n))) for n in numbers]
    # MLflow's SQL registry keeps no model_id (it reports None); tracklite has it from the source.
    assert my_versions == [v | {"model_id": m["model_id"]} if v["model_id"] is None else v
                           for v, m in zip(their_versions, my_versions, strict=True)]  # fmt: skip
    return my_versions


def check_imported_again(again: dict[str, int], imported: dict[str, int]) -> None:
    """The counts of a second import: nothing new, everything skipped."""
    assert again["runs"] == again["experiments"] == again["metrics"] == again["artifacts"] == 0
    assert again["runs_skipped"] == imported["runs"]
    assert again["experiments_skipped"] == imported["experiments"] + imported["experiments_skipped"]
    assert again["logged_models_skipped"] == imported["logged_models"]
    assert again["registered_models_skipped"] == imported["registered_models"]


# -- the tree MLflow wrote ---------------------------------------------------------------------------


def test_import_counts(imported: dict[str, int]) -> None:
    assert imported["experiments"] == 2  # "0" (Default) is in both and skipped
    assert imported["experiments_skipped"] == 1
    assert imported["runs"] == 4
    assert imported["logged_models"] == 1
    assert imported["registered_models"] == 1
    assert imported["model_versions"] == 2  # the deleted third keeps its row but is not counted
    assert imported["aliases"] == 1
    assert imported["artifacts"] >= 3 + 5  # the run's three files and the model's files


def test_experiments_match_mlflow(
    imported: dict[str, int], oracle: mlflow.MlflowClient, client: tracklite.Client
) -> None:
    assert check_experiments(oracle, client)["0"].tags == {}


def test_runs_params_tags_metrics_match_mlflow(
    imported: dict[str, int], source: dict[str, Any], oracle: mlflow.MlflowClient, client: tracklite.Client
) -> None:
    ours = check_runs(oracle, client, [*source["experiments"], "0"])
    assert set(ours) == {source[k] for k in ("parent", "child", "doomed", "in_gone")}
    parent = ours[source["parent"]]
    assert parent.data.tags["nested/deep/tag"] == "x/y" and parent.data.tags["uni"] == "héllo ✓ 日本"
    assert parent.data.params["layers/dense"] == "3"
    assert repr(parent.data.metrics["odd"]) == "0.5"
    odd = _points(client.get_metric_history(source["parent"], "odd"))
    assert {step: v for step, _, v in odd} == {0: "nan", 1: "inf", 2: "-inf", 3: "0.5"}
    # log_model appended the run's metrics again at the model's step: every line is a point.
    assert len(client.get_metric_history(source["parent"], "loss")) == len(
        oracle.get_metric_history(source["parent"], "loss")
    )
    assert ours[source["child"]].data.tags["mlflow.parentRunId"] == source["parent"]
    assert ours[source["doomed"]].info.lifecycle_stage == "deleted"
    deleted_time = tracklite.sql(
        "SELECT deleted_time FROM main.runs WHERE run_id = ?", [source["doomed"]], tracking_uri=client.tracking_uri
    ).fetchall()[0][0]
    assert isinstance(deleted_time, int) and deleted_time >= ours[source["doomed"]].info.start_time


def test_artifacts_match_mlflow(
    imported: dict[str, int],
    source: dict[str, Any],
    oracle: mlflow.MlflowClient,
    client: tracklite.Client,
    tmp_path: Path,
) -> None:
    check_artifacts(oracle, client, [source[k] for k in ("parent", "child", "doomed", "in_gone")], tmp_path)
    assert client.read_artifact(source["parent"], "data/big.bin") == _BIG


def test_logged_models_match_mlflow(
    imported: dict[str, int], source: dict[str, Any], oracle: mlflow.MlflowClient, client: tracklite.Client
) -> None:
    exp = source["experiments"][0]
    model_dir = Path(source["root"]) / exp / "models" / source["model_id"] / "artifacts"
    check_logged_model(oracle, client, source["model_id"], model_dir)


def test_registry_matches_mlflow(
    imported: dict[str, int], oracle: mlflow.MlflowClient, client: tracklite.Client
) -> None:
    versions = check_registered_model(oracle, client, "iris-model")
    mine = client.get_registered_model("iris-model")
    assert mine.tags == {"rtag": "r ✓"} and mine.aliases == {"champion": 2}
    assert [v["current_stage"] for v in versions] == ["Staging", "Production"]
    with pytest.raises(ResourceDoesNotExist):
        client.get_model_version("iris-model", "3")  # deleted in MLflow, so deleted here
    for version in (1, 2):
        location = client.get_model_version("iris-model", str(version)).storage_location
        assert location is not None and location.startswith("tracklite-artifacts:/@registry/")


def test_registry_audit_rows(imported: dict[str, int], client: tracklite.Client) -> None:
    events = client.get_registry_history("iris-model")
    actions = [e.action for e in events]
    assert actions[0] == "create_registered_model"
    assert actions.count("create_model_version") == 3
    assert "delete_model_version" in actions and "set_registered_model_alias" in actions
    assert ("transition_model_version_stage", 2, "Production") in [(e.action, e.version, e.new_value) for e in events]
    assert all(e.user_id for e in events)


def test_imported_model_loads_and_predicts(imported: dict[str, int], source: dict[str, Any], logreg: Any) -> None:
    x = source["x"]
    expected = logreg.predict(x)
    for uri in ("models:/iris-model/1", "models:/iris-model@champion", "models:/iris-model/Production"):
        assert (tracklite.pyfunc.load_model(uri).predict(x) == expected).all(), uri
    assert (tracklite.pyfunc.load_model(f"models:/{source['model_id']}").predict(x) == expected).all()
    assert (tracklite.pyfunc.load_model(f"runs:/{source['parent']}/model").predict(x) == expected).all()


def test_second_import_changes_nothing(source: dict[str, Any], store_path: str, imported: dict[str, int]) -> None:
    before = _snapshot(store_path)
    again = import_mlruns(source["root"], tracking_uri=store_path)
    assert _snapshot(store_path) == before
    check_imported_again(again, imported)


def test_imports_into_the_current_tracking_uri(source: dict[str, Any], store_path: str) -> None:
    counts = import_mlruns(source["root"])  # store_path is the current tracking URI
    assert counts["runs"] == 4
    assert tracklite.Client().get_run(source["parent"]).info.run_name == "parent"


# -- bad input ---------------------------------------------------------------------------------------


def test_bad_sources_leave_the_store_unchanged(tmp_path: Path, client: tracklite.Client, store_path: str) -> None:
    run = client.create_run("0", run_name="mine")
    client.log_metric(run.info.run_id, "m", 1.0)
    client.flush()
    before = _snapshot(store_path)
    (tmp_path / "empty").mkdir()
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "other" / "sub").mkdir(parents=True)
    (tmp_path / "other" / "sub" / "notes.txt").write_text("not mlflow")
    with pytest.raises(ResourceDoesNotExist, match="does not exist"):
        import_mlruns(str(tmp_path / "missing"), tracking_uri=store_path)
    with pytest.raises(InvalidParameterValue, match="is a file"):
        import_mlruns(str(tmp_path / "a-file"), tracking_uri=store_path)
    for folder in ("empty", "other"):
        with pytest.raises(InvalidParameterValue, match="not an MLflow mlruns tree"):
            import_mlruns(str(tmp_path / folder), tracking_uri=store_path)
    assert _snapshot(store_path) == before


def test_bad_source_creates_no_store(tmp_path: Path) -> None:
    target = tmp_path / "new.duckdb"
    with pytest.raises(ResourceDoesNotExist):
        import_mlruns(str(tmp_path / "missing"), tracking_uri=str(target))
    assert not target.exists()


def test_experiment_name_clash_is_refused(source: dict[str, Any], client: tracklite.Client, store_path: str) -> None:
    mine = client.create_experiment("exp-ü")
    before = _snapshot(store_path)
    with pytest.raises(ResourceAlreadyExists) as err:
        import_mlruns(source["root"], tracking_uri=store_path)
    assert mine in err.value.message and source["experiments"][0] in err.value.message
    assert "rename" in err.value.message.lower()
    assert _snapshot(store_path) == before


# -- trees written by hand: MLflow 2 layout, odd metric lines ------------------------------------------


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _mlflow2_tree(root: Path, logreg: Any) -> str:
    """A tree as MLflow 2 wrote it: no run_name in meta.yaml, models as run artifacts, a version
    whose source is the run's artifact folder; odd but valid metric lines."""
    run_id = "0123456789abcdef0123456789abcdef"
    exp = root / "7"
    _write(
        exp / "meta.yaml", f"artifact_location: file://{exp}\nexperiment_id: '7'\nlifecycle_stage: active\nname: old\n"
    )
    run = exp / run_id
    _write(
        run / "meta.yaml",
        f"artifact_uri: file:///elsewhere/mlruns/7/{run_id}/artifacts\nend_time: 1600000000500\n"
        "entry_point_name: ''\nexperiment_id: '7'\nlifecycle_stage: active\n"
        f"run_id: {run_id}\nrun_uuid: {run_id}\nsource_name: ''\nsource_type: 4\nsource_version: ''\n"
        "start_time: 1600000000000\nstatus: 5\ntags: []\nuser_id: bob\n",
    )
    _write(run / "tags" / "mlflow.runName", "legacy-run")
    _write(run / "params" / "alpha", "0.5")
    (run / "params" / "multi").write_text("line 1\nline 2", encoding="utf-8")
    _write(
        run / "metrics" / "mixed",
        "1600000000001 1.5\n1600000000002 2.5 3\n1600000000003 0.5 7 ds abc123\n\n1600000000002 2.5 3\n",
    )
    _write(run / "metrics" / "sub" / "nested", "1600000000004 nan 0\r\n1600000000005 -inf 1\r\n")
    tracklite.sklearn.save_model(logreg, str(run / "artifacts" / "model"))
    reg = root / "models" / "old-model"
    _write(reg / "meta.yaml", "creation_timestamp: 1600000001000\ndescription: null\n"
           "last_updated_timestamp: 1600000002000\nname: old-model\n")  # fmt: skip
    _write(
        reg / "version-1" / "meta.yaml",
        "creation_timestamp: 1600000001000\ncurrent_stage: Production\ndescription: first\n"
        f"last_updated_timestamp: 1600000002000\nname: old-model\nrun_id: {run_id}\nrun_link: ''\n"
        f"source: file:///elsewhere/mlruns/7/{run_id}/artifacts/model\nstatus: READY\nstatus_message: ''\n"
        "user_id: bob\nversion: 1\n",
    )
    _write(reg / "aliases" / "best", "1")
    _write(reg / "tags" / "team", "old")
    return run_id


def test_mlflow2_tree(tmp_path: Path, client: tracklite.Client, logreg: Any, iris: Any, store_path: str) -> None:
    root = tmp_path / "mlruns"
    run_id = _mlflow2_tree(root, logreg)
    counts = import_mlruns(str(root), tracking_uri=store_path)
    assert counts["runs"] == 1 and counts["model_versions"] == 1 and counts["experiments"] == 1
    run = client.get_run(run_id)
    assert (run.info.run_name, run.info.status, run.info.user_id) == ("legacy-run", "KILLED", "bob")
    assert run.data.params == {"alpha": "0.5", "multi": "line 1\nline 2"}
    mixed = [(m.step, m.timestamp, m.value) for m in client.get_metric_history(run_id, "mixed")]
    # Two fields: step 0; five fields: the step written (MLflow's reader says 0); repeats kept.
    assert mixed == [(0, 1600000000001, 1.5), (3, 1600000000002, 2.5), (3, 1600000000002, 2.5), (7, 1600000000003, 0.5)]
    assert run.data.metrics["mixed"] == 0.5
    nested = client.get_metric_history(run_id, "sub/nested")
    assert math.isnan(nested[0].value) and nested[1].value == -math.inf
    # The version's files are the run's model folder, pinned from the imported run (no bytes read twice).
    mv = client.get_model_version("old-model", "1")
    assert (mv.current_stage, mv.description, mv.user_id, mv.aliases) == ("Production", "first", "bob", ["best"])
    x, _ = iris
    model = tracklite.pyfunc.load_model("models:/old-model@best")
    assert (model.predict(x) == logreg.predict(x)).all()
    history = client.get_registry_history("old-model")
    assert {e.user_id for e in history if e.action.endswith("model_version") or "stage" in e.action} == {"bob"}


def test_mlflow2_tree_matches_mlflow(
    tmp_path: Path, client: tracklite.Client, logreg: Any, store_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "mlruns"
    run_id = _mlflow2_tree(root, logreg)
    # MLflow reads a five-field line's step as 0; leave that line out of the comparison.
    _write(root / "7" / run_id / "metrics" / "mixed", "1600000000001 1.5\n1600000000002 2.5 3\n1600000000002 2.5 3\n")
    import_mlruns(str(root), tracking_uri=store_path)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    oracle = mlflow.MlflowClient(f"file:{root}", f"file:{root}")
    theirs, mine = oracle.get_run(run_id), client.get_run(run_id)
    for field in ("run_name", "user_id", "status", "start_time", "end_time", "lifecycle_stage"):
        assert getattr(mine.info, field) == getattr(theirs.info, field), field
    assert (mine.data.params, mine.data.tags) == (theirs.data.params, theirs.data.tags)
    assert _latest(mine.data.metrics) == _latest(theirs.data.metrics)
    for key in theirs.data.metrics:
        assert _points(client.get_metric_history(run_id, key)) == _points(oracle.get_metric_history(run_id, key))
    assert _version(client.get_model_version("old-model", "1")) | {"source": None} == _version(
        oracle.get_model_version("old-model", "1")
    ) | {"source": None, "aliases": ["best"]}


def test_malformed_metric_file_is_named(tmp_path: Path, logreg: Any, store_path: str) -> None:
    root = tmp_path / "mlruns"
    run_id = _mlflow2_tree(root, logreg)
    bad = root / "7" / run_id / "metrics" / "bad"
    _write(bad, "1600000000001 1.5 0\n1600000000002 2.5 3 extra\n")
    with pytest.raises(InvalidParameterValue, match=r"bad' is malformed \(line 2 has 4 fields\)"):
        import_mlruns(str(root), tracking_uri=store_path)


def test_metric_files_read_in_blocks_equal_line_parse(tmp_path: Path) -> None:
    """Arrow's parser on uniform blocks and the line parser agree, across block boundaries."""
    folder = tmp_path / "metrics"
    rng = np.random.default_rng(0)
    values = [*rng.normal(size=3000).tolist(), math.nan, math.inf, -math.inf, 1e-300, -0.0]
    lines = [f"{1_700_000_000_000 + i} {v!r} {i // 3}" for i, v in enumerate(values)]
    lines[1500] = lines[1500].rsplit(" ", 1)[0]  # a two-field line in the middle of a block
    _write(folder / "loss", "\n".join(lines) + "\n")
    _write(folder / "a" / "b", "\n".join(line.rsplit(" ", 1)[0] for line in lines[:500]))  # no final newline

    def read(block_bytes: int, arrow_min_bytes: int) -> list[tuple[str, int, int, str]]:
        tables = list(mlruns_import._metric_batches(str(folder), block_bytes, arrow_min_bytes))
        rows = [
            (str(k), s, t, repr(v))
            for table in tables
            for k, s, t, v in zip(
                *(table.column(c).to_pylist() for c in ("key", "step", "timestamp", "value")), strict=True
            )
        ]
        return sorted(rows)

    in_python = read(1 << 24, 1 << 30)
    assert len(in_python) == len(values) + 500
    assert ("loss", 0, 1_700_000_001_500, repr(values[1500])) in in_python
    assert {r[3] for r in in_python} >= {"nan", "inf", "-inf", "1e-300", "-0.0"}
    assert {r[1] for r in in_python if r[0] == "a/b"} == {0}
    for block_bytes in (1 << 24, 4096, 1000, 37):
        assert read(block_bytes, 0) == in_python, block_bytes
    by_arrow = [
        pa.types.is_dictionary(t.schema.field("key").type) for t in mlruns_import._metric_batches(str(folder), 4096, 0)
    ]
    assert any(by_arrow) and not all(by_arrow)


# -- the bulk_load API -------------------------------------------------------------------------------


def _batches(n: int, size: int, *, fail_after: int | None = None) -> Iterator[pa.Table]:
    for i, start in enumerate(range(0, n, size)):
        if fail_after is not None and i == fail_after:
            raise RuntimeError("source went away")
        step = np.arange(start, min(start + size, n))
        keys = np.where(step % 2 == 0, "loss", "acc")
        yield pa.table({"key": keys, "step": step, "timestamp": step + 1000, "value": np.sqrt(step)})


def test_bulk_load_records(tmp_path: Path, client: tracklite.Client, store_path: str, logreg: Any, iris: Any) -> None:
    store = get_store(store_path)
    files = tmp_path / "files"
    _write(files / "a.txt", "a")
    _write(files / "deep" / "b.txt", "b")
    model_dir = tmp_path / "model"
    tracklite.sklearn.save_model(logreg, str(model_dir))
    records = {
        "experiments": [
            ExperimentRecord("41", "bulk", tags={"k": "v"}, creation_time=5, last_update_time=6),
            ExperimentRecord("42", "bulk-gone", lifecycle_stage="deleted"),
        ],
        "runs": [
            RunRecord(
                "r" * 32, "41", run_name="one", user_id="ann", status="FAILED", start_time=10, end_time=20,
                params={"p": "1"}, tags={"t": "x"}, metrics=_batches(10, 4), artifacts=str(files),
            ),
            RunRecord("s" * 32, "42", lifecycle_stage="deleted", deleted_time=30,
                      artifacts={"m/MLmodel": str(model_dir / "MLmodel")}),
        ],
        "logged_models": [
            LoggedModelRecord("m-" + "1" * 32, "41", "model", source_run_id="r" * 32, creation_timestamp=7,
                              params={"p": "1"}, tags={"t": "y"}, artifacts=str(model_dir)),
        ],
        "registered_models": [
            RegisteredModelRecord(
                "bulk-model", description="d", creation_timestamp=8, tags={"rt": "1"}, aliases={"prod": 2},
                user_id="ann",
                versions=[
                    ModelVersionRecord(1, "models:/m-" + "1" * 32, model_id="m-" + "1" * 32, run_id="r" * 32),
                    ModelVersionRecord(2, "whatever", current_stage="production", files=StoredFiles(
                        f"41/{'r' * 32}/artifacts", "deep")),
                    ModelVersionRecord(3, "runs:/" + "r" * 32 + "/deep", current_stage="Deleted_Internal"),
                    ModelVersionRecord(4, "local", files=str(model_dir), tags={"vt": "2"}),
                ],
            )
        ],
    }  # fmt: skip
    counts = load(store, **records)  # type: ignore[arg-type]
    assert counts["runs"] == 2 and counts["metrics"] == 10 and counts["artifacts"] == 3 + len(os.listdir(model_dir))
    run = client.get_run("r" * 32)
    assert (run.info.status, run.info.start_time, run.info.end_time, run.info.user_id) == ("FAILED", 10, 20, "ann")
    assert run.data.metrics == {"loss": 8.0**0.5, "acc": 3.0}
    assert [m.step for m in client.get_metric_history("r" * 32, "acc")] == [1, 3, 5, 7, 9]
    assert client.read_artifact("r" * 32, "deep/b.txt") == b"b"
    assert client.get_run("s" * 32).info.lifecycle_stage == "deleted"
    assert client.get_experiment("41").tags == {"k": "v"} and client.get_experiment("42").lifecycle_stage == "deleted"
    assert client.get_logged_model("m-" + "1" * 32).creation_timestamp == 7
    model = client.get_registered_model("bulk-model")
    assert (model.description, model.tags, model.aliases) == ("d", {"rt": "1"}, {"prod": 2})
    assert client.get_model_version("bulk-model", "2").current_stage == "Production"
    with pytest.raises(ResourceDoesNotExist):
        client.get_model_version("bulk-model", "3")
    manifest = client.store.registry.model_version_manifest  # type: ignore[attr-defined]
    assert [p for p, _, _ in manifest(client.get_model_version("bulk-model", "2"))] == ["b.txt"]
    x, _ = iris
    for version in (1, 4):
        assert (tracklite.pyfunc.load_model(f"models:/bulk-model/{version}").predict(x) == logreg.predict(x)).all()
    assert {e.user_id for e in client.get_registry_history("bulk-model")} == {"ann"}
    before = _snapshot(store_path)
    records["runs"][0] = RunRecord("r" * 32, "41", metrics=_batches(10, 4, fail_after=0))  # not read: skipped
    again = load(store, **records)  # type: ignore[arg-type]
    assert _snapshot(store_path) == before
    assert again["runs_skipped"] == 2 and again["registered_models_skipped"] == 1


def test_long_history_in_pieces_and_interrupted(client: tracklite.Client, store_path: str) -> None:
    store = get_store(store_path)
    with BulkLoader(store) as loader:
        loader.add_experiments([ExperimentRecord("9", "long")])
    with pytest.raises(RuntimeError, match="source went away"), BulkLoader(store, commit_points=1000) as loader:
        loader.add_run(RunRecord("a" * 32, "9", metrics=_batches(5000, 700, fail_after=3)))
    # Two pieces were committed before the source failed: the run says it is unfinished.
    assert client.get_run("a" * 32).data.tags == {INCOMPLETE_TAG: "true"}
    with BulkLoader(store, commit_points=1000) as loader:
        assert loader.add_run(RunRecord("a" * 32, "9", tags={"t": "1"}, metrics=_batches(5000, 700)))
    run = client.get_run("a" * 32)
    assert run.data.tags == {"t": "1"}
    assert run.data.metrics == {"loss": 4998**0.5, "acc": 4999**0.5}
    loss = client.get_metric_history("a" * 32, "loss")
    assert [m.step for m in loss] == list(range(0, 5000, 2))
    assert tracklite.sql("SELECT count(*) FROM main.runs", tracking_uri=store_path).fetchall() == [(1,)]


def test_bulk_load_refuses_bad_records(client: tracklite.Client, store_path: str) -> None:
    store = get_store(store_path)
    mine = client.create_experiment("mine")
    before = _snapshot(store_path)
    with pytest.raises(ResourceAlreadyExists, match=f"id '{mine}' is 'theirs' in the import but 'mine' in the store"):
        load(store, experiments=[ExperimentRecord(mine, "theirs")], runs=[RunRecord("b" * 32, mine)])
    with pytest.raises(ResourceDoesNotExist, match="experiment 'nope'"):
        load(store, runs=[RunRecord("b" * 32, "nope")])
    with pytest.raises(InvalidParameterValue, match="status"):
        load(store, runs=[RunRecord("b" * 32, "0", status="DONE")])
    with pytest.raises(ResourceAlreadyExists, match="both named 'x'"):
        load(store, experiments=[ExperimentRecord("11", "x"), ExperimentRecord("12", "x")])
    with pytest.raises(InvalidParameterValue, match="columns"):
        load(store, runs=[RunRecord("b" * 32, "0", metrics=[pa.table({"k": [1]})])])
    with pytest.raises(InvalidParameterValue, match="not among its live versions"):
        load(store, registered_models=[RegisteredModelRecord("r", aliases={"a": 1})])
    assert _snapshot(store_path) == before
    loader = BulkLoader(store)
    loader.close()
    with pytest.raises(InvalidParameterValue, match="closed"):
        loader.add_run(RunRecord("b" * 32, "0"))


def test_artifact_rows_as_put_stream_writes_them(tmp_path: Path, client: tracklite.Client, store_path: str) -> None:
    """The loader batches artifact rows itself; they are the rows the store's own put_stream writes."""
    files = tmp_path / "files"
    _write(files / "small.txt", "small ✓")
    (files / "big.bin").write_bytes(_BIG)
    (files / "empty").write_bytes(b"")
    load(get_store(store_path), runs=[RunRecord("c" * 32, "0", artifacts=str(files))])
    native = client.create_run("0").info.run_id
    client.log_artifacts(native, str(files))
    rows = {}
    for run_id in ("c" * 32, native):
        rows[run_id] = tracklite.sql(
            "SELECT path, size, digest, chunks FROM main.artifact_files WHERE root = ? ORDER BY path",
            [f"0/{run_id}/artifacts"],
            tracking_uri=store_path,
        ).fetchall()
    assert rows["c" * 32] == rows[native] and len(rows[native]) == 3
    assert len(rows[native][0][3]) == 2  # big.bin: two chunks
    chunks = tracklite.sql("SELECT count(*) FROM main.artifact_chunks", tracking_uri=store_path).fetchall()
    assert chunks == [(3,)]  # stored once (the empty file has no chunk)
    assert client.read_artifact("c" * 32, "big.bin") == _BIG


def test_copy_of_moved_tree_reads_its_own_artifacts(source: dict[str, Any], tmp_path: Path, store_path: str) -> None:
    """A tree copied elsewhere (its URIs still name the old place) is read from where it is now."""
    copy = tmp_path / "copy"
    shutil.copytree(source["root"], copy)
    (copy / source["experiments"][0] / source["parent"] / "artifacts" / "notes" / "readme.txt").write_text("changed")
    import_mlruns(str(copy), tracking_uri=store_path)
    assert tracklite.Client().read_artifact(source["parent"], "notes/readme.txt") == b"changed"
