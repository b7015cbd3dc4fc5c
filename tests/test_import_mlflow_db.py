"""``import_mlflow_db`` on SQLite stores real MLflow wrote, compared field by field with what MLflow
reads back from the same database; server-style and moved artifact locations; bad input."""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import mlflow.genai
import mlflow.sklearn
import pyarrow as pa
import pytest
import tracklite
import tracklite.pyfunc
from mlflow.entities import ViewType
from test_import_mlruns import (
    _BIG,
    _files,
    _snapshot,
    check_artifacts,
    check_experiments,
    check_imported_again,
    check_logged_model,
    check_registered_model,
    check_runs,
    log_history,
    mlflow_at,
)
from tracklite.errors import InvalidParameterValue, ResourceAlreadyExists, ResourceDoesNotExist
from tracklite.exchange import mlflow_db_import
from tracklite.exchange.mlflow_db_import import LARGEST_FLOAT, import_mlflow_db
from tracklite.store.bulk_load import BulkLoader

# Stages are deprecated in MLflow; it warns on every stage call and on reading them.
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory, logreg: Any, iris: Any) -> Iterator[dict[str, Any]]:
    """An MLflow SQLite store written by real MLflow (its default artifact root, ./mlruns, beside it):
    what ``log_history`` logs, and a third experiment with a long history and a deleted run with a
    file, a deleted logged model, a second alias and a prompt."""
    folder = tmp_path_factory.mktemp("mlflow-db")
    uri = f"sqlite:///{folder}/mlflow.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)  # MLflow puts the default artifact root, ./mlruns, in the working folder
        with mlflow_at(uri) as client:
            ids = log_history(client, folder, logreg)
            third = client.create_experiment("third")
            with mlflow.start_run(experiment_id=third, run_name="long") as long:
                mlflow.log_metrics({f"k{i}": float(i) for i in range(3)}, step=0)
                series = [mlflow.entities.Metric("series", i * 0.5, 1_700_000_000_000 + i, i) for i in range(1000)]
                client.log_batch(long.info.run_id, metrics=series)
            with mlflow.start_run(experiment_id=third, run_name="scrapped") as scrapped:
                mlflow.log_text("gone soon", "a/b/scrapped.txt")
            client.delete_run(scrapped.info.run_id)
            dropped = client.create_logged_model(third, name="dropped")
            client.delete_logged_model(dropped.model_id)
            client.set_registered_model_alias("iris-model", "old", "1")
            mlflow.genai.register_prompt(name="greeting", template="Hello {{name}}")
    yield {
        "folder": folder,
        "db": str(folder / "mlflow.db"),
        "uri": uri,
        **ids,
        "experiments": [*ids["experiments"], third],
        "long": long.info.run_id,
        "scrapped": scrapped.info.run_id,
        "dropped": dropped.model_id,
        "x": iris[0],
    }


@pytest.fixture
def oracle(source: dict[str, Any]) -> mlflow.MlflowClient:
    """MLflow's own client reading the source database."""
    return mlflow.MlflowClient(source["uri"], source["uri"])


@pytest.fixture
def imported(source: dict[str, Any], store_path: str) -> dict[str, int]:
    """The counts of importing the source database into the test's store."""
    return import_mlflow_db(source["uri"], tracking_uri=store_path)


_RUNS = ("parent", "child", "doomed", "in_gone", "long", "scrapped")


# -- helpers -----------------------------------------------------------------------------------------


def _as_logged(value: float) -> float:
    """A value MLflow's SQL store read back, as it was logged (it keeps ±inf as ± the largest float)."""
    return math.copysign(math.inf, value) if abs(value) == LARGEST_FLOAT else value


