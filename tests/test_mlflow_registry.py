"""Real MLflow as the oracle for the model registry: one sequence of calls, both stores, same state.

Each test runs the same calls against ``mlflow.MlflowClient`` on a sqlite file and against
``tracklite.Client`` on a store file, then compares what they return and what they hold
field by field. Timestamps, ``source``, ``storage_location``, ``user_id`` and ``model_id``
are left out: tracklite pins files and records its user where MLflow keeps the path and None.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlflow
import pytest
import tracklite
import tracklite.sklearn
from mlflow.exceptions import MlflowException
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from tracklite.errors import (
    InvalidParameterValue,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
    TrackliteError,
)

# Stages are deprecated in MLflow (FutureWarning from every stage call); the oracle still answers.
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

_EITHER = (MlflowException, TrackliteError)
_CLASS_BY_CODE: dict[str, type[TrackliteError]] = {
    "RESOURCE_DOES_NOT_EXIST": ResourceDoesNotExist,
    "RESOURCE_ALREADY_EXISTS": ResourceAlreadyExists,
    "INVALID_PARAMETER_VALUE": InvalidParameterValue,
}


@pytest.fixture(autouse=True)
def _quiet(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A local model directory both registries register versions from."""
    x, y = load_iris(return_X_y=True, as_frame=True)
    path = str(tmp_path_factory.mktemp("model") / "logreg")
    tracklite.sklearn.save_model(LogisticRegression(max_iter=300).fit(x, y), path)
    return path


@pytest.fixture(scope="module")
def _mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, migrated MLflow sqlite file: copying it is much faster than migrating per test."""
    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    uri = f"sqlite:///{path}"
    oracle = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    oracle.search_experiments()
    oracle.search_registered_models()
    return path


@pytest.fixture
def mlc(tmp_path: Path, _mlflow_template: Path) -> mlflow.MlflowClient:
    """MLflow's client on a fresh sqlite file (tracking and registry in one file)."""
    path = tmp_path / "mlflow.db"
    shutil.copy(_mlflow_template, path)
    uri = f"sqlite:///{path}"
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


# -- normalising both tools' entities ----------------------------------------------------------


def _mv(v: Any) -> dict[str, Any]:
    """A model version without timestamps, source, storage location, user or model id."""
    return {
        "name": v.name,
        "version": v.version,
        "current_stage": v.current_stage,
        "description": v.description,
        "tags": dict(v.tags),
        "aliases": sorted(v.aliases),
        "status": v.status,
        "status_message": v.status_message,
        "run_id": v.run_id,
        "run_link": v.run_link,
    }


def _mv_no_aliases(v: Any) -> dict[str, Any]:
    # MLflow leaves ModelVersion.aliases empty in search_model_versions results and in
    # RegisteredModel.latest_versions; the aliases are compared through get_model_version instead.
    return {k: val for k, val in _mv(v).items() if k != "aliases"}


def _rm(m: Any) -> dict[str, Any]:
    """A registered model without timestamps; latest versions as (stage, version), in any order."""
    return {
        "name": m.name,
        "description": m.description,
        "tags": dict(m.tags),
        "aliases": dict(m.aliases),
        "latest_versions": sorted((v.current_stage, v.version) for v in m.latest_versions),
    }


def _by_stage(versions: Any) -> list[dict[str, Any]]:
    """Latest versions in a fixed order (MLflow's order follows its rows, not the stages)."""
    return sorted((_mv(v) for v in versions), key=lambda v: (v["current_stage"], v["version"]))


def _names(models: Any) -> list[str]:
    return [m.name for m in models]


def _versions(versions: Any) -> list[tuple[str, int]]:
    return [(v.name, v.version) for v in versions]


def _pages(search: Callable[..., Any], key: Callable[[Any], Any], **kwargs: Any) -> list[list[Any]]:
    """Every page of a search, followed through page tokens."""
    pages, token = [], None
    while True:
        page = search(page_token=token, **kwargs)
        pages.append([key(x) for x in page])
        token = page.token
        if not token:
            return pages
        assert len(pages) < 20, "page tokens never end"


