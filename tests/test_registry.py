"""The model registry: version numbers, stages, aliases, model URIs, pinned files, audit trail, search, CLI."""

from __future__ import annotations

import getpass
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
import tracklite
import tracklite.pyfunc
import tracklite.sklearn
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from tracklite import Client
from tracklite.errors import InvalidParameterValue, ResourceAlreadyExists, ResourceDoesNotExist, TrackliteError


@pytest.fixture(scope="module")
def constant(iris: tuple[pd.DataFrame, np.ndarray]) -> DummyClassifier:
    """A model whose predictions (all 2) differ from ``logreg``'s, to tell versions apart."""
    x, y = iris
    return DummyClassifier(strategy="constant", constant=2).fit(x, y)


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory, logreg: LogisticRegression, constant: DummyClassifier) -> Any:
    """Local model directories: ``dirs.logreg`` and ``dirs.constant``."""
    root = tmp_path_factory.mktemp("model-dirs")
    found = SimpleNamespace(logreg=str(root / "logreg"), constant=str(root / "constant"))
    tracklite.sklearn.save_model(logreg, found.logreg)
    tracklite.sklearn.save_model(constant, found.constant)
    return found


def _predicts(uri: str, model: Any, x: pd.DataFrame) -> None:
    """Both loaders read ``uri`` and predict what ``model`` predicts."""
    expected = model.predict(x)
    assert (np.asarray(tracklite.pyfunc.load_model(uri).predict(x)) == expected).all(), uri
    loaded = tracklite.sklearn.load_model(uri)
    assert type(loaded) is type(model), uri
    assert (loaded.predict(x) == expected).all(), uri


# -- snapshots of everything the registry shows ------------------------------------------------

_MV_FIELDS = (
    "name",
    "version",
    "creation_timestamp",
    "last_updated_timestamp",
    "description",
    "user_id",
    "current_stage",
    "source",
    "run_id",
    "status",
    "status_message",
    "tags",
    "run_link",
    "aliases",
    "model_id",
    "storage_location",
)
_RM_FIELDS = ("name", "creation_timestamp", "last_updated_timestamp", "description", "tags", "aliases")
_EVENT_FIELDS = ("event_id", "timestamp", "user_id", "action", "name", "version", "key", "old_value", "new_value")


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted(value.items()))
    if isinstance(value, list):
        return tuple(sorted(value))
    return value


def _mv_snapshot(v: Any) -> tuple[Any, ...]:
    return tuple(_plain(getattr(v, f)) for f in _MV_FIELDS)


def _snapshot(client: Client) -> dict[str, Any]:
    """Every model, version and audit row, with timestamps: equal snapshots mean nothing changed."""
    models = client.search_registered_models(max_results=1000)
    return {
        "models": [
            (
                *(_plain(getattr(m, f)) for f in _RM_FIELDS),
                sorted(_mv_snapshot(v) for v in m.latest_versions),
            )
            for m in models
        ],
        "versions": [_mv_snapshot(v) for v in client.search_model_versions(max_results=10000)],
        "history": {
            m.name: [tuple(getattr(e, f) for f in _EVENT_FIELDS) for e in client.get_registry_history(m.name)]
            for m in models
        },
        "audit rows": list(tracklite.sql("SELECT count(*) FROM registry_audit")),
    }


# -- version numbers ---------------------------------------------------------------------------


def test_versions_count_from_one_per_model_and_are_never_reused(client: Client, dirs: Any, tmp_path: Path) -> None:
    client.create_registered_model("a")
    client.create_registered_model("b")
    created = [client.create_model_version("a", dirs.logreg) for _ in range(3)]
    assert [v.version for v in created] == [1, 2, 3]
    assert all(type(v.version) is int for v in created)
    first = created[0]
    assert (first.name, first.current_stage, first.status, first.aliases, first.tags) == ("a", "None", "READY", [], {})
    assert first.storage_location.startswith("tracklite-artifacts:/") and "registry" in first.storage_location
    assert client.create_model_version("b", dirs.logreg).version == 1

    client.delete_model_version("a", 3)
    assert client.create_model_version("a", dirs.logreg).version == 4
    client.delete_model_version("a", 1)
    client.delete_model_version("a", 4)  # the newest: its number is not handed out again either
    assert client.create_model_version("a", dirs.logreg).version == 5
    assert sorted(v.version for v in client.search_model_versions("name = 'a'")) == [2, 5]
    for gone in (1, 3, 4):
        with pytest.raises(ResourceDoesNotExist):
            client.get_model_version("a", gone)
    # a registration that fails takes no number
    with pytest.raises(TrackliteError):
        client.create_model_version("a", str(tmp_path / "nowhere"))
    assert client.create_model_version("a", dirs.logreg).version == 6
    assert [v.version for v in client.search_model_versions("name = 'b'")] == [1]


_REGISTRAR = """
import os, sys, time
import tracklite

ALSO_ON_LAKE = True  # conftest: tests using store_path run on a store file and on a lake
store, model_dir, go, idx = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
tracklite.set_tracking_uri(store)
client = tracklite.Client(store)
open(f"{go}.ready{idx}", "w").close()
deadline = time.time() + 120
while not os.path.exists(go):
    if time.time() > deadline:
        sys.exit("never told to start")
    time.sleep(0.002)
for _ in range(5):
    if idx % 2:
        version = client.create_model_version("shared", model_dir).version
    else:
        version = tracklite.register_model(model_dir, "shared").version
    print(version, flush=True)
"""