def _relocated(source: dict[str, Any], dest: Path, prefix: str, tree: str) -> str:
    """A copy of the database in ``dest`` whose artifact URIs start with ``prefix`` instead of the
    artifact root, and a copy of that root in ``dest/tree``; returns the copy's path."""
    dest.mkdir(parents=True, exist_ok=True)
    db = dest / "mlflow.db"
    shutil.copy(source["db"], db)
    shutil.copytree(source["folder"] / "mlruns", dest / tree)
    root = str(source["folder"] / "mlruns")
    with _writable(db) as con:
        for table, column in (
            ("experiments", "artifact_location"),
            ("runs", "artifact_uri"),
            ("logged_models", "artifact_location"),
            ("model_versions", "storage_location"),
        ):
            con.execute(f"UPDATE {table} SET {column} = replace({column}, ?, ?)", [root, prefix])
    return str(db)


@contextlib.contextmanager
def _writable(path: Path | str) -> Iterator[sqlite3.Connection]:
    """A connection to an SQLite file that commits and closes at the end of the block."""
    with contextlib.closing(sqlite3.connect(path)) as con, con:
        yield con


# -- the database MLflow wrote -----------------------------------------------------------------------


def test_import_counts(imported: dict[str, int], source: dict[str, Any]) -> None:
    assert imported["experiments"] == 3  # "0" (Default) is in both and skipped
    assert imported["experiments_skipped"] == 1
    assert imported["runs"] == len(_RUNS)
    with contextlib.closing(sqlite3.connect(source["db"])) as db:
        assert imported["metrics"] == db.execute("SELECT count(*) FROM metrics").fetchone()[0] > 1000
    assert imported["logged_models"] == 1  # the deleted one is left out
    assert imported["registered_models"] == 1  # the prompt is left out
    assert imported["model_versions"] == 2  # the deleted third keeps its row but is not counted
    assert imported["aliases"] == 2
    assert imported["artifacts"] >= 4 + 5  # the runs' four files and the model's files
    assert imported["artifacts_missing"] == 0


def test_experiments_match_mlflow(
    imported: dict[str, int], oracle: mlflow.MlflowClient, client: tracklite.Client
) -> None:
    ours = check_experiments(oracle, client)
    assert set(ours) == {"0", "1", "2", "3"}  # MLflow's SQL store numbers experiments
    assert ours["2"].lifecycle_stage == "deleted" and ours["2"].tags == {"why": "obsolete"}


def test_runs_params_tags_metrics_match_mlflow(
    imported: dict[str, int], source: dict[str, Any], oracle: mlflow.MlflowClient, client: tracklite.Client
) -> None:
    ours = check_runs(oracle, client, [*source["experiments"], "0"], _as_logged)
    assert set(ours) == {source[k] for k in _RUNS}
    parent = ours[source["parent"]]
    assert parent.data.tags["nested/deep/tag"] == "x/y" and parent.data.tags["uni"] == "héllo ✓ 日本"
    assert parent.data.params["layers/dense"] == "3" and parent.data.params["ñame"] == "ünï"
    odd = client.get_metric_history(source["parent"], "odd")
    assert {m.step: repr(m.value) for m in odd} == {0: "nan", 1: "inf", 2: "-inf", 3: "0.5"}
    loss = client.get_metric_history(source["parent"], "loss")
    assert sorted((m.timestamp, m.value) for m in loss if m.step == 2) == [
        (1_700_000_000_002, 1 / 3),
        (1_700_000_000_002, 7.0),
    ]
    assert len(client.get_metric_history(source["long"], "series")) == 1000
    assert ours[source["child"]].data.tags["mlflow.parentRunId"] == source["parent"]
    deleted = tracklite.sql(
        "SELECT run_id, deleted_time FROM main.runs WHERE lifecycle_stage = 'deleted' ORDER BY run_id",
        tracking_uri=client.tracking_uri,
    ).fetchall()
    with contextlib.closing(sqlite3.connect(source["db"])) as db:
        assert (
            deleted
            == db.execute(
                "SELECT run_uuid, deleted_time FROM runs WHERE lifecycle_stage = 'deleted' ORDER BY run_uuid"
            ).fetchall()
        )
    assert {r for r, _ in deleted} == {source["doomed"], source["in_gone"], source["scrapped"]}


