"""``export_mlruns`` read back by real MLflow (its file store) and compared field by field."""

from __future__ import annotations

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
from mlflow_views import mlflow_view, same, tracklite_view
from tracklite.errors import InvalidParameterValue, ResourceDoesNotExist
from tracklite.exchange.output import INCOMPLETE_MARKER

ALSO_ON_LAKE = True  # conftest: tests using store_path run on a store file and on a lake

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


@pytest.fixture
def mlflow_file_store(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """MLflow 3.13+ reads a file store only with this variable set."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    yield
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


@pytest.fixture
def populated(rich_store: dict[str, Any]) -> dict[str, Any]:
    """The store of ``rich_store`` (tests/conftest.py)."""
    return rich_store


def test_mlflow_reads_everything_back(
    client: tracklite.Client, populated: dict[str, Any], tmp_path: Path, mlflow_file_store: None, iris: Any
) -> None:
    out = tmp_path / "mlruns"
    counts = tracklite.export_mlruns(str(out))
    assert counts["runs"] == 4 and counts["registered_models"] == 1 and counts["model_versions"] == 2
    assert not (out / INCOMPLETE_MARKER).exists()
    ids = populated["experiments"]
    ours = tracklite_view(client, ids)
    theirs = mlflow_view(f"file:{out}", ids)
    assert ours["experiments"] == theirs["experiments"]
    assert ours["runs"].keys() == theirs["runs"].keys()
    for run_id, run in ours["runs"].items():
        for field in run:
            assert same(run[field], theirs["runs"][run_id][field]), (
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
    theirs = mlflow_view(f"file:{out}", [exp])
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


def test_export_paths_never_leave_the_folder(tmp_path: Path) -> None:
    """``ExportDir.path`` refuses ``..`` that climbs out and symbolic links planted inside,
    also for a folder it has already checked and made (it caches those)."""
    from tracklite.exchange.output import ExportDir

    outside = tmp_path / "outside"
    outside.mkdir()
    out = ExportDir(tmp_path / "out")
    inside = out.path("1", "run", "metrics", "loss")
    assert inside == out.root / "1" / "run" / "metrics" / "loss" and inside.parent.is_dir()
    assert out.path("1", "run", "..", "x") == out.root / "1" / "x"  # climbs, but stays inside
    assert out.path() == out.root
    for parts in (("..", "x"), ("1", "..", "..", "x"), ("1", "run", "..", "..", "..", "x"), ("/etc", "passwd")):
        with pytest.raises(InvalidParameterValue, match="outside the export folder"):
            out.path(*parts)
    # A link to outside where a file will go, in a folder already checked.
    (out.root / "1" / "run" / "metrics" / "evil").symlink_to(outside / "stolen")
    with pytest.raises(InvalidParameterValue, match="outside the export folder"):
        out.path("1", "run", "metrics", "evil")
    # A link to outside where a folder will go.
    (out.root / "2").symlink_to(outside)
    with pytest.raises(InvalidParameterValue, match="outside the export folder"):
        out.path("2", "run", "meta.yaml")
    assert not (outside / "stolen").exists() and list(outside.iterdir()) == []