def test_concurrent_processes_get_distinct_gapless_versions(
    store_path: str, client: Client, dirs: Any, tmp_path: Path, iris: Any, logreg: LogisticRegression
) -> None:
    client.create_registered_model("shared")
    go = str(tmp_path / "go")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _REGISTRAR, store_path, dirs.logreg, go, str(i)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    try:
        deadline = time.time() + 120
        while not all(os.path.exists(f"{go}.ready{i}") for i in range(4)):
            assert time.time() < deadline, "workers never got ready"
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs if p.poll() is not None]
            time.sleep(0.01)
        Path(go).touch()  # all four start registering at once
        outputs = []
        for p in procs:
            out, err = p.communicate(timeout=240)
            assert p.returncode == 0, err
            outputs.append([int(line) for line in out.split()])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for got in outputs:
        assert len(got) == 5 and got == sorted(got) and len(set(got)) == 5  # each process sees its own increase
    assert sorted(v for got in outputs for v in got) == list(range(1, 21))
    versions = client.search_model_versions("name = 'shared'")
    assert sorted(v.version for v in versions) == list(range(1, 21))
    history = client.get_registry_history("shared")
    created = [e.version for e in history if e.action == "create_model_version"]
    assert sorted(created) == list(range(1, 21))
    assert [e.action for e in history].count("create_registered_model") == 1
    rows = tracklite.sql("SELECT count(*) FROM registry_audit WHERE action = 'create_model_version'")
    assert list(rows) == [(20,)]
    x, _ = iris
    for v in (1, 20):
        _predicts(f"models:/shared/{v}", logreg, x)


# -- stages ------------------------------------------------------------------------------------


def _stages(client: Client, name: str) -> dict[int, str]:
    return {v.version: v.current_stage for v in client.search_model_versions(f"name = '{name}'")}


def _new_model(client: Client, name: str, source: str, n: int) -> None:
    client.create_registered_model(name)
    for _ in range(n):
        client.create_model_version(name, source)


def test_archive_existing_archives_only_the_target_stage(client: Client, dirs: Any) -> None:
    _new_model(client, "m", dirs.logreg, 6)
    client.transition_model_version_stage("m", 1, "Production")
    client.transition_model_version_stage("m", 2, "Production")
    client.transition_model_version_stage("m", 3, "Staging")
    client.transition_model_version_stage("m", 4, "Archived")
    got = client.transition_model_version_stage("m", 5, "Production", archive_existing_versions=True)
    assert (got.name, got.version, got.current_stage) == ("m", 5, "Production")
    assert _stages(client, "m") == {
        1: "Archived",
        2: "Archived",
        3: "Staging",
        4: "Archived",
        5: "Production",
        6: "None",
    }

    # into Staging: only the Staging version goes; Production and None stay
    client.transition_model_version_stage("m", 6, "Staging", archive_existing_versions=True)
    assert _stages(client, "m") == {
        1: "Archived",
        2: "Archived",
        3: "Archived",
        4: "Archived",
        5: "Production",
        6: "Staging",
    }
    # without the flag nothing else moves
    client.transition_model_version_stage("m", 1, "Staging")
    assert _stages(client, "m")[6] == "Staging"
    # a version already in the target stage is not archived by its own transition
    again = client.transition_model_version_stage("m", 5, "Production", archive_existing_versions=True)
    assert again.current_stage == "Production" and _stages(client, "m")[5] == "Production"


@pytest.mark.parametrize(
    ("given", "canonical"),
    [("staging", "Staging"), ("STAGING", "Staging"), ("pRoDuCtIoN", "Production"), ("archived", "Archived")],
)
def test_stage_names_are_case_insensitive(client: Client, dirs: Any, given: str, canonical: str) -> None:
    _new_model(client, "m", dirs.logreg, 2)
    assert client.transition_model_version_stage("m", 1, given).current_stage == canonical
    assert client.get_model_version("m", 1).current_stage == canonical
    assert [v.version for v in client.get_latest_versions("m", stages=[given])] == [1]
    assert client.transition_model_version_stage("m", 1, "none").current_stage == "None"


def test_latest_versions_per_stage(client: Client, dirs: Any) -> None:
    _new_model(client, "m", dirs.logreg, 6)
    for version, stage in ((1, "Production"), (2, "Production"), (3, "Staging"), (4, "Archived")):
        client.transition_model_version_stage("m", version, stage)

    def latest(stages: list[str] | None) -> dict[str, int]:
        found = client.get_latest_versions("m", stages=stages)
        assert len({v.current_stage for v in found}) == len(found)  # one per stage
        return {v.current_stage: v.version for v in found}

    every = {"Production": 2, "Staging": 3, "Archived": 4, "None": 6}
    assert latest(None) == every
    assert latest([]) == every
    assert latest(["Production"]) == {"Production": 2}
    assert latest(["staging", "production"]) == {"Staging": 3, "Production": 2}
    assert latest(["None"]) == {"None": 6}
    model = client.get_registered_model("m")
    assert {v.current_stage: v.version for v in model.latest_versions} == every
    client.delete_model_version("m", 6)
    client.delete_model_version("m", 3)
    assert latest(None) == {"Production": 2, "Archived": 4, "None": 5}
    assert latest(["Staging"]) == {}