def _state(c: Any) -> dict[str, Any]:
    """Everything either registry shows about its models, in comparable form."""
    models = c.search_registered_models()
    state: dict[str, Any] = {"models": [_rm(m) for m in models]}
    for m in models:
        name = m.name
        versions = c.search_model_versions(f"name = '{name}'", order_by=["version_number ASC"])
        state[name] = {
            "get_registered_model": _rm(c.get_registered_model(name)),
            "search_model_versions": [_mv_no_aliases(v) for v in versions],
            "get_model_version": [_mv(c.get_model_version(name, v.version)) for v in versions],
            "latest (all stages)": _by_stage(c.get_latest_versions(name)),
            "latest (stages=[])": _by_stage(c.get_latest_versions(name, stages=[])),
            "latest Production": [_mv(v) for v in c.get_latest_versions(name, stages=["Production"])],
            "latest staging+archived": _by_stage(c.get_latest_versions(name, stages=["staging", "ARCHIVED"])),
            "by alias": {a: _mv(c.get_model_version_by_alias(name, a)) for a in sorted(m.aliases)},
        }
    state["search"] = {
        "models name DESC": _names(c.search_registered_models(order_by=["name DESC"])),
        "models LIKE": _names(c.search_registered_models("name LIKE '%e%'")),
        "models ILIKE": _names(c.search_registered_models("name ILIKE 'RE%'")),
        "models by tag": _names(c.search_registered_models("tags.team = 'b'")),
        "models by tag and name": _names(c.search_registered_models("tags.team = 'b' AND name = 'renamed'")),
        "model pages": _pages(c.search_registered_models, lambda m: m.name, max_results=1),
        "versions name ASC version DESC": _versions(
            c.search_model_versions(order_by=["name ASC", "version_number DESC"])
        ),
        "versions version_number": _versions(
            c.search_model_versions("version_number = 2", order_by=["name ASC", "version_number DESC"])
        ),
        "versions by tag": _versions(c.search_model_versions("tags.k = 'v'", order_by=["version_number ASC"])),
        "version pages": _pages(
            c.search_model_versions,
            lambda v: (v.name, v.version),
            max_results=2,
            order_by=["name ASC", "version_number DESC"],
        ),
    }
    return state


# -- the sequence ------------------------------------------------------------------------------


def _sequence(c: Any, model_dir: str) -> list[Any]:
    """The registry calls of the comparison, in order; returns what each returned, normalised."""
    out: list[Any] = []
    out.append(_rm(c.create_registered_model("clf", tags={"team": "a", "drop": "me"}, description="first")))
    for i in range(3):
        out.append(_mv(c.create_model_version("clf", model_dir, tags={"i": str(i)}, description=f"version {i + 1}")))
    out.append(_rm(c.create_registered_model("other", tags={"team": "b"})))
    out.append(_mv(c.create_model_version("other", model_dir)))
    out.append(_mv(c.create_model_version("other", model_dir)))
    # stages, case-insensitive names, archiving only the target stage
    out.append(_mv(c.transition_model_version_stage("clf", 1, "Production")))
    out.append(_mv(c.transition_model_version_stage("clf", 2, "staging")))
    out.append(_mv(c.transition_model_version_stage("other", 1, "production")))
    out.append(_mv(c.transition_model_version_stage("clf", 3, "PRODUCTION", archive_existing_versions=True)))
    out.append(_mv(c.transition_model_version_stage("clf", 2, "Staging", archive_existing_versions=True)))
    out.append(_mv(c.get_model_version("clf", 1)))
    out.append(_mv(c.get_model_version("other", 1)))
    # aliases: set, move, delete
    c.set_registered_model_alias("clf", "champion", 1)
    c.set_registered_model_alias("clf", "challenger", 2)
    c.set_registered_model_alias("clf", "old", 1)
    out.append(_rm(c.get_registered_model("clf")))
    c.set_registered_model_alias("clf", "champion", 3)
    out.append(_mv(c.get_model_version_by_alias("clf", "champion")))
    out.append(_mv(c.get_model_version("clf", 1)))
    c.delete_registered_model_alias("clf", "challenger")
    out.append(_rm(c.get_registered_model("clf")))
    # tags on the model and on versions
    c.set_registered_model_tag("clf", "team", "b")
    c.set_registered_model_tag("clf", "owner", "ml")
    c.delete_registered_model_tag("clf", "drop")
    c.set_model_version_tag("clf", 1, "k", "v")
    c.set_model_version_tag("clf", 2, "k", "w")
    c.set_model_version_tag("clf", 2, "k", "v")
    c.delete_model_version_tag("clf", 3, "i")
    out.append(_mv(c.get_model_version("clf", 2)))
    # descriptions
    out.append(_rm(c.update_registered_model("clf", "second")))
    out.append(_mv(c.update_model_version("clf", 2, "updated")))
    # delete a version that holds an alias; numbers are not reused
    c.delete_model_version("clf", 1)
    out.append(_rm(c.get_registered_model("clf")))
    out.append(_mv(c.create_model_version("clf", model_dir, description="after delete")))
    # rename keeps versions, stages, aliases and tags (MLflow returns None here, so only the state is compared)
    c.rename_registered_model("clf", "renamed")
    out.append(_rm(c.get_registered_model("renamed")))
    out.append(_mv(c.get_model_version("renamed", 3)))
    return out