def test_artifacts_match_mlflow(
    imported: dict[str, int],
    source: dict[str, Any],
    oracle: mlflow.MlflowClient,
    client: tracklite.Client,
    tmp_path: Path,
) -> None:
    check_artifacts(oracle, client, [source[k] for k in _RUNS], tmp_path)
    assert client.read_artifact(source["parent"], "data/big.bin") == _BIG
    assert client.read_artifact(source["scrapped"], "a/b/scrapped.txt") == b"gone soon"


def test_logged_models_match_mlflow(
    imported: dict[str, int], source: dict[str, Any], oracle: mlflow.MlflowClient, client: tracklite.Client
) -> None:
    model_dir = Path(oracle.get_logged_model(source["model_id"]).artifact_location)
    check_logged_model(oracle, client, source["model_id"], model_dir)
    with pytest.raises(ResourceDoesNotExist):
        client.get_logged_model(source["dropped"])  # deleted in MLflow: left out


def test_registry_matches_mlflow(
    imported: dict[str, int], source: dict[str, Any], oracle: mlflow.MlflowClient, client: tracklite.Client
) -> None:
    versions = check_registered_model(oracle, client, "iris-model")
    mine = client.get_registered_model("iris-model")
    assert mine.tags == {"rtag": "r ✓"} and mine.aliases == {"champion": 2, "old": 1}
    assert [(v["current_stage"], v["model_id"]) for v in versions] == [
        ("Staging", source["model_id"]),
        ("Production", source["model_id"]),
    ]
    with pytest.raises(ResourceDoesNotExist):
        client.get_model_version("iris-model", "3")  # deleted in MLflow, so deleted here
    assert [m.name for m in client.search_registered_models()] == ["iris-model"]  # the prompt is not a model


def test_imported_model_loads_and_predicts(imported: dict[str, int], source: dict[str, Any], logreg: Any) -> None:
    x = source["x"]
    expected = logreg.predict(x)
    for uri in ("models:/iris-model@champion", "models:/iris-model@old", "models:/iris-model/Production"):
        assert (tracklite.pyfunc.load_model(uri).predict(x) == expected).all(), uri
    assert (tracklite.pyfunc.load_model(f"models:/{source['model_id']}").predict(x) == expected).all()


def test_second_import_changes_nothing(source: dict[str, Any], store_path: str, imported: dict[str, int]) -> None:
    before = _snapshot(store_path)
    again = import_mlflow_db(source["db"], tracking_uri=store_path)  # the plain path this time
    assert _snapshot(store_path) == before
    check_imported_again(again, imported)