@pytest.mark.parametrize("stage", ["None", "none", "Archived", "archived"])
def test_archive_existing_needs_an_active_stage(client: Client, dirs: Any, stage: str) -> None:
    _new_model(client, "m", dirs.logreg, 2)
    client.transition_model_version_stage("m", 1, "Production")
    before = _snapshot(client)
    with pytest.raises(TrackliteError, match="not an Active stage") as err:
        client.transition_model_version_stage("m", 2, stage, archive_existing_versions=True)
    assert stage.lower() in str(err.value).lower()
    assert _snapshot(client) == before


# -- aliases -----------------------------------------------------------------------------------


def test_alias_set_move_resolve_and_load(
    client: Client, dirs: Any, iris: Any, logreg: LogisticRegression, constant: DummyClassifier
) -> None:
    x, _ = iris
    client.create_registered_model("m")
    client.create_model_version("m", dirs.logreg)
    client.create_model_version("m", dirs.constant)
    client.set_registered_model_alias("m", "champion", 1)
    by_alias = client.get_model_version_by_alias("m", "champion")
    assert (by_alias.version, by_alias.aliases) == (1, ["champion"])
    assert client.get_registered_model("m").aliases == {"champion": 1}
    _predicts("models:/m@champion", logreg, x)

    client.set_registered_model_alias("m", "champion", 2)  # moves
    client.set_registered_model_alias("m", "backup", "1")
    assert client.get_model_version_by_alias("m", "champion").version == 2
    assert client.get_model_version("m", 1).aliases == ["backup"]
    assert client.get_model_version("m", 2).aliases == ["champion"]
    assert client.get_registered_model("m").aliases == {"champion": 2, "backup": 1}
    _predicts("models:/m@champion", constant, x)
    _predicts("models:/m@backup", logreg, x)

    client.delete_registered_model_alias("m", "backup")
    assert client.get_registered_model("m").aliases == {"champion": 2}
    assert client.get_model_version("m", 1).aliases == []
    with pytest.raises(InvalidParameterValue, match="Registered model alias backup not found"):  # MLflow's code
        client.get_model_version_by_alias("m", "backup")


def test_deleting_a_version_removes_its_aliases(client: Client, dirs: Any) -> None:
    _new_model(client, "m", dirs.logreg, 2)
    client.set_registered_model_alias("m", "champion", 2)
    client.set_registered_model_alias("m", "stable", 2)
    client.set_registered_model_alias("m", "keep", 1)
    client.delete_model_version("m", 2)
    assert client.get_registered_model("m").aliases == {"keep": 1}
    with pytest.raises(InvalidParameterValue, match="champion"):
        client.get_model_version_by_alias("m", "champion")
    with pytest.raises(InvalidParameterValue, match="champion"):
        tracklite.pyfunc.load_model("models:/m@champion")
    removed = [
        (e.key, e.old_value) for e in client.get_registry_history("m") if e.action == "delete_registered_model_alias"
    ]
    assert removed == [("champion", "2"), ("stable", "2")]  # recorded, before the version's own row
    # a new version does not inherit the deleted version's aliases
    assert client.create_model_version("m", dirs.logreg).aliases == []
    assert client.get_registered_model("m").aliases == {"keep": 1}


@pytest.mark.parametrize(
    ("alias", "message"),
    [
        ("latest", "'latest' alias name (case insensitive) is reserved."),
        ("LaTeSt", "'latest' alias name (case insensitive) is reserved."),
        ("v3", "'v3' is reserved"),
        ("V12", "'V12' is reserved"),
        ("bad alias!", "Invalid alias name: 'bad alias!'"),
        ("a/b", "Invalid alias name: 'a/b'"),
        ("", "alias"),
    ],
)
def test_invalid_aliases_are_refused(client: Client, dirs: Any, alias: str, message: str) -> None:
    _new_model(client, "m", dirs.logreg, 1)
    before = _snapshot(client)
    with pytest.raises(InvalidParameterValue, match=re.escape(message)):
        client.set_registered_model_alias("m", alias, 1)
    assert _snapshot(client) == before


def test_valid_unusual_aliases(client: Client, dirs: Any) -> None:
    _new_model(client, "m", dirs.logreg, 1)
    for alias in ("v", "v3a", "champion_1-x", "latest2"):
        client.set_registered_model_alias("m", alias, 1)
    assert sorted(client.get_registered_model("m").aliases) == ["champion_1-x", "latest2", "v", "v3a"]


# -- model URIs --------------------------------------------------------------------------------


def test_registry_uris_load_the_right_version(
    client: Client, dirs: Any, iris: Any, logreg: LogisticRegression, constant: DummyClassifier
) -> None:
    x, _ = iris
    client.create_registered_model("m")
    client.create_model_version("m", dirs.logreg)
    client.create_model_version("m", "file://" + dirs.constant)
    client.transition_model_version_stage("m", 1, "Production")
    client.set_registered_model_alias("m", "best", 1)
    for uri, model in (
        ("models:/m/1", logreg),
        ("models:/m/2", constant),
        ("models:/m/Production", logreg),
        ("models:/m/production", logreg),
        ("models:/m/latest", constant),
        ("models:/m@best", logreg),
    ):
        _predicts(uri, model, x)
    # a stage resolves to its newest version at load time
    client.transition_model_version_stage("m", 2, "Production")
    _predicts("models:/m/Production", constant, x)