def test_same_sequence_same_state(mlc: mlflow.MlflowClient, client: tracklite.Client, model_dir: str) -> None:
    expected_returns = _sequence(mlc, model_dir)
    expected_state = _state(mlc)
    # the oracle's answers this comparison relies on
    assert [v["version"] for v in expected_state["renamed"]["get_model_version"]] == [2, 3, 4]
    assert expected_state["renamed"]["get_registered_model"]["aliases"] == {"champion": 3}
    assert expected_state["search"]["model pages"] == [["other"], ["renamed"]]

    returns = _sequence(client, model_dir)
    for i, (got, want) in enumerate(zip(returns, expected_returns, strict=True)):
        assert got == want, f"return value of call #{i} differs"
    state = _state(client)
    assert state.keys() == expected_state.keys()
    for key, want in expected_state.items():
        assert state[key] == want, key


def test_unknown_after_rename_and_delete(mlc: mlflow.MlflowClient, client: tracklite.Client, model_dir: str) -> None:
    def run(c: Any) -> list[Any]:
        c.create_registered_model("a")
        c.create_model_version("a", model_dir)
        c.set_registered_model_alias("a", "x", 1)
        c.rename_registered_model("a", "b")
        seen: list[Any] = []
        for call in (lambda: c.get_registered_model("a"), lambda: c.get_model_version("a", 1)):
            with pytest.raises(_EITHER) as info:
                call()
            seen.append(info.value.error_code)
        c.delete_registered_model("b")
        with pytest.raises(_EITHER) as info:
            c.get_registered_model("b")
        seen.append(info.value.error_code)
        # a re-created model starts its numbering again
        c.create_registered_model("b")
        seen.append(c.create_model_version("b", model_dir).version)
        seen.append(_names(c.search_registered_models()))
        seen.append(_versions(c.search_model_versions()))
        return seen

    expected = run(mlc)
    assert expected == [
        "RESOURCE_DOES_NOT_EXIST",
        "RESOURCE_DOES_NOT_EXIST",
        "RESOURCE_DOES_NOT_EXIST",
        1,
        ["b"],
        [("b", 1)],
    ]
    assert run(client) == expected


# -- bad input: same error code, same class, state unchanged ------------------------------------


def _populate(c: Any, model_dir: str) -> None:
    c.create_registered_model("clf", tags={"team": "a"}, description="d")
    for _ in range(3):
        c.create_model_version("clf", model_dir)
    c.create_registered_model("other")
    c.transition_model_version_stage("clf", 1, "Production")
    c.transition_model_version_stage("clf", 2, "Staging")
    c.set_registered_model_alias("clf", "champion", 1)