def test_interrupted_import_completes(
    source: dict[str, Any], store_path: str, client: tracklite.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Committed entity by entity, an import that fails halfway leaves whole runs; running it again
    brings the rest."""
    batches = mlflow_db_import._metric_batches

    def failing(db: Any, run_id: str, *args: Any) -> Iterator[Any]:
        if run_id == source["long"]:
            raise RuntimeError("connection lost")
        yield from batches(db, run_id, *args)

    with monkeypatch.context() as mp, pytest.raises(RuntimeError, match="connection lost"):
        mp.setattr(mlflow_db_import, "_metric_batches", failing)
        mp.setattr(mlflow_db_import, "BulkLoader", functools.partial(BulkLoader, commit_rows=1))
        import_mlflow_db(source["uri"], tracking_uri=store_path)
    partial = {r.info.run_id for r in client.search_runs([*source["experiments"], "0"], run_view_type=ViewType.ALL)}
    assert partial and source["long"] not in partial
    monkeypatch.chdir(source["folder"])
    counts = import_mlflow_db("sqlite:///mlflow.db", tracking_uri=store_path)  # relative to the working folder
    assert counts["runs"] == len(_RUNS) - len(partial) and counts["runs_skipped"] == len(partial)
    assert len(client.get_metric_history(source["long"], "series")) == 1000
    assert client.get_registered_model("iris-model").aliases == {"champion": 2, "old": 1}


def test_metric_batches_are_bounded(source: dict[str, Any]) -> None:
    """Points stream in batches of the fetch size, with NaN and ±inf given back."""
    with contextlib.closing(sqlite3.connect(source["db"])) as db:
        batches = list(mlflow_db_import._metric_batches(db, source["long"], 128))
        assert [b.num_rows for b in batches] == [128] * 7 + [1003 - 7 * 128]
        points = sorted(zip(*(pa.concat_tables(batches).column(c).to_pylist() for c in ("key", "step")), strict=True))
        assert points == [("k0", 0), ("k1", 0), ("k2", 0)] + [("series", step) for step in range(1000)]
        odd = pa.concat_tables(mlflow_db_import._metric_batches(db, source["parent"], 3))
        rows = zip(*(odd.column(c).to_pylist() for c in ("key", "step", "value")), strict=True)
        assert sorted((step, repr(v)) for k, step, v in rows if k == "odd") == [
            (0, "nan"),
            (1, "inf"),
            (2, "-inf"),
            (3, "0.5"),
        ]


# -- where the artifacts are -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "tree", "needs_artifacts"),
    [
        ("mlflow-artifacts:", "mlartifacts", True),  # a tracking server proxying artifacts
        ("/machine/gone/mlruns", "mlruns", True),  # a database from another machine
        ("file:///machine/gone/mlruns", "mlruns", True),
        ("./mlruns", "mlruns", False),  # relative: beside the database
    ],
)
def test_relocated_artifacts(
    source: dict[str, Any],
    tmp_path: Path,
    prefix: str,
    tree: str,
    needs_artifacts: bool,
    logreg: Any,
    caplog: pytest.LogCaptureFixture,
    client: tracklite.Client,
) -> None:
    db = _relocated(source, tmp_path / "copy", prefix, tree)
    oracle = mlflow.MlflowClient(source["uri"])
    counts = import_mlflow_db(db, artifacts=tmp_path / "copy" / tree)  # into the current store
    assert counts["artifacts_missing"] == 0
    for key in ("parent", "doomed"):
        assert _files(client.list_artifacts, source[key]) == _files(oracle.list_artifacts, source[key])
    assert client.read_artifact(source["parent"], "data/big.bin") == _BIG
    model = tracklite.pyfunc.load_model("models:/iris-model@champion")
    assert (model.predict(source["x"]) == logreg.predict(source["x"])).all()

    bare = str(tmp_path / "without.duckdb")
    with caplog.at_level(logging.WARNING, logger=mlflow_db_import.__name__):
        counts = import_mlflow_db(db, tracking_uri=bare)
    client = tracklite.Client(bare)
    if needs_artifacts:
        assert counts["runs"] == len(_RUNS) and counts["artifacts_missing"] == len(_RUNS) + 1  # and the model
        assert client.list_artifacts(source["parent"]) == []
        assert "--artifacts DIR" in caplog.text and prefix in caplog.text
    else:
        assert counts["artifacts_missing"] == 0 and not caplog.text
        assert client.read_artifact(source["parent"], "notes/readme.txt") == "hello ✓".encode()


# -- bad input ---------------------------------------------------------------------------------------


def test_bad_sources_leave_the_store_unchanged(
    source: dict[str, Any], tmp_path: Path, client: tracklite.Client, store_path: str
) -> None:
    run = client.create_run("0", run_name="mine")
    client.log_metric(run.info.run_id, "m", 1.0)
    client.flush()
    before = _snapshot(store_path)
    (tmp_path / "notes.txt").write_text("not a database")
    with _writable(tmp_path / "other.db") as con:
        con.execute("CREATE TABLE things (a)")
    no_table = _relocated(source, tmp_path / "no-table", "/x", "mlruns")
    with _writable(no_table) as con:
        con.execute("DROP TABLE logged_model_tags")
    no_column = _relocated(source, tmp_path / "no-column", "/x", "mlruns")
    with _writable(no_column) as con:
        con.execute("ALTER TABLE runs DROP COLUMN deleted_time")
    workspaces = _relocated(source, tmp_path / "workspaces", "/x", "mlruns")
    with _writable(workspaces) as con:
        con.execute("INSERT INTO registered_models (name, workspace) VALUES ('iris-model', 'team-b')")
    cases: list[tuple[Any, dict[str, Any], type[Exception], str]] = [
        (tmp_path / "missing.db", {}, ResourceDoesNotExist, "does not exist"),
        (f"sqlite:///{tmp_path}/missing.db", {}, ResourceDoesNotExist, "missing.db' does not exist"),
        (tmp_path, {}, InvalidParameterValue, "is a folder"),
        (tmp_path / "notes.txt", {}, InvalidParameterValue, "is not an SQLite database"),
        (tmp_path / "other.db", {}, InvalidParameterValue, "not an MLflow tracking database: it has no alembic"),
        ("postgresql://me:secret@db:5432/mlflow", {}, InvalidParameterValue, "SQLite database only"),
        ("mysql+pymysql://db/mlflow", {}, InvalidParameterValue, "'mysql://...' is a mysql database"),
        ("sqlite://", {}, InvalidParameterValue, "in-memory"),
        (no_table, {}, InvalidParameterValue, "has no table 'logged_model_tags'.*mlflow db upgrade"),
        (no_column, {}, InvalidParameterValue, "has no column 'deleted_time' in table 'runs'"),
        (workspaces, {}, InvalidParameterValue, "'iris-model' .* several MLflow workspaces"),
        (source["db"], {"artifacts": tmp_path / "nowhere"}, ResourceDoesNotExist, "nowhere' does not exist"),
        (source["db"], {"artifacts": "s3://bucket/mlflow"}, InvalidParameterValue, "local folder"),
    ]
    for src, options, error, message in cases:
        with pytest.raises(error, match=message) as err:
            import_mlflow_db(src, tracking_uri=store_path, **options)
        assert "secret" not in str(err.value)
    assert _snapshot(store_path) == before


def test_bad_source_creates_no_store(tmp_path: Path) -> None:
    target = tmp_path / "new.duckdb"
    with pytest.raises(InvalidParameterValue):
        import_mlflow_db("postgresql://db/mlflow", tracking_uri=str(target))
    assert not target.exists()


def test_experiment_clash_is_refused(source: dict[str, Any], client: tracklite.Client, store_path: str) -> None:
    client.create_experiment("mine")  # id 1 here, while the database's 1 is 'exp-ü'
    before = _snapshot(store_path)
    with pytest.raises(ResourceAlreadyExists) as err:
        import_mlflow_db(source["uri"], tracking_uri=store_path)
    assert "'exp-ü'" in err.value.message and "'mine'" in err.value.message
    assert _snapshot(store_path) == before


# -- the command -------------------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracklite", "import", "mlflow-db", *args], capture_output=True, text=True, timeout=120
    )


def test_command(source: dict[str, Any], tmp_path: Path) -> None:
    served = _relocated(source, tmp_path / "server", "mlflow-artifacts:", "mlartifacts")
    store = str(tmp_path / "cli.duckdb")
    first = _cli(f"sqlite:///{served}", "--artifacts", str(tmp_path / "server" / "mlartifacts"), "--store", store)
    assert first.returncode == 0, first.stderr
    assert "6 runs" in first.stdout and "1 logged models" in first.stdout and "missing" not in first.stdout
    assert "warning" not in first.stderr.lower()
    again = _cli(f"sqlite:///{served}", "--store", store)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("imported nothing new; already present") and "6 runs" in again.stdout
    assert tracklite.Client(store).read_artifact(source["parent"], "notes/readme.txt") == "hello ✓".encode()

    bare = _cli(f"sqlite:///{served}", "--store", str(tmp_path / "bare.duckdb"))
    assert bare.returncode == 0, bare.stderr
    assert "7 runs and logged models were imported without their artifacts" in bare.stderr
    assert "--artifacts DIR" in bare.stderr

    bad = _cli("postgresql://me:secret@db/mlflow", "--store", store)
    assert bad.returncode == 1 and "SQLite database only" in bad.stderr
    assert "Traceback" not in bad.stderr and "secret" not in bad.stderr
    assert os.path.exists(store)