@pytest.mark.parametrize(
    ("uri", "error", "word"),
    [
        ("models:/m/9", ResourceDoesNotExist, "9"),
        ("models:/nope/1", ResourceDoesNotExist, "nope"),
        ("models:/nope/latest", ResourceDoesNotExist, "nope"),
        ("models:/m@nope", InvalidParameterValue, "alias nope not found"),
        ("models:/m/Staging", TrackliteError, "Staging"),
    ],
)
def test_unresolvable_registry_uris(client: Client, dirs: Any, uri: str, error: type[Exception], word: str) -> None:
    _new_model(client, "m", dirs.logreg, 1)
    with pytest.raises(error, match=re.escape(word)):
        tracklite.pyfunc.load_model(uri)


def test_register_model_from_run_and_logged_model_uris(store_path: str, iris: Any, logreg: LogisticRegression) -> None:
    x, _ = iris
    tracklite.set_experiment("registry")
    with tracklite.start_run() as run:
        info = tracklite.sklearn.log_model(logreg, name="model")
    rid = run.info.run_id
    from_run = tracklite.register_model(f"runs:/{rid}/model", "fromrun")
    assert (from_run.name, from_run.version, from_run.run_id, from_run.model_id) == ("fromrun", 1, rid, info.model_id)
    from_model = tracklite.register_model(info.model_uri, "fromrun", tags={"k": "v"})
    assert (from_model.version, from_model.tags, from_model.run_id, from_model.model_id) == (
        2,
        {"k": "v"},
        rid,
        info.model_id,
    )
    client = Client()
    assert client.get_registered_model("fromrun").latest_versions[0].version == 2
    assert client.get_model_version("fromrun", 2).tags == {"k": "v"}
    for v in (1, 2):
        _predicts(f"models:/fromrun/{v}", logreg, x)


def test_log_model_registers_versions(store_path: str, iris: Any, logreg: LogisticRegression) -> None:
    x, _ = iris
    with tracklite.start_run() as run:
        first = tracklite.sklearn.log_model(logreg, name="clf", registered_model_name="vialog")
        second = tracklite.sklearn.log_model(logreg, name="clf2", registered_model_name="vialog")
        func = tracklite.pyfunc.log_model(name="double", python_model=lambda df: df * 2, registered_model_name="fn")
    assert (first.registered_model_version, second.registered_model_version) == (1, 2)
    assert func.registered_model_version == 1
    client = Client()
    version = client.get_model_version("vialog", 1)
    assert (version.run_id, version.model_id) == (run.info.run_id, first.model_id)
    assert client.get_model_version("vialog", 2).model_id == second.model_id
    _predicts("models:/vialog/2", logreg, x)
    frame = pd.DataFrame({"a": [1.0, 2.5]})
    assert tracklite.pyfunc.load_model("models:/fn/1").predict(frame)["a"].tolist() == [2.0, 5.0]


# -- pinned files ------------------------------------------------------------------------------


def test_version_outlives_its_run_and_logged_model(
    store_path: str, client: Client, iris: Any, logreg: LogisticRegression
) -> None:
    x, _ = iris
    with tracklite.start_run() as run:
        info = tracklite.sklearn.log_model(logreg, name="model")
    tracklite.register_model(f"runs:/{run.info.run_id}/model", "snap")
    client.delete_logged_model(info.model_id)
    client.delete_run(run.info.run_id)
    client.store.gc()  # type: ignore[attr-defined]
    with pytest.raises(ResourceDoesNotExist):
        tracklite.pyfunc.load_model(info.model_uri)
    _predicts("models:/snap/1", logreg, x)
    assert client.get_model_version("snap", 1).run_id == run.info.run_id


def test_version_keeps_its_files_when_run_artifacts_are_overwritten(
    store_path: str,
    client: Client,
    dirs: Any,
    iris: Any,
    tmp_path: Path,
    logreg: LogisticRegression,
    constant: DummyClassifier,
) -> None:
    x, _ = iris
    rid = client.create_run("0").info.run_id
    client.log_artifacts(rid, dirs.logreg, "model")
    assert tracklite.register_model(f"runs:/{rid}/model", "snap").version == 1
    client.log_artifacts(rid, dirs.constant, "model")  # the same file names, other bytes
    assert (tracklite.pyfunc.load_model(f"runs:/{rid}/model").predict(x) == 2).all()  # the overwrite took
    _predicts("models:/snap/1", logreg, x)
    assert tracklite.register_model(f"runs:/{rid}/model", "snap").version == 2
    _predicts("models:/snap/2", constant, x)
    client.delete_run(rid)
    client.store.gc()  # type: ignore[attr-defined]
    os.rename(tmp_path / "model-cache", tmp_path / "old-cache")  # load from the store again, not the cache
    _predicts("models:/snap/1", logreg, x)
    _predicts("models:/snap/2", constant, x)


# -- audit trail -------------------------------------------------------------------------------


def _row(e: Any) -> tuple[Any, ...]:
    return (e.action, e.name, e.version, e.key, e.old_value, e.new_value)