# (id, call, tracklite's message must contain MLflow's whole message)
_BAD_INPUT: list[tuple[str, Callable[[Any, str], Any], bool]] = [
    ("unknown model", lambda c, d: c.get_registered_model("nope"), True),
    ("unknown model: versions", lambda c, d: c.get_latest_versions("nope"), True),
    ("unknown model: new version", lambda c, d: c.create_model_version("nope", d), True),
    ("unknown model: update", lambda c, d: c.update_registered_model("nope", "x"), True),
    ("unknown model: rename", lambda c, d: c.rename_registered_model("nope", "x"), True),
    ("unknown model: delete", lambda c, d: c.delete_registered_model("nope"), True),
    ("unknown model: tag", lambda c, d: c.set_registered_model_tag("nope", "k", "v"), True),
    ("unknown model: alias", lambda c, d: c.set_registered_model_alias("nope", "a", 1), True),
    ("unknown version", lambda c, d: c.get_model_version("clf", 9), False),
    ("unknown version of unknown model", lambda c, d: c.get_model_version("nope", 1), False),
    ("unknown version: transition", lambda c, d: c.transition_model_version_stage("clf", 9, "Staging"), False),
    ("unknown version: update", lambda c, d: c.update_model_version("clf", 9, "x"), False),
    ("unknown version: delete", lambda c, d: c.delete_model_version("clf", 9), False),
    ("unknown version: tag", lambda c, d: c.set_model_version_tag("clf", 9, "k", "v"), False),
    ("unknown version: alias", lambda c, d: c.set_registered_model_alias("clf", "a", 9), False),
    ("invalid stage", lambda c, d: c.transition_model_version_stage("clf", 1, "foo"), True),
    ("invalid stage: latest", lambda c, d: c.get_latest_versions("clf", ["foo"]), True),
    ("duplicate model name", lambda c, d: c.create_registered_model("clf"), False),
    ("rename onto an existing name", lambda c, d: c.rename_registered_model("other", "clf"), False),
    ("invalid model name a/b", lambda c, d: c.create_registered_model("a/b"), False),
    ("invalid model name a:b", lambda c, d: c.create_registered_model("a:b"), False),
    ("empty model name", lambda c, d: c.create_registered_model(""), False),
    ("rename to an invalid name", lambda c, d: c.rename_registered_model("clf", "a/b"), False),
    ("alias latest", lambda c, d: c.set_registered_model_alias("clf", "latest", 1), True),
    ("alias LATEST", lambda c, d: c.set_registered_model_alias("clf", "LATEST", 1), True),
    ("alias v3", lambda c, d: c.set_registered_model_alias("clf", "v3", 1), False),
    ("alias with space and !", lambda c, d: c.set_registered_model_alias("clf", "bad alias!", 1), True),
    ("empty alias", lambda c, d: c.set_registered_model_alias("clf", "", 1), False),
    ("non-integer version", lambda c, d: c.get_model_version("clf", "x"), False),
    ("non-integer version 1.5", lambda c, d: c.get_model_version("clf", "1.5"), False),
    ("non-integer version: transition", lambda c, d: c.transition_model_version_stage("clf", "x", "Staging"), False),
    ("non-integer version: delete", lambda c, d: c.delete_model_version("clf", "x"), False),
    ("non-integer version: alias", lambda c, d: c.set_registered_model_alias("clf", "a", "x"), False),
    ("model filter: unknown attribute", lambda c, d: c.search_registered_models("bogus = 'x'"), False),
    ("version filter: unknown attribute", lambda c, d: c.search_model_versions("bogus = 1"), False),
]


def _full_state(c: Any) -> Any:
    return _state(c), _versions(c.search_model_versions(order_by=["name ASC", "version_number ASC"]))


