"""Round trips through every exchange format, on generated stores.

One generated history is replayed through a client's MLflow-shaped API: into tracklite (for
export then import) or into MLflow's own file store (for import then export). Whatever goes
round must come back as it was, as both tools report it.
"""

from __future__ import annotations

import math
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import pytest
import tracklite
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlflow.entities import Metric, Param, RunTag, ViewType
from tracklite.store import _STORES

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

# MLflow's key alphabet: unicode word characters plus '-', '.', ' ', ':' and '/'
_key_chars = st.characters(categories=("L", "N"), include_characters="_-. :")
_segment = st.text(_key_chars, min_size=1, max_size=12).filter(
    lambda s: s not in (".", "..") and not s.startswith("..") and s.strip() == s
)
_keys = st.lists(_segment, min_size=1, max_size=3).map("/".join)
# tracklite refuses a Windows drive ("C:...") as an artifact path, so the store stays portable.
_artifact_paths = _keys.filter(lambda p: not (p[1:2] == ":" and p[0].isascii() and p[0].isalpha()))
_values = st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=60)
_points = st.lists(
    st.tuples(
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(min_value=-(2**40), max_value=2**40),
        st.integers(min_value=0, max_value=2**42),
    ),
    min_size=1,
    max_size=12,
)


def _file_safe(keys: list[str]) -> list[str]:
    """Keys that can share a folder: a file store cannot hold both ``a`` and ``a/b``."""
    keys = sorted(set(keys), key=len)
    kept: list[str] = []
    for key in keys:
        if not any(key.startswith(k + "/") for k in kept):
            kept.append(key)
    return kept


@dataclass
class RunSpec:
    name: str
    status: str
    start: int
    duration: int
    params: dict[str, str]
    tags: dict[str, str]
    metrics: dict[str, list[tuple[float, int, int]]]
    artifacts: dict[str, bytes]
    deleted: bool


@dataclass
class ExperimentSpec:
    name: str
    tags: dict[str, str]
    runs: list[RunSpec] = field(default_factory=list)
    deleted: bool = False


@st.composite
def _run(draw: st.DrawFn) -> RunSpec:
    params = dict.fromkeys(_file_safe(draw(st.lists(_keys, max_size=4))), "")
    tags = {k: draw(_values) for k in _file_safe(draw(st.lists(_keys, max_size=3))) if not k.startswith("mlflow.")}
    metrics = {k: draw(_points) for k in _file_safe(draw(st.lists(_keys, max_size=3)))}
    return RunSpec(
        name=draw(st.text(_key_chars, min_size=1, max_size=20)),
        status=draw(st.sampled_from(["FINISHED", "FAILED", "KILLED"])),
        start=draw(st.integers(min_value=1, max_value=2**41)),
        duration=draw(st.integers(min_value=0, max_value=10**7)),
        params={k: draw(_values) for k in params},
        tags=tags,
        metrics=metrics,
        artifacts={k: draw(st.binary(max_size=64)) for k in _file_safe(draw(st.lists(_artifact_paths, max_size=2)))},
        deleted=draw(st.booleans()),
    )


@st.composite
def _history(draw: st.DrawFn) -> list[ExperimentSpec]:
    names = draw(st.lists(st.text(_key_chars, min_size=1, max_size=20), min_size=1, max_size=3, unique=True))
    return [
        ExperimentSpec(
            name=f"exp {name}",
            tags={k: draw(_values) for k in _file_safe(draw(st.lists(_keys, max_size=2)))},
            runs=draw(st.lists(_run(), max_size=3)),
            deleted=draw(st.booleans()) and i > 0,
        )
        for i, name in enumerate(names)
    ]


def _replay(client: Any, history: list[ExperimentSpec], scratch: Path) -> None:
    """Write ``history`` through a client with MLflow's API (tracklite's or MLflow's)."""
    for exp in history:
        exp_id = client.create_experiment(exp.name, tags=exp.tags)
        for spec in exp.runs:
            run_id = client.create_run(exp_id, start_time=spec.start, run_name=spec.name).info.run_id
            client.log_batch(
                run_id,
                metrics=[Metric(k, v, t, s) for k, pts in spec.metrics.items() for v, s, t in pts],
                params=[Param(k, v) for k, v in spec.params.items()],
                tags=[RunTag(k, v) for k, v in spec.tags.items()],
            )
            if spec.artifacts:
                files = scratch / run_id
                for path, content in spec.artifacts.items():
                    (files / path).parent.mkdir(parents=True, exist_ok=True)
                    (files / path).write_bytes(content)
                client.log_artifacts(run_id, str(files))
            client.set_terminated(run_id, spec.status, end_time=spec.start + spec.duration)
            if spec.deleted:
                client.delete_run(run_id)
        if exp.deleted:
            client.delete_experiment(exp_id)


def _value(v: float) -> Any:
    return "nan" if math.isnan(v) else v