def test_every_change_appends_its_audit_rows(
    client: Client, dirs: Any, monkeypatch: pytest.MonkeyPatch, store_path: str
) -> None:
    monkeypatch.setenv("TRACKLITE_USER", "alice")
    start_ms = int(time.time() * 1000)
    name = "audited"
    seen = 0

    def step(call: Callable[[], Any], *expected: tuple[Any, ...]) -> None:
        nonlocal seen
        call()
        events = client.get_registry_history(name)
        new = [_row(e) for e in events[seen:]]
        seen = len(events)
        unmatched = list(new)
        for want in expected:  # rows of one call in any order
            match = next((got for got in unmatched if got == want), None)
            assert match is not None, f"no row like {want} among {new}"
            unmatched.remove(match)
        assert not unmatched, f"unexpected rows {unmatched} for {expected}"

    a = name
    step(
        lambda: client.create_registered_model(a, tags={"team": "a"}, description="first"),
        ("create_registered_model", a, None, None, None, a),
        # tags and a description given at creation are recorded as their own changes
        ("set_registered_model_tag", a, None, "team", None, "a"),
        ("update_registered_model", a, None, "description", None, "first"),
    )
    for v in (1, 2, 3):
        step(
            lambda: client.create_model_version(a, dirs.logreg), ("create_model_version", a, v, None, None, dirs.logreg)
        )
    step(
        lambda: client.update_registered_model(a, "second"),
        ("update_registered_model", a, None, "description", "first", "second"),
    )
    step(
        lambda: client.update_model_version(a, 1, "v1 notes"),
        ("update_model_version", a, 1, "description", None, "v1 notes"),
    )
    step(
        lambda: client.set_registered_model_tag(a, "team", "b"), ("set_registered_model_tag", a, None, "team", "a", "b")
    )
    step(
        lambda: client.set_registered_model_tag(a, "new", "x"), ("set_registered_model_tag", a, None, "new", None, "x")
    )
    step(
        lambda: client.delete_registered_model_tag(a, "new"), ("delete_registered_model_tag", a, None, "new", "x", None)
    )
    step(lambda: client.set_model_version_tag(a, 1, "k", "v"), ("set_model_version_tag", a, 1, "k", None, "v"))
    step(lambda: client.set_model_version_tag(a, 1, "k", "w"), ("set_model_version_tag", a, 1, "k", "v", "w"))
    step(lambda: client.delete_model_version_tag(a, 1, "k"), ("delete_model_version_tag", a, 1, "k", "w", None))
    step(
        lambda: client.transition_model_version_stage(a, 1, "Production"),
        ("transition_model_version_stage", a, 1, "current_stage", "None", "Production"),
    )
    step(
        lambda: client.transition_model_version_stage(a, 2, "production"),
        ("transition_model_version_stage", a, 2, "current_stage", "None", "Production"),
    )
    step(
        lambda: client.transition_model_version_stage(a, 3, "Production", archive_existing_versions=True),
        ("transition_model_version_stage", a, 3, "current_stage", "None", "Production"),
        ("transition_model_version_stage", a, 1, "current_stage", "Production", "Archived"),
        ("transition_model_version_stage", a, 2, "current_stage", "Production", "Archived"),
    )
    step(
        lambda: client.set_registered_model_alias(a, "champion", 3),
        ("set_registered_model_alias", a, 3, "champion", None, "3"),
    )
    step(
        lambda: client.set_registered_model_alias(a, "champion", 2),
        ("set_registered_model_alias", a, 2, "champion", "3", "2"),
    )
    step(
        lambda: client.delete_registered_model_alias(a, "champion"),
        ("delete_registered_model_alias", a, 2, "champion", "2", None),
    )
    step(lambda: client.delete_model_version(a, 1), ("delete_model_version", a, 1, None, "Archived", None))

    # the history follows the model through a rename
    name = "renamed"
    step(
        lambda: client.rename_registered_model(a, "renamed"),
        ("rename_registered_model", "renamed", None, "name", a, "renamed"),
    )
    step(
        lambda: client.set_registered_model_tag("renamed", "after", "1"),
        ("set_registered_model_tag", "renamed", None, "after", None, "1"),
    )
    step(
        lambda: client.delete_registered_model("renamed"),
        ("delete_registered_model", "renamed", None, None, "renamed", None),
    )

    history = client.get_registry_history("renamed")  # a deleted model's events, by name
    assert len(history) == seen == 26
    assert {e.user_id for e in history} == {"alice"}
    assert [e.event_id for e in history] == sorted({e.event_id for e in history})
    stamps = [e.timestamp for e in history]
    assert stamps == sorted(stamps) and start_ms <= stamps[0] and stamps[-1] <= int(time.time() * 1000)
    assert history[0].name == "audited" and history[-1].name == "renamed"

    # the same rows through SQL, oldest first
    assert tracklite.sql("SELECT * FROM registry_audit").columns == list(_EVENT_FIELDS)
    rows = tracklite.sql(f"SELECT {', '.join(_EVENT_FIELDS)} FROM registry_audit ORDER BY event_id")
    assert [tuple(r) for r in rows] == [tuple(getattr(e, f) for f in _EVENT_FIELDS) for e in history]
    by_action = tracklite.sql(
        "SELECT version, old_value, new_value FROM registry_audit "
        "WHERE action = 'transition_model_version_stage' AND new_value = 'Archived' ORDER BY version"
    )
    assert list(by_action) == [(1, "Production", "Archived"), (2, "Production", "Archived")]