def test_bad_input_same_errors(mlc: mlflow.MlflowClient, client: tracklite.Client, model_dir: str) -> None:
    _populate(mlc, model_dir)
    _populate(client, model_dir)
    mlflow_before, tracklite_before = _full_state(mlc), _full_state(client)
    problems = []
    for case, call, same_message in _BAD_INPUT:
        with pytest.raises(MlflowException) as oracle:
            call(mlc, model_dir)
        code = oracle.value.error_code
        try:
            call(client, model_dir)
        except TrackliteError as err:
            if err.error_code != code:
                problems.append(f"{case}: error_code {err.error_code}, MLflow says {code} ({oracle.value.message})")
            wanted = _CLASS_BY_CODE.get(code, TrackliteError)
            if not isinstance(err, wanted):
                problems.append(f"{case}: {type(err).__name__} is not a {wanted.__name__}")
            if same_message and oracle.value.message not in str(err):
                problems.append(f"{case}: message {str(err)!r} lacks MLflow's {oracle.value.message!r}")
        except Exception as err:  # noqa: BLE001 - reported below with the case's name
            problems.append(f"{case}: {type(err).__name__} is not a TrackliteError: {err}")
        else:
            problems.append(f"{case}: no error; MLflow raises {code}")
    assert _full_state(mlc) == mlflow_before  # the oracle changes nothing either
    assert not problems, "\n".join(problems)
    assert _full_state(client) == tracklite_before


def test_string_versions_are_accepted(mlc: mlflow.MlflowClient, client: tracklite.Client, model_dir: str) -> None:
    def run(c: Any) -> list[Any]:
        _populate(c, model_dir)
        return [
            _mv(c.get_model_version("clf", "2")),
            _mv(c.transition_model_version_stage("clf", "3", "Staging")),
        ]

    assert run(client) == run(mlc)


# -- where tracklite knowingly differs from MLflow, and the cases around them ----------------------------


def test_unknown_alias_is_invalid_parameter_as_in_mlflow(
    mlc: mlflow.MlflowClient, client: tracklite.Client, model_dir: str
) -> None:
    _populate(mlc, model_dir)
    with pytest.raises(MlflowException, match="Registered model alias missing not found") as oracle:
        mlc.get_model_version_by_alias("clf", "missing")
    _populate(client, model_dir)
    with pytest.raises(InvalidParameterValue, match="Registered model alias missing not found") as err:
        client.get_model_version_by_alias("clf", "missing")
    assert err.value.error_code == oracle.value.error_code == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize("stage", ["None", "archived"])
def test_archive_existing_outside_active_stages(
    mlc: mlflow.MlflowClient, client: tracklite.Client, model_dir: str, stage: str
) -> None:
    # MLflow raises a bare MlflowException (INTERNAL_ERROR, HTTP 500) for this bad argument; tracklite
    # says it is the caller's (INVALID_PARAMETER_VALUE), with MLflow's message.
    _populate(mlc, model_dir)
    with pytest.raises(MlflowException, match="is not an Active stage") as oracle:
        mlc.transition_model_version_stage("clf", 3, stage, archive_existing_versions=True)
    assert oracle.value.error_code == "INTERNAL_ERROR"
    _populate(client, model_dir)
    before = _full_state(client)
    with pytest.raises(TrackliteError, match="is not an Active stage") as err:
        client.transition_model_version_stage("clf", 3, stage, archive_existing_versions=True)
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert _full_state(client) == before


def test_default_version_order_is_mlflows(mlc: mlflow.MlflowClient, client: tracklite.Client, model_dir: str) -> None:
    def run(c: Any) -> list[tuple[str, int]]:
        c.create_registered_model("b")
        c.create_registered_model("a")
        for name in ("b", "a", "b"):
            c.create_model_version(name, model_dir)
            time.sleep(0.005)
        return _versions(c.search_model_versions())

    # last_updated_timestamp DESC, then name ASC, version DESC
    assert run(mlc) == run(client) == [("b", 2), ("a", 1), ("b", 1)]