def _files(client: Any, run_id: str, scratch: Path) -> dict[str, bytes]:
    """Every artifact of a run, by path, with its content."""
    out: dict[str, bytes] = {}
    pending = [""]
    while pending:
        for info in client.list_artifacts(run_id, pending.pop() or None):
            if info.is_dir:
                pending.append(info.path)
            else:
                local = client.download_artifacts(run_id, info.path, str(scratch))
                out[info.path] = Path(local).read_bytes()
    return out


def _view(client: Any, scratch: Path | None = None) -> dict[str, Any]:
    """Everything a client reports about a store, comparable across tools."""
    exps = client.search_experiments(view_type=ViewType.ALL)
    out: dict[str, Any] = {"experiments": {}, "runs": {}}
    for e in exps:
        tags = {k: v for k, v in e.tags.items() if not k.startswith("mlflow.")}
        out["experiments"][e.experiment_id] = (e.name, e.lifecycle_stage, tags)
    ids = [e.experiment_id for e in exps]
    for run in client.search_runs(ids, run_view_type=ViewType.ALL, max_results=1000):
        i = run.info
        history = {
            key: sorted((m.step, m.timestamp, _value(m.value)) for m in client.get_metric_history(i.run_id, key))
            for key in run.data.metrics
        }
        out["runs"][i.run_id] = {
            "info": (i.experiment_id, i.run_name, i.status, i.start_time, i.end_time, i.lifecycle_stage, i.user_id),
            "params": run.data.params,
            "tags": {k: v for k, v in run.data.tags.items() if k not in _TOOL_TAGS},
            "latest": {k: _value(v) for k, v in run.data.metrics.items()},
            "history": history,
        }
        # MLflow moves a deleted experiment into .trash but its runs' artifact URIs keep the old
        # place, so MLflow lists no files for them; tracklite keeps them. Compare the rest.
        if scratch is not None and out["experiments"][i.experiment_id][1] == "active":
            out["runs"][i.run_id]["files"] = _files(client, i.run_id, Path(tempfile.mkdtemp(dir=scratch)))
    return out


# Tags a tool writes for itself at import or export, not part of the user's history.
_TOOL_TAGS = {"tracklite.import.incomplete"}


@pytest.fixture
def mlflow_file_store(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """MLflow 3.13+ reads a file store only with this variable set."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    yield
    mlflow.set_tracking_uri(None)


def _tracklite(path: Path) -> tracklite.Client:
    return tracklite.Client(str(path))


def _close(path: Path) -> None:
    store = _STORES.pop(str(path), None)
    if store is not None:
        store.close()  # type: ignore[attr-defined]


def _mlflow(root: Path) -> mlflow.MlflowClient:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mlflow.MlflowClient(f"file:{root}", f"file:{root}")


_EXAMPLES = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


@_EXAMPLES
@given(history=_history())
def test_export_then_import_reproduces_the_store(history: list[ExperimentSpec], mlflow_file_store: None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        first, tree, second = Path(tmp, "a.duckdb"), Path(tmp, "tree"), Path(tmp, "b.duckdb")
        try:
            _replay(_tracklite(first), history, Path(tmp))
            tracklite.export_mlruns(str(tree), tracking_uri=str(first))
            tracklite.import_mlruns(str(tree), tracking_uri=str(second))
            original = _view(_tracklite(first), Path(tmp))
            assert _view(_tracklite(second), Path(tmp)) == original
            assert _view(_mlflow(tree), Path(tmp)) == original
        finally:
            _close(first)
            _close(second)


@_EXAMPLES
@given(history=_history())
def test_import_then_export_reproduces_the_tree(history: list[ExperimentSpec], mlflow_file_store: None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tree, store, again = Path(tmp, "tree"), Path(tmp, "s.duckdb"), Path(tmp, "again")
        try:
            _replay(_mlflow(tree), history, Path(tmp))
            tracklite.import_mlruns(str(tree), tracking_uri=str(store))
            tracklite.export_mlruns(str(again), tracking_uri=str(store))
            original = _view(_mlflow(tree), Path(tmp))
            assert _view(_tracklite(store), Path(tmp)) == original
            assert _view(_mlflow(again), Path(tmp)) == original
        finally:
            _close(store)


@_EXAMPLES
@given(history=_history())
def test_parquet_export_then_import_reproduces_the_store(history: list[ExperimentSpec]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        first, data, second = Path(tmp, "a.duckdb"), Path(tmp, "data"), Path(tmp, "b.duckdb")
        try:
            _replay(_tracklite(first), history, Path(tmp))
            tracklite.export_parquet(str(data), tracking_uri=str(first))
            tracklite.import_parquet(str(data), tracking_uri=str(second))
            assert _view(_tracklite(second)) == _view(_tracklite(first))
        finally:
            _close(first)
            _close(second)