def test_audit_user_defaults_to_the_os_user(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRACKLITE_USER", raising=False)
    client.create_registered_model("m")
    monkeypatch.setenv("TRACKLITE_USER", "bob")
    client.set_registered_model_tag("m", "k", "v")
    assert [(e.action, e.user_id) for e in client.get_registry_history("m")] == [
        ("create_registered_model", getpass.getuser()),
        ("set_registered_model_tag", "bob"),
    ]


# -- bad input: the right error, a message naming the problem, nothing changed ---------------------

_NO_RUN = "f" * 32

# fmt: off
_BAD_INPUT: list[tuple[str, Callable[[Client, Any], Any], type[TrackliteError], list[str]]] = [
    ("unknown model", lambda c, d: c.get_registered_model("nope"), ResourceDoesNotExist,
     ["Registered Model with name=nope not found"]),
    ("unknown model: new version", lambda c, d: c.create_model_version("nope", d.logreg), ResourceDoesNotExist,
     ["nope"]),
    ("unknown model: rename", lambda c, d: c.rename_registered_model("nope", "x"), ResourceDoesNotExist, ["nope"]),
    ("unknown model: delete", lambda c, d: c.delete_registered_model("nope"), ResourceDoesNotExist, ["nope"]),
    ("unknown model: tag", lambda c, d: c.set_registered_model_tag("nope", "k", "v"), ResourceDoesNotExist,
     ["nope"]),
    ("unknown model: latest", lambda c, d: c.get_latest_versions("nope"), ResourceDoesNotExist, ["nope"]),
    ("unknown version", lambda c, d: c.get_model_version("clf", 9), ResourceDoesNotExist, ["clf", "9"]),
    ("unknown version: transition", lambda c, d: c.transition_model_version_stage("clf", 9, "Staging"),
     ResourceDoesNotExist, ["clf", "9"]),
    ("unknown version: update", lambda c, d: c.update_model_version("clf", 9, "x"), ResourceDoesNotExist, ["9"]),
    ("unknown version: delete", lambda c, d: c.delete_model_version("clf", 9), ResourceDoesNotExist, ["9"]),
    ("unknown version: tag", lambda c, d: c.set_model_version_tag("clf", 9, "k", "v"), ResourceDoesNotExist, ["9"]),
    ("unknown version: alias", lambda c, d: c.set_registered_model_alias("clf", "a", 9), ResourceDoesNotExist,
     ["9"]),
    ("unknown alias", lambda c, d: c.get_model_version_by_alias("clf", "missing"), InvalidParameterValue,
     ["missing"]),
    ("invalid stage", lambda c, d: c.transition_model_version_stage("clf", 2, "foo"), InvalidParameterValue,
     ["Invalid Model Version stage: foo. Value must be one of None, Staging, Production, Archived."]),
    ("invalid stage: latest", lambda c, d: c.get_latest_versions("clf", ["foo"]), InvalidParameterValue,
     ["Invalid Model Version stage: foo."]),
    ("duplicate model name", lambda c, d: c.create_registered_model("clf"), ResourceAlreadyExists,
     ["clf", "already exists"]),
    ("rename onto an existing name", lambda c, d: c.rename_registered_model("other", "clf"), ResourceAlreadyExists,
     ["clf", "already exists"]),
    ("invalid alias", lambda c, d: c.set_registered_model_alias("clf", "bad alias!", 1), InvalidParameterValue,
     ["Invalid alias name: 'bad alias!'"]),
    ("reserved alias", lambda c, d: c.set_registered_model_alias("clf", "latest", 1), InvalidParameterValue,
     ["'latest' alias name (case insensitive) is reserved."]),
    ("invalid model name", lambda c, d: c.create_registered_model("a/b"), InvalidParameterValue, ["'a/b'"]),
    ("invalid model name: rename", lambda c, d: c.rename_registered_model("clf", "a/b"), InvalidParameterValue,
     ["'a/b'"]),
    ("invalid model name: register", lambda c, d: tracklite.register_model(d.logreg, "a:b"), InvalidParameterValue,
     ["'a:b'"]),
    ("non-integer version", lambda c, d: c.get_model_version("clf", "x"), InvalidParameterValue, ["version", "'x'"]),
    ("non-integer version 1.5", lambda c, d: c.get_model_version("clf", "1.5"), InvalidParameterValue,
     ["version", "'1.5'"]),
    ("non-integer version: transition", lambda c, d: c.transition_model_version_stage("clf", "x", "Staging"),
     InvalidParameterValue, ["version", "'x'"]),
    ("non-integer version: delete", lambda c, d: c.delete_model_version("clf", "two"), InvalidParameterValue,
     ["version", "'two'"]),
    ("register a missing directory", lambda c, d: tracklite.register_model(d.logreg + "-nowhere", "fresh"),
     TrackliteError, ["-nowhere"]),
    ("register from an unknown run", lambda c, d: tracklite.register_model(f"runs:/{_NO_RUN}/model", "fresh"),
     ResourceDoesNotExist, [_NO_RUN]),
    ("model filter", lambda c, d: c.search_registered_models("bogus = 'x'"), InvalidParameterValue, ["bogus"]),
    ("version filter", lambda c, d: c.search_model_versions("bogus = 1"), InvalidParameterValue, ["bogus"]),
]
# fmt: on


@pytest.fixture
def registry(client: Client, dirs: Any) -> Client:
    """A store with models ``clf`` (3 versions, 1 in Production, alias champion -> 1) and ``other``."""
    client.create_registered_model("clf", tags={"team": "a"}, description="classifier")
    for i in range(3):
        client.create_model_version("clf", dirs.logreg, tags={"i": str(i)})
    client.transition_model_version_stage("clf", 1, "Production")
    client.set_registered_model_alias("clf", "champion", 1)
    client.create_registered_model("other")
    return client


@pytest.mark.parametrize(("call", "error", "words"), [c[1:] for c in _BAD_INPUT], ids=[c[0] for c in _BAD_INPUT])
def test_bad_input_is_refused_and_changes_nothing(
    registry: Client, dirs: Any, call: Callable[[Client, Any], Any], error: type[TrackliteError], words: list[str]
) -> None:
    before = _snapshot(registry)
    with pytest.raises(error) as err:
        call(registry, dirs)
    for word in words:
        assert word in str(err.value)
    assert err.value.error_code == error.error_code or error is TrackliteError
    assert _snapshot(registry) == before


# -- search ------------------------------------------------------------------------------------


@pytest.fixture
def searchable(client: Client, dirs: Any) -> dict[str, str]:
    """Models beta, Alpha, alpha-2, gamma (created in that order) with tags and versions."""
    for name, tags in (
        ("beta", {"team": "a"}),
        ("Alpha", {"team": "b", "env": "prod"}),
        ("alpha-2", {"team": "a", "my key": "x"}),
        ("gamma", {}),
    ):
        client.create_registered_model(name, tags=tags)
        time.sleep(0.005)
    rid = client.create_run("0").info.run_id
    client.create_model_version("beta", dirs.logreg, run_id=rid, tags={"q": "1"})
    client.create_model_version("beta", dirs.logreg)
    client.create_model_version("Alpha", dirs.logreg, run_id=rid)
    client.create_model_version("gamma", dirs.logreg, tags={"q": "2"})
    return {"run_id": rid}


@pytest.mark.parametrize(
    ("filter_string", "names"),
    [
        (None, ["Alpha", "alpha-2", "beta", "gamma"]),
        ("name = 'beta'", ["beta"]),
        ("name LIKE 'alpha%'", ["alpha-2"]),
        ("name LIKE '%a%'", ["Alpha", "alpha-2", "beta", "gamma"]),
        ("name ILIKE 'ALPHA%'", ["Alpha", "alpha-2"]),
        ("tags.team = 'a'", ["alpha-2", "beta"]),
        ("tags.`my key` = 'x'", ["alpha-2"]),
        ("tags.team = 'a' AND name LIKE '%2'", ["alpha-2"]),
        ("name = 'nope'", []),
        ("name = 'beta' OR tags.`my key` = 'x'", ["alpha-2", "beta"]),  # OR: tracklite's extension
        ("name IN ('gamma', 'Alpha')", ["Alpha", "gamma"]),
    ],
)
def test_search_registered_models_filters(
    client: Client, searchable: dict[str, str], filter_string: str | None, names: list[str]
) -> None:
    assert [m.name for m in client.search_registered_models(filter_string)] == names


def test_search_registered_models_order_and_pages(client: Client, searchable: dict[str, str]) -> None:
    def names(**kwargs: Any) -> list[str]:
        return [m.name for m in client.search_registered_models(**kwargs)]

    assert names(order_by=["name DESC"]) == ["gamma", "beta", "alpha-2", "Alpha"]
    assert names(order_by=["creation_timestamp ASC"]) == ["beta", "Alpha", "alpha-2", "gamma"]
    assert names(order_by=["creation_timestamp DESC"]) == ["gamma", "alpha-2", "Alpha", "beta"]
    time.sleep(0.005)
    client.update_registered_model("alpha-2", "touched last")
    assert names(order_by=["last_updated_timestamp DESC"])[0] == "alpha-2"

    first = client.search_registered_models(max_results=3)
    assert [m.name for m in first] == ["Alpha", "alpha-2", "beta"] and first.token
    rest = client.search_registered_models(max_results=3, page_token=first.token)
    assert [m.name for m in rest] == ["gamma"] and not rest.token
    pages, token = [], None
    while True:
        page = client.search_registered_models(
            "name LIKE '%a%'", max_results=1, order_by=["name DESC"], page_token=token
        )
        pages.append([m.name for m in page])
        token = page.token
        if not token:
            break
    assert pages == [["gamma"], ["beta"], ["alpha-2"], ["Alpha"]]
    with pytest.raises(InvalidParameterValue):
        client.search_registered_models(order_by=["name SIDEWAYS"])


def test_search_model_versions_filters_order_and_pages(client: Client, searchable: dict[str, str]) -> None:
    rid = searchable["run_id"]

    def found(filter_string: str | None) -> set[tuple[str, int]]:
        return {(v.name, v.version) for v in client.search_model_versions(filter_string)}

    assert found("name = 'beta'") == {("beta", 1), ("beta", 2)}
    assert found("name ILIKE 'alpha'") == {("Alpha", 1)}
    assert found(f"run_id = '{rid}'") == {("beta", 1), ("Alpha", 1)}
    assert found(f"run_id IN ('{rid}', 'other')") == {("beta", 1), ("Alpha", 1)}
    assert found("version_number = 2") == {("beta", 2)}
    assert found("tags.q = '1'") == {("beta", 1)}
    assert found("name = 'beta' AND version_number = 1") == {("beta", 1)}
    assert found("name = 'nope'") == set()
    assert client.search_model_versions(f"run_id = '{rid}'")[0].run_id == rid
    # MLflow's default order: most recently updated first, then name ASC, version DESC
    default = client.search_model_versions()
    keys = [(-v.last_updated_timestamp, v.name, -v.version) for v in default]
    assert keys == sorted(keys) and len(keys) == 4
    every = [(v.name, v.version) for v in client.search_model_versions(order_by=["name ASC", "version_number DESC"])]
    assert every == [("Alpha", 1), ("beta", 2), ("beta", 1), ("gamma", 1)]
    ordered = client.search_model_versions(order_by=["version_number ASC", "name ASC"])
    assert [(v.name, v.version) for v in ordered] == [("Alpha", 1), ("beta", 1), ("gamma", 1), ("beta", 2)]
    first = client.search_model_versions(max_results=3, order_by=["name ASC", "version_number DESC"])
    assert [(v.name, v.version) for v in first] == every[:3] and first.token
    rest = client.search_model_versions(
        max_results=3, order_by=["name ASC", "version_number DESC"], page_token=first.token
    )
    assert [(v.name, v.version) for v in rest] == every[3:] and not rest.token


# -- the command line --------------------------------------------------------------------------


def _cli(*args: str, store: str) -> subprocess.CompletedProcess[str]:
    """``python -m tracklite models ...`` as a real process (as tests/test_cli.py runs the CLI)."""
    return subprocess.run(
        [sys.executable, "-m", "tracklite", "models", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "TRACKLITE_TRACKING_URI": store, "TRACKLITE_USER": "cli-user"},
        timeout=300,
    )


def _mentions_number(text: str, number: int) -> bool:
    return re.search(rf"(?<![\w./-]){number}(?![\w./-])", text) is not None


def test_cli_register_transition_alias_show_history(store_path: str, client: Client, dirs: Any) -> None:
    rid = client.create_run("0").info.run_id
    client.log_artifacts(rid, dirs.constant, "model")

    first = _cli("register", dirs.logreg, "clf", store=store_path)
    assert first.returncode == 0, first.stderr
    assert "clf" in first.stdout and _mentions_number(first.stdout, 1)
    second = _cli("register", f"runs:/{rid}/model", "clf", store=store_path)
    assert second.returncode == 0, second.stderr
    assert "clf" in second.stdout and _mentions_number(second.stdout, 2)

    listed = _cli("list", store=store_path)
    assert listed.returncode == 0, listed.stderr
    assert "clf" in listed.stdout

    staged = _cli("transition", "clf", "1", "Production", store=store_path)
    assert staged.returncode == 0, staged.stderr
    assert "Production" in staged.stdout
    promoted = _cli("transition", "clf", "2", "production", "--archive-existing", store=store_path)
    assert promoted.returncode == 0, promoted.stderr
    assert "Production" in promoted.stdout
    assert {v.version: v.current_stage for v in client.search_model_versions("name = 'clf'")} == {
        1: "Archived",
        2: "Production",
    }

    aliased = _cli("alias", "clf", "champion", "2", store=store_path)
    assert aliased.returncode == 0, aliased.stderr
    assert "champion" in aliased.stdout
    assert client.get_registered_model("clf").aliases == {"champion": 2}

    shown = _cli("show", "clf", store=store_path)
    assert shown.returncode == 0, shown.stderr
    for word in ("clf", "champion", "Production", "Archived"):
        assert word in shown.stdout, word
    assert _mentions_number(shown.stdout, 1) and _mentions_number(shown.stdout, 2)

    history = _cli("history", "clf", store=store_path)
    assert history.returncode == 0, history.stderr
    for word in (
        "create_registered_model",
        "create_model_version",
        "transition_model_version_stage",
        "set_registered_model_alias",
        "cli-user",
        "Archived",
    ):
        assert word in history.stdout, word
    # register x2 (the first also creates the model), transition x2 (+1 archived), alias
    events = client.get_registry_history("clf")
    assert len(events) == 7 and {e.user_id for e in events} == {"cli-user"}


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("show", "nope"), ["nope", "not found"]),
        (("transition", "clf", "1", "bogus"), ["Invalid Model Version stage: bogus"]),
        (("transition", "clf", "7", "Staging"), ["7", "not found"]),
        (("alias", "clf", "latest", "1"), ["reserved"]),
        (("register", "/nonexistent/model-dir", "clf"), ["/nonexistent/model-dir"]),
    ],
    ids=["show unknown", "invalid stage", "unknown version", "reserved alias", "missing source"],
)
def test_cli_bad_input_is_a_clear_error(
    store_path: str, client: Client, dirs: Any, args: tuple[str, ...], words: list[str]
) -> None:
    _new_model(client, "clf", dirs.logreg, 1)
    before = _snapshot(client)
    proc = _cli(*args, store=store_path)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in proc.stderr, (word, proc.stderr)
    assert _snapshot(client) == before
