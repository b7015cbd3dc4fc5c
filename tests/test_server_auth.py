"""``tracklite server --auth``: basic auth, MLflow's permission levels on every endpoint
group, creators' MANAGE, filtered searches, the audit trail, the ``tracklite users`` CLI.

One real server (``--auth``) on 127.0.0.1 serves the module. Its admin is made beforehand
with the CLI; the other users through the admin endpoints. Each permission case is tried
as a user with READ, EDIT, MANAGE, NO_PERMISSIONS and no grant at all (the default, READ).
Allowed mutations run on fresh resources; denied ones are checked to leave the store as it
was, read from the store file itself.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from server_fixtures import ServerProcess, start_server
from tracklite.cli import main as cli_main
from tracklite.errors import PermissionDenied
from tracklite.server.app import _load_api_modules
from tracklite.server.auth import BasicAuth, UserStore, hash_password, verify_password
from tracklite.server.endpoints import ENDPOINTS
from tracklite.store import get_store

_load_api_modules()  # declares every endpoint in ENDPOINTS

ADMIN = ("admin", "admin-pw")
LEVELS = {"u_read": "READ", "u_edit": "EDIT", "u_manage": "MANAGE", "u_none": "NO_PERMISSIONS", "u_default": None}
RANK = {"NO_PERMISSIONS": 0, "READ": 1, "EDIT": 2, "MANAGE": 3}
_names = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_names)}-{time.monotonic_ns()}"


def password_of(user: str) -> str:
    return f"{user}-pw"


@dataclass
class Api:
    """A signed-in HTTP client of the server."""

    url: str
    auth: tuple[str, str] | None

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, self.url + path, auth=self.auth, timeout=30, **kwargs)

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.call(method, path, **kwargs)
        assert response.status_code == 200, (method, path, response.status_code, response.text)
        return response.json() if response.content else None


def cli(store: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracklite", *args, "--store", store],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("auth")
    store = str(folder / "s.duckdb")
    made = cli(store, "users", "create", ADMIN[0], "--admin", "--password-stdin", stdin=ADMIN[1] + "\n")
    assert made.returncode == 0, made.stderr
    proc = start_server(store, extra=["--auth"])
    try:
        admin = Api(proc.url, ADMIN)
        for user in [*LEVELS, "u_creator", "u_other"]:
            admin.ok("POST", "/api/2.0/mlflow/users/create", json={"username": user, "password": password_of(user)})
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def admin(srv: ServerProcess) -> Api:
    return Api(srv.url, ADMIN)


def as_user(srv: ServerProcess, user: str) -> Api:
    return Api(srv.url, (user, password_of(user)))


def make_world(admin: Api, only: str | None = "") -> dict[str, Any]:
    """Fresh resources of every kind, made by the admin; each level user (or just ``only``
    and u_read) gets their grant."""
    w: dict[str, Any] = {"exp_name": unique("exp"), "model": unique("model")}
    w["exp"] = admin.ok("POST", "/api/2.0/mlflow/experiments/create", json={"name": w["exp_name"]})["experiment_id"]
    run = admin.ok("POST", "/api/2.0/mlflow/runs/create", json={"experiment_id": w["exp"]})
    w["run"] = run["run"]["info"]["run_id"]
    admin.ok(
        "POST",
        "/api/2.0/mlflow/runs/log-batch",
        json={
            "run_id": w["run"],
            "params": [{"key": "p", "value": "1"}],
            "tags": [{"key": "t", "value": "1"}],
            "metrics": [{"key": "m", "value": 1.0, "timestamp": 1, "step": 0}],
        },
    )
    w["art"] = f"{w['exp']}/{w['run']}/artifacts"
    admin.ok("PUT", f"/api/2.0/mlflow-artifacts/artifacts/{w['art']}/a.txt", data=b"hello")
    lm = admin.ok("POST", "/api/2.0/mlflow/logged-models", json={"experiment_id": w["exp"], "name": "lm"})
    w["lm"] = lm["model"]["info"]["model_id"]
    admin.ok(
        "PUT", f"/api/2.0/mlflow-artifacts/artifacts/{w['exp']}/models/{w['lm']}/artifacts/MLmodel", data=b"x: 1\n"
    )
    admin.ok("PATCH", f"/api/2.0/mlflow/logged-models/{w['lm']}", json={"status": "LOGGED_MODEL_READY"})
    admin.ok("POST", "/api/2.0/mlflow/registered-models/create", json={"name": w["model"]})
    mv = admin.ok(
        "POST",
        "/api/2.0/mlflow/model-versions/create",
        json={"name": w["model"], "source": f"models:/{w['lm']}", "run_id": w["run"]},
    )
    w["version"] = mv["model_version"]["version"]
    uri = admin.ok("GET", M + "model-versions/get-download-uri", params={"name": w["model"], "version": w["version"]})
    w["mv_art"] = uri["artifact_uri"].removeprefix("mlflow-artifacts:/")
    admin.ok(
        "POST",
        "/api/2.0/mlflow/model-versions/set-tag",
        json={"name": w["model"], "version": w["version"], "key": "t", "value": "v"},
    )
    admin.ok(
        "POST", "/api/2.0/mlflow/registered-models/alias", json={"name": w["model"], "alias": "champ", "version": "1"}
    )
    for user, level in LEVELS.items():
        if level is None or (only != "" and user not in (only, "u_read")):
            continue  # u_read's grants are the subject of the permission-management cases
        body = {"experiment_id": w["exp"], "username": user, "permission": level}
        admin.ok("POST", "/api/2.0/mlflow/experiments/permissions/create", json=body)
        body = {"name": w["model"], "username": user, "permission": level}
        admin.ok("POST", "/api/2.0/mlflow/registered-models/permissions/create", json=body)
    return w


@pytest.fixture(scope="module")
def world(admin: Api) -> dict[str, Any]:
    return make_world(admin)


_STATE_TABLES = (
    "experiments",
    "experiment_tags",
    "runs",
    "params",
    "tags",
    "artifact_files",
    "logged_models",
    "logged_model_tags",
    "registered_models",
    "registered_model_tags",
    "model_versions",
    "model_version_tags",
    "registered_model_aliases",
    "registry_audit",
    "users",
    "experiment_permissions",
    "registered_model_permissions",
)


def store_state(store: str) -> str:
    """A digest of every table a request could change (metrics, which the server applies
    in the background, are left out: no denied request here logs any)."""
    digest = hashlib.sha256()
    with get_store(store).connector.connect() as con:  # type: ignore[attr-defined]
        for table in _STATE_TABLES:
            for row in con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall():
                digest.update(repr(row).encode())
    return digest.hexdigest()


Request = tuple[str, str, dict[str, Any]]


@dataclass(frozen=True)
class Case:
    """One endpoint call and the permission it needs (MLflow's basic-auth rules)."""

    name: str
    need: str  # READ, EDIT, MANAGE or ADMIN
    request: Callable[[dict[str, Any]], Request]
    mutates: bool = False


M = "/api/2.0/mlflow/"
A = "/api/2.0/mlflow-artifacts/artifacts/"
T = "/api/2.0/tracklite/"


def _get(path: str, params: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[dict[str, Any]], Request]:
    return lambda w: ("GET", path, {"params": params(w)})


def _send(method: str, path: str, body: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Request]:
    return lambda w: (method, path, {"json": body(w)})


def _mv(w: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": w["model"], "version": w["version"], **extra}


CASES = [
    # experiments
    Case("experiment get", "READ", _get(M + "experiments/get", lambda w: {"experiment_id": w["exp"]})),
    Case(
        "experiment get-by-name",
        "READ",
        _get(M + "experiments/get-by-name", lambda w: {"experiment_name": w["exp_name"]}),
    ),
    Case(
        "experiment rename",
        "EDIT",
        _send("POST", M + "experiments/update", lambda w: {"experiment_id": w["exp"], "new_name": unique("renamed")}),
        True,
    ),
    Case(
        "experiment set tag",
        "EDIT",
        _send(
            "POST",
            M + "experiments/set-experiment-tag",
            lambda w: {"experiment_id": w["exp"], "key": "k", "value": "v"},
        ),
        True,
    ),
    Case(
        "experiment delete",
        "MANAGE",
        _send("POST", M + "experiments/delete", lambda w: {"experiment_id": w["exp"]}),
        True,
    ),
    Case(
        "experiment restore",
        "MANAGE",
        _send("POST", M + "experiments/restore", lambda w: {"experiment_id": w["exp"]}),
        True,
    ),
    # runs
    Case("run create", "EDIT", _send("POST", M + "runs/create", lambda w: {"experiment_id": w["exp"]}), True),
    Case("run get", "READ", _get(M + "runs/get", lambda w: {"run_id": w["run"]})),
    Case("run search", "READ", _send("POST", M + "runs/search", lambda w: {"experiment_ids": [w["exp"]]})),
    Case(
        "run metric history", "READ", _get(M + "metrics/get-history", lambda w: {"run_id": w["run"], "metric_key": "m"})
    ),
    Case(
        "run log param",
        "EDIT",
        _send("POST", M + "runs/log-parameter", lambda w: {"run_id": w["run"], "key": "q", "value": "2"}),
        True,
    ),
    Case(
        "run log batch",
        "EDIT",
        _send("POST", M + "runs/log-batch", lambda w: {"run_id": w["run"], "params": [{"key": "b", "value": "1"}]}),
        True,
    ),
    Case(
        "run set tag",
        "EDIT",
        _send("POST", M + "runs/set-tag", lambda w: {"run_id": w["run"], "key": "k", "value": "v"}),
        True,
    ),
    Case(
        "run update",
        "EDIT",
        _send("POST", M + "runs/update", lambda w: {"run_id": w["run"], "status": "FINISHED"}),
        True,
    ),
    Case("run delete", "MANAGE", _send("POST", M + "runs/delete", lambda w: {"run_id": w["run"]}), True),
    Case("run list artifacts", "READ", _get(M + "artifacts/list", lambda w: {"run_id": w["run"]})),
    # artifacts (the proxy)
    Case("artifact download", "READ", lambda w: ("GET", A + w["art"] + "/a.txt", {})),
    Case("artifact list", "READ", lambda w: ("GET", A[:-1], {"params": {"path": w["art"]}})),
    Case("registered version artifact", "READ", lambda w: ("GET", A + w["mv_art"] + "/MLmodel", {})),
    Case("artifact upload", "EDIT", lambda w: ("PUT", A + w["art"] + "/b.txt", {"data": b"new"}), True),
    Case("artifact delete", "MANAGE", lambda w: ("DELETE", A + w["art"] + "/a.txt", {}), True),
    # logged models
    Case(
        "logged model create",
        "EDIT",
        _send("POST", M + "logged-models", lambda w: {"experiment_id": w["exp"], "name": "x"}),
        True,
    ),
    Case("logged model get", "READ", lambda w: ("GET", M + f"logged-models/{w['lm']}", {})),
    Case(
        "logged model search",
        "READ",
        _send("POST", M + "logged-models/search", lambda w: {"experiment_ids": [w["exp"]]}),
    ),
    Case(
        "logged model set tags",
        "EDIT",
        lambda w: ("PATCH", M + f"logged-models/{w['lm']}/tags", {"json": {"tags": [{"key": "k", "value": "v"}]}}),
        True,
    ),
    Case("logged model delete", "MANAGE", lambda w: ("DELETE", M + f"logged-models/{w['lm']}", {}), True),
    # registered models
    Case("model get", "READ", _get(M + "registered-models/get", lambda w: {"name": w["model"]})),
    Case(
        "model latest versions",
        "READ",
        _get(M + "registered-models/get-latest-versions", lambda w: {"name": w["model"]}),
    ),
    Case(
        "model update",
        "EDIT",
        _send("PATCH", M + "registered-models/update", lambda w: {"name": w["model"], "description": "d"}),
        True,
    ),
    Case(
        "model set tag",
        "EDIT",
        _send("POST", M + "registered-models/set-tag", lambda w: {"name": w["model"], "key": "k", "value": "v"}),
        True,
    ),
    Case(
        "model rename",
        "EDIT",
        _send("POST", M + "registered-models/rename", lambda w: {"name": w["model"], "new_name": unique("m")}),
        True,
    ),
    Case(
        "model delete", "MANAGE", _send("DELETE", M + "registered-models/delete", lambda w: {"name": w["model"]}), True
    ),
    # model versions
    Case(
        "version create",
        "EDIT",
        _send("POST", M + "model-versions/create", lambda w: {"name": w["model"], "source": f"models:/{w['lm']}"}),
        True,
    ),
    Case("version get", "READ", _get(M + "model-versions/get", _mv)),
    Case("version download uri", "READ", _get(M + "model-versions/get-download-uri", _mv)),
    Case(
        "version update", "EDIT", _send("PATCH", M + "model-versions/update", lambda w: _mv(w, description="d")), True
    ),
    Case(
        "version stage",
        "EDIT",
        _send(
            "POST",
            M + "model-versions/transition-stage",
            lambda w: _mv(w, stage="Staging", archive_existing_versions=False),
        ),
        True,
    ),
    Case(
        "version set tag",
        "EDIT",
        _send("POST", M + "model-versions/set-tag", lambda w: _mv(w, key="k", value="v")),
        True,
    ),
    Case(
        "version delete tag",
        "MANAGE",
        _send("DELETE", M + "model-versions/delete-tag", lambda w: _mv(w, key="t")),
        True,
    ),
    Case("version delete", "MANAGE", _send("DELETE", M + "model-versions/delete", _mv), True),
    # aliases
    Case("alias get", "READ", _get(M + "registered-models/alias", lambda w: {"name": w["model"], "alias": "champ"})),
    Case(
        "alias set",
        "EDIT",
        _send("POST", M + "registered-models/alias", lambda w: {"name": w["model"], "alias": "new", "version": "1"}),
        True,
    ),
    Case(
        "alias delete",
        "MANAGE",
        _send("DELETE", M + "registered-models/alias", lambda w: {"name": w["model"], "alias": "champ"}),
        True,
    ),
    # permission management: MANAGE on the resource
    Case(
        "experiment permission get",
        "MANAGE",
        _get(M + "experiments/permissions/get", lambda w: {"experiment_id": w["exp"], "username": "u_read"}),
    ),
    Case(
        "experiment permission create",
        "MANAGE",
        _send(
            "POST",
            M + "experiments/permissions/create",
            lambda w: {"experiment_id": w["exp"], "username": "u_other", "permission": "EDIT"},
        ),
        True,
    ),
    Case(
        "experiment permission update",
        "MANAGE",
        _send(
            "PATCH",
            M + "experiments/permissions/update",
            lambda w: {"experiment_id": w["exp"], "username": "u_read", "permission": "EDIT"},
        ),
        True,
    ),
    Case(
        "model permission get",
        "MANAGE",
        _get(M + "registered-models/permissions/get", lambda w: {"name": w["model"], "username": "u_read"}),
    ),
    Case(
        "model permission delete",
        "MANAGE",
        _send(
            "DELETE", M + "registered-models/permissions/delete", lambda w: {"name": w["model"], "username": "u_read"}
        ),
        True,
    ),
    # users: admins only
    Case(
        "users create",
        "ADMIN",
        _send("POST", M + "users/create", lambda w: {"username": unique("u"), "password": "x"}),
        True,
    ),
    Case("users list", "ADMIN", _get(M + "users/list", lambda w: {})),
    Case(
        "users update admin",
        "ADMIN",
        _send("PATCH", M + "users/update-admin", lambda w: {"username": "u_other", "is_admin": False}),
        True,
    ),
    Case("users delete", "ADMIN", _send("DELETE", M + "users/delete", lambda w: {"username": "u_other"}), True),
    # the UI's own endpoints
    Case("ui registry history", "READ", _get(T + "registered-models/history", lambda w: {"name": w["model"]})),
    Case("ui metric series", "READ", _get(T + "metrics/series", lambda w: {"run_ids": [w["run"]], "key": "m"})),
    Case("ui experiment keys", "READ", _get(T + "experiments/keys", lambda w: {"experiment_id": w["exp"]})),
    Case("ui sql", "ADMIN", _send("POST", T + "sql", lambda w: {"query": "SELECT 1 AS x"})),
]


def allowed(user: str, need: str) -> bool:
    level = LEVELS[user] or "READ"  # no grant: the default permission
    return need != "ADMIN" and RANK[level] >= RANK[need]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_permission_levels(srv: ServerProcess, admin: Api, world: dict[str, Any], case: Case) -> None:
    denied = [u for u in LEVELS if not allowed(u, case.need)]
    before = store_state(srv.store) if case.mutates else None
    for user in denied:
        method, path, kwargs = case.request(world)
        response = as_user(srv, user).call(method, path, **kwargs)
        assert response.status_code == 403, (user, case.name, response.status_code, response.text)
        assert response.json()["error_code"] == "PERMISSION_DENIED"
    if before is not None:
        assert store_state(srv.store) == before, f"a denied {case.name} changed the store"
    for user in LEVELS:
        if user not in denied:
            w = make_world(admin, only=user) if case.mutates else world
            method, path, kwargs = case.request(w)
            response = as_user(srv, user).call(method, path, **kwargs)
            assert response.status_code == 200, (user, case.name, response.status_code, response.text)


def test_admin_may_do_everything(srv: ServerProcess, admin: Api, world: dict[str, Any]) -> None:
    for case in CASES:
        if case.mutates and case.need not in ("MANAGE", "ADMIN"):
            continue  # the admin check comes before the need: the MANAGE cases stand for the rest
        method, path, kwargs = case.request(make_world(admin, only=None) if case.mutates else world)
        response = admin.call(method, path, **kwargs)
        assert response.status_code == 200, (case.name, response.status_code, response.text)


_RESOURCE_FIELDS = {
    "experiment": {"experiment_id", "experiment_name"},
    "run": {"run_id", "run_uuid", "run_ids"},
    "registered_model": {"name"},
    "logged_model": {"model_id"},
    "artifact": {"artifact_path", "path"},
}


def test_every_checked_endpoint_names_its_resource() -> None:
    """An endpoint that needs a permission on a resource must declare a field the check can
    read; otherwise the check would find nothing to check and let the request through."""
    for ep in ENDPOINTS:
        if ep.need not in ("READ", "EDIT", "MANAGE") or ep.resource == "none":
            continue
        names = set(ep.fields) | set(re.findall(r"\{([a-z_]+)", ep.path))
        assert names & _RESOURCE_FIELDS[ep.resource], f"{ep.prefix}:{ep.path} names no {ep.resource}"


def test_cases_cover_the_endpoint_groups() -> None:
    assert {c.need for c in CASES} == {"READ", "EDIT", "MANAGE", "ADMIN"}
    fake = {
        "exp": "1",
        "exp_name": "e",
        "run": "r",
        "art": "1/r/artifacts",
        "lm": "m-1",
        "model": "m",
        "version": "1",
        "mv_art": "@registry/1/1",
    }
    paths = {c.request(fake)[1] for c in CASES}
    groups = ("experiments/", "runs/", "mlflow-artifacts/", "logged-models", "registered-models/")
    groups += ("model-versions/", "alias", "permissions/", "users/", "tracklite/")
    for group in groups:
        assert any(group in p for p in paths), group


# -- authentication ---------------------------------------------------------------------------------


def test_no_credentials_is_401_with_challenge(srv: ServerProcess) -> None:
    before = store_state(srv.store)
    for method, path, kwargs in [
        ("GET", M + "experiments/get", {"params": {"experiment_id": "0"}}),
        ("POST", M + "experiments/create", {"json": {"name": "anonymous"}}),
        ("PUT", A + "0/x/artifacts/a.txt", {"data": b"x"}),
        ("GET", T + "whoami", {}),
    ]:
        response = requests.request(method, srv.url + path, timeout=30, **kwargs)
        assert response.status_code == 401, (path, response.text)
        assert response.headers["WWW-Authenticate"].startswith("Basic")
        assert response.json()["error_code"] == "UNAUTHENTICATED"
    assert store_state(srv.store) == before
    assert requests.get(srv.url + "/health", timeout=30).status_code == 200


@pytest.mark.parametrize(
    "auth",
    [("admin", "wrong"), ("nobody", "admin-pw"), ("", ""), ("u_read", "admin-pw")],
    ids=["wrong password", "unknown user", "empty", "another user's password"],
)
def test_wrong_credentials_are_401(srv: ServerProcess, auth: tuple[str, str]) -> None:
    before = store_state(srv.store)
    response = requests.post(srv.url + M + "experiments/create", json={"name": unique("x")}, auth=auth, timeout=30)
    assert response.status_code == 401
    assert response.json()["error_code"] == "UNAUTHENTICATED"
    assert store_state(srv.store) == before


@pytest.mark.parametrize("header", ["Bearer abc", "Basic !!!notbase64", "Basic " + "bm9jb2xvbg=="])
def test_malformed_authorization_is_401(srv: ServerProcess, header: str) -> None:
    response = requests.get(
        srv.url + M + "experiments/get?experiment_id=0", headers={"Authorization": header}, timeout=30
    )
    assert response.status_code == 401


def test_whoami(srv: ServerProcess) -> None:
    assert as_user(srv, "u_read").ok("GET", T + "whoami") == {"user": "u_read", "auth": True}


# -- creators, searches, audit -------------------------------------------------------------------------


def test_creators_get_manage(srv: ServerProcess, admin: Api) -> None:
    creator = as_user(srv, "u_creator")
    exp = creator.ok("POST", M + "experiments/create", json={"name": unique("mine")})["experiment_id"]
    model = unique("mine")
    creator.ok("POST", M + "registered-models/create", json={"name": model})
    got = creator.ok("GET", M + "experiments/permissions/get", params={"experiment_id": exp, "username": "u_creator"})
    assert got["experiment_permission"]["permission"] == "MANAGE"
    got = creator.ok("GET", M + "registered-models/permissions/get", params={"name": model, "username": "u_creator"})
    assert got["registered_model_permission"]["permission"] == "MANAGE"
    # MANAGE lets the creator share, and delete.
    creator.ok(
        "POST",
        M + "experiments/permissions/create",
        json={"experiment_id": exp, "username": "u_none", "permission": "READ"},
    )
    assert as_user(srv, "u_none").call("GET", M + "experiments/get", params={"experiment_id": exp}).status_code == 200
    # a rename carries the grants along; a delete drops them
    renamed = unique("renamed")
    creator.ok("POST", M + "registered-models/rename", json={"name": model, "new_name": renamed})
    got = creator.ok("GET", M + "registered-models/permissions/get", params={"name": renamed, "username": "u_creator"})
    assert got["registered_model_permission"]["permission"] == "MANAGE"
    creator.ok("DELETE", M + "registered-models/delete", json={"name": renamed})
    assert UserStore(srv.store).grants_of("u_creator")["registered_model"] == []
    creator.ok("POST", M + "experiments/delete", json={"experiment_id": exp})
    user = creator.ok("GET", M + "users/get", params={"username": "u_creator"})["user"]
    assert {"experiment_id": exp, "user_id": user["id"], "permission": "MANAGE"} in user["experiment_permissions"]


def test_searches_are_filtered(srv: ServerProcess, admin: Api) -> None:
    w = make_world(admin)  # u_none has NO_PERMISSIONS on it
    hidden = as_user(srv, "u_none")
    shown = as_user(srv, "u_default")
    for api, visible in [(hidden, False), (shown, True), (admin, True)]:
        exps = api.ok("POST", M + "experiments/search", json={"max_results": 50000}).get("experiments", [])
        assert (w["exp"] in {e["experiment_id"] for e in exps}) is visible
        assert any(e["experiment_id"] == "0" for e in exps)
        models = api.ok("GET", M + "registered-models/search", params={"max_results": 1000}).get(
            "registered_models", []
        )
        assert (w["model"] in {m["name"] for m in models}) is visible
        versions = api.ok("GET", M + "model-versions/search", params={"filter": f"name='{w['model']}'"})
        assert bool(versions.get("model_versions")) is visible
    for path in ("runs/search", "logged-models/search"):
        response = hidden.call("POST", M + path, json={"experiment_ids": [w["exp"]]})
        assert response.status_code == 403, response.text


def test_audit_trail_names_the_signed_in_user(srv: ServerProcess, admin: Api) -> None:
    w = make_world(admin)
    editor = as_user(srv, "u_edit")
    editor.ok(
        "POST", M + "model-versions/transition-stage", json=_mv(w, stage="Production", archive_existing_versions=False)
    )
    editor.ok("POST", M + "registered-models/alias", json={"name": w["model"], "alias": "prod", "version": "1"})
    as_user(srv, "u_manage").ok("DELETE", M + "registered-models/alias", json={"name": w["model"], "alias": "prod"})
    store = get_store(srv.store)
    with store.connector.connect() as con:  # type: ignore[attr-defined]
        rows = con.execute(
            "SELECT user_id, action FROM views.registry_audit WHERE name = ? ORDER BY event_id", [w["model"]]
        ).fetchall()
    users = {action: user for user, action in rows}
    assert rows[0][0] == "admin"  # the registration
    assert [u for u, a in rows if "stage" in a.lower()] == ["u_edit"], rows
    assert "u_manage" in {u for u, _ in rows}
    history = editor.ok("GET", T + "registered-models/history", params={"name": w["model"]})["events"]
    assert {e["user_id"] for e in history} == {"admin", "u_edit", "u_manage"}, users


# -- user management -----------------------------------------------------------------------------------


def test_users_see_only_themselves(srv: ServerProcess) -> None:
    api = as_user(srv, "u_read")
    assert api.ok("GET", M + "users/get", params={"username": "u_read"})["user"]["is_admin"] is False
    assert api.ok("GET", M + "users/current")["user"]["username"] == "u_read"
    assert api.call("GET", M + "users/get", params={"username": "admin"}).status_code == 403
    body = {"username": "admin", "password": "taken-over"}
    assert api.call("PATCH", M + "users/update-password", json=body).status_code == 403


def test_password_change_takes_effect_at_once(srv: ServerProcess, admin: Api) -> None:
    name = unique("pw")
    admin.ok("POST", M + "users/create", json={"username": name, "password": "first"})
    api = Api(srv.url, (name, "first"))
    api.ok("GET", T + "whoami")  # now cached as verified
    body = {"username": name, "password": "second"}
    assert api.call("PATCH", M + "users/update-password", json=body).status_code == 400  # needs current_password
    wrong = {**body, "current_password": "nope"}
    assert api.call("PATCH", M + "users/update-password", json=wrong).status_code == 400
    api.ok("PATCH", M + "users/update-password", json={**body, "current_password": "first"})
    assert api.call("GET", T + "whoami").status_code == 401
    Api(srv.url, (name, "second")).ok("GET", T + "whoami")
    admin.ok("PATCH", M + "users/update-password", json={"username": name, "password": "third"})
    Api(srv.url, (name, "third")).ok("GET", T + "whoami")
    admin.ok("DELETE", M + "users/delete", json={"username": name})
    assert Api(srv.url, (name, "third")).call("GET", T + "whoami").status_code == 401


def test_user_management_errors(srv: ServerProcess, admin: Api) -> None:
    assert admin.call("DELETE", M + "users/delete", json={"username": "admin"}).status_code == 400
    again = admin.call("POST", M + "users/create", json={"username": "u_read", "password": "x"})
    assert again.status_code == 400 and again.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    missing = admin.call("GET", M + "users/get", params={"username": "ghost"})
    assert missing.status_code == 404
    bad = admin.call(
        "POST",
        M + "experiments/permissions/create",
        json={"experiment_id": "0", "username": "u_read", "permission": "ALL"},
    )
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    nothing = admin.call("GET", M + "experiments/permissions/get", params={"experiment_id": "0", "username": "u_read"})
    assert nothing.status_code == 404


def test_unknown_resources_are_404(srv: ServerProcess) -> None:
    api = as_user(srv, "u_none")
    assert api.call("GET", M + "runs/get", params={"run_id": "0" * 32}).status_code == 404
    assert api.call("GET", M + "logged-models/m-nonexistent").status_code == 404
    assert api.call("GET", A + "@registry/999/1/MLmodel").status_code == 404


def test_grants_from_the_cli_reach_a_running_server(srv: ServerProcess, admin: Api) -> None:
    w = make_world(admin)
    api = as_user(srv, "u_none")
    assert api.call("POST", M + "runs/create", json={"experiment_id": w["exp"]}).status_code == 403
    made = cli(srv.store, "users", "grant", "u_none", "--experiment", w["exp"], "--permission", "edit")
    assert made.returncode == 0, made.stderr
    deadline = time.monotonic() + 30
    while api.call("POST", M + "runs/create", json={"experiment_id": w["exp"]}).status_code == 403:
        assert time.monotonic() < deadline, "the server never saw the CLI's grant"
        time.sleep(0.2)


# -- the real MLflow client ----------------------------------------------------------------------------


def test_mlflow_client_with_basic_auth(srv: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "u_creator")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password_of("u_creator"))
    mlflow.set_tracking_uri(srv.url)
    mlflow.set_registry_uri(srv.url)  # an earlier test may have left another registry set
    try:
        exp = mlflow.create_experiment(unique("mlflow-client"))
        with mlflow.start_run(experiment_id=exp) as run:
            mlflow.log_param("alpha", 0.5)
            mlflow.log_metric("loss", 0.25, step=1)
            mlflow.log_text("hello", "notes/hello.txt")
        client = MlflowClient()
        assert client.get_run(run.info.run_id).data.params == {"alpha": "0.5"}
        assert client.download_artifacts(run.info.run_id, "notes/hello.txt")
        name = unique("mlflow-model")
        client.create_registered_model(name)
        client.set_registered_model_tag(name, "team", "a")
        assert client.get_registered_model(name).tags == {"team": "a"}

        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "u_none")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password_of("u_none"))
        client.get_experiment(exp)  # the default permission (READ) applies: no grant
        with pytest.raises(MlflowException, match=r"PERMISSION_DENIED|403|Permission denied"):
            client.delete_experiment(exp)
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "wrong")
        with pytest.raises(MlflowException):
            client.get_experiment(exp)
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
        mlflow.set_registry_uri(None)  # type: ignore[arg-type]


# -- in-process checks: the default permission, hashing ----------------------------------------------


def test_default_permission_is_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = str(tmp_path / "s.duckdb")
    users = UserStore(store)
    users.create_user("carol", "pw")
    get_exp = next(ep for ep in ENDPOINTS if ep.path == "experiments/get")
    BasicAuth(store).authorize("carol", get_exp, {"experiment_id": "0"})  # READ by default
    monkeypatch.setenv("TRACKLITE_AUTH_DEFAULT_PERMISSION", "NO_PERMISSIONS")
    closed = BasicAuth(store)
    with pytest.raises(PermissionDenied):
        closed.authorize("carol", get_exp, {"experiment_id": "0"})
    users.grant("experiment", "0", "carol", "READ")
    closed.authorize("carol", get_exp, {"experiment_id": "0"})
    monkeypatch.setenv("TRACKLITE_AUTH_DEFAULT_PERMISSION", "SOMETIMES")
    with pytest.raises(ValueError, match="Invalid permission"):
        BasicAuth(store)


def test_passwords_are_salted_scrypt(tmp_path: Path) -> None:
    first, second = hash_password("secret"), hash_password("secret")
    assert first != second and first.startswith("scrypt$")
    assert verify_password("secret", first) and not verify_password("Secret", first)
    assert not verify_password("secret", "garbage")
    users = UserStore(str(tmp_path / "s.duckdb"))
    users.create_user("dave", "secret")
    with users._read() as con:
        stored = con.execute("SELECT password_hash FROM users").fetchone()[0]
    assert "secret" not in stored and verify_password("secret", stored)


# -- the CLI --------------------------------------------------------------------------------------------


def test_cli_users(tmp_path: Path) -> None:
    store = str(tmp_path / "s.duckdb")
    runner = CliRunner()

    def run(*args: str, stdin: str | None = None) -> Any:
        return runner.invoke(cli_main, [*args, "--store", store], input=stdin)

    made = run("users", "create", "root", "--admin", stdin="pw\npw\n")
    assert made.exit_code == 0, made.output
    assert UserStore(store).authenticate("root", "pw")
    mismatch = run("users", "create", "eve", stdin="a\nb\na\na\n")
    assert "match" in mismatch.output.lower() and UserStore(store).authenticate("eve", "a")
    assert run("users", "create", "eve", "--password-stdin", stdin="x\n").exit_code != 0
    assert run("users", "grant", "eve", "--experiment", "0", "--permission", "manage").exit_code == 0
    assert run("users", "grant", "eve", "--experiment", "0", "--model", "m", "--permission", "READ").exit_code != 0
    missing = run("users", "grant", "eve", "--model", "nope", "--permission", "READ")
    assert missing.exit_code != 0 and "not found" in missing.output
    listed = run("users", "list")
    assert "root" in listed.output and "experiment 0: MANAGE" in listed.output
    assert run("users", "set-password", "eve", "--password-stdin", stdin="new\n").exit_code == 0
    assert UserStore(store).authenticate("eve", "new")
    last_admin = run("users", "delete", "root", "--yes")
    assert last_admin.exit_code != 0 and "only admin" in last_admin.output
    assert run("users", "delete", "eve", "--yes").exit_code == 0
    assert [u.username for u in UserStore(store).list_users()] == ["root"]
    assert UserStore(store).grants_of("eve") == {"experiment": [], "registered_model": []}


def test_a_version_copies_only_what_its_creator_may_read(srv: ServerProcess, world: dict[str, Any]) -> None:
    """A user who may not read an experiment or a model cannot copy it into a model of their own."""
    w = world
    sources = [
        {"source": f"runs:/{w['run']}/model"},
        {"source": f"models:/{w['lm']}"},
        {"source": f"models:/{w['model']}/1"},
        {"source": f"models:/{w['model']}/latest"},
        {"source": f"models:/{w['model']}@champ"},
        {"source": f"mlflow-artifacts:/{w['art']}"},
        {"source": f"mlflow-artifacts:/{w['mv_art']}"},
        {"source": "runs:/0/x", "run_id": w["run"]},
        {"source": "models:/m-unknown", "model_id": w["lm"]},
    ]
    for user, allowed in (("u_none", False), ("u_read", True)):
        api = as_user(srv, user)
        mine = unique(f"mine-{user}")
        api.ok("POST", M + "registered-models/create", json={"name": mine})  # MANAGE on their own model
        for extra in sources:
            got = api.call("POST", M + "model-versions/create", json={"name": mine, **extra})
            if allowed:
                assert got.status_code != 403, (user, extra, got.text)
            else:
                assert got.status_code == 403, (user, extra, got.status_code, got.text)
                assert "READ" in got.json()["message"]
        versions = api.ok("GET", M + "model-versions/search", params={"filter": f"name = '{mine}'"})
        if not allowed:
            assert versions.get("model_versions", []) == []


def test_a_run_is_checked_on_the_experiment_it_lands_in_and_belongs_to_its_creator(
    srv: ServerProcess, admin: Api
) -> None:
    """Without ``experiment_id`` a run lands in experiment 0, so it needs EDIT there; its
    ``mlflow.user`` is the signed-in user, not what the request claims."""
    admin.ok("POST", "/api/2.0/mlflow/users/create", json={"username": "u_no0", "password": password_of("u_no0")})
    admin.ok(
        "POST",
        "/api/2.0/mlflow/experiments/permissions/create",
        json={"experiment_id": "0", "username": "u_no0", "permission": "NO_PERMISSIONS"},
    )
    user = as_user(srv, "u_no0")
    for body in ({}, {"experiment_id": ""}, {"run_name": "sneaky"}):
        assert user.call("POST", "/api/2.0/mlflow/runs/create", json=body).status_code == 403
    exp = admin.ok("POST", "/api/2.0/mlflow/experiments/create", json={"name": unique("own")})["experiment_id"]
    admin.ok(
        "POST",
        "/api/2.0/mlflow/experiments/permissions/create",
        json={"experiment_id": exp, "username": "u_no0", "permission": "EDIT"},
    )
    forged = {"experiment_id": exp, "user_id": "alice", "tags": [{"key": "mlflow.user", "value": "alice"}]}
    run = user.ok("POST", "/api/2.0/mlflow/runs/create", json=forged)["run"]
    assert run["info"]["user_id"] == "u_no0"
    assert {"key": "mlflow.user", "value": "u_no0"} in run["data"]["tags"]


def test_server_auth_needs_an_admin(tmp_path: Path) -> None:
    done = cli(str(tmp_path / "s.duckdb"), "server", "--auth", "--port", "0")
    assert done.returncode != 0
    assert "tracklite users create NAME --admin" in done.stderr


def test_docstring_examples() -> None:
    import doctest

    import tracklite.server.auth

    result = doctest.testmod(tracklite.server.auth, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_grants_do_not_outlive_a_purged_experiment(tmp_path: Path) -> None:
    """``gc`` purges an experiment's grants with it, so an experiment that later receives the
    same id (ids are the highest + 1) inherits nobody's permission on the old one; nor is an
    experiment purged while a logged model still names it."""
    import tracklite

    store = str(tmp_path / "s.duckdb")
    client = tracklite.Client(store)
    users = UserStore(store)
    users.create_user("admin", "admin-pw-1234", is_admin=True)
    users.create_user("mallory", "mallory-pw-12")
    old = client.create_experiment("secret-soon-gone")
    users.grant("experiment", old, "mallory", "MANAGE")
    client.delete_experiment(old)
    assert client.store.gc()["experiments"] == 1  # type: ignore[attr-defined]
    assert users.grants_of("mallory")["experiment"] == []
    new = client.create_experiment("someone-elses")
    assert new == old  # the id is given out again...
    assert BasicAuth(store).permission("mallory", "experiment", new).name == "READ"  # ...with only the default

    kept = client.create_experiment("has-a-model")
    client.store.create_logged_model(kept, "lm")  # type: ignore[attr-defined]
    client.delete_experiment(kept)
    assert client.store.gc()["experiments"] == 0  # type: ignore[attr-defined]
    assert client.get_experiment(kept).lifecycle_stage == "deleted"


# -- sign-in throttling (server/login_guard.py) -------------------------------------------


def test_wrong_guesses_back_off_per_user_and_per_address() -> None:
    from tracklite.errors import TooManyAttempts
    from tracklite.server import login_guard

    now = [1000.0]
    guard = login_guard.LoginGuard(clock=lambda: now[0])
    free = login_guard.FREE_FAILURES_PER_CLIENT
    for _ in range(free):
        assert guard.check("alice", "10.0.0.1", lambda: False) is False
    assert guard.check("alice", "10.0.0.1", lambda: False) is False  # the first paid failure: 1 s wait
    with pytest.raises(TooManyAttempts, match=re.escape("address 10.0.0.1")):
        guard.check("alice", "10.0.0.1", lambda: True)  # even the right password waits, unchecked
    now[0] += 1.5
    assert guard.check("alice", "10.0.0.1", lambda: False) is False  # wait doubles: 2 s
    with pytest.raises(TooManyAttempts):
        guard.check("bob", "10.0.0.1", lambda: True)  # the address waits, whoever it names
    assert guard.check("alice", "10.0.0.2", lambda: True) is True  # alice elsewhere, under her allowance
    now[0] += 3
    assert guard.check("bob", "10.0.0.1", lambda: True) is True  # a success clears the address
    # Guesses at one name from many addresses: the name's allowance (twice an address's) ends too.
    for i in range(2 * free + 1):
        guard.check("carol", f"10.1.0.{i}", lambda: False)
    with pytest.raises(TooManyAttempts, match="user 'carol'"):
        guard.check("carol", "10.2.0.1", lambda: True)
    now[0] += login_guard.WINDOW_S + login_guard.MAX_WAIT_S
    assert guard.check("carol", "10.2.0.1", lambda: True) is True


def test_password_checks_run_at_most_a_few_at_once() -> None:
    import threading

    from tracklite.server import login_guard

    guard = login_guard.LoginGuard()
    running, peak, lock = [0], [0], threading.Lock()

    def slow_check() -> bool:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return False

    threads = [threading.Thread(target=guard.check, args=(f"u{i}", f"10.0.0.{i}", slow_check)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == login_guard.MAX_CONCURRENT_CHECKS


def test_an_unknown_user_costs_a_password_check_like_a_known_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same scrypt work whether the name exists or not, so timing does not tell."""
    import base64

    from starlette.requests import Request
    from tracklite.errors import Unauthenticated
    from tracklite.server import auth

    store = str(tmp_path / "s.duckdb")
    UserStore(store).create_user("root", "root-pw-12345", is_admin=True)
    checks: list[str] = []
    real = auth.verify_password
    monkeypatch.setattr(auth, "verify_password", lambda pw, stored: checks.append(stored) or real(pw, stored))
    basic = BasicAuth(store)
    for name in ("root", "nobody"):
        credentials = base64.b64encode(f"{name}:wrong-password".encode()).decode()
        headers = [(b"authorization", f"Basic {credentials}".encode())]
        scope = {"type": "http", "headers": headers, "client": ("10.9.9.9", 1)}
        with pytest.raises(Unauthenticated, match="Invalid username or password"):
            basic.authenticate(Request(scope))
    assert len(checks) == 2 and checks[1] == auth._dummy_hash() and checks[0].startswith("scrypt$")


def test_a_flood_of_wrong_guesses_is_refused_without_hashing(tmp_path: Path) -> None:
    """Over HTTP: past the allowance the server answers 429 at once; a user whose credentials
    were checked before the flood keeps working (its own server: the flood blocks 127.0.0.1)."""
    store = str(tmp_path / "s.duckdb")
    UserStore(store).create_user("root", "root-pw-12345", is_admin=True)
    UserStore(store).create_user("victim", "victim-pw-123")
    server = start_server(store, extra=["--auth"])
    try:
        url = server.url + "/api/2.0/mlflow/experiments/search"
        assert requests.get(url, auth=("root", "root-pw-12345"), timeout=30).status_code == 200
        statuses = [requests.get(url, auth=("victim", "wrong"), timeout=30).status_code for _ in range(40)]
        assert statuses[:5] == [401] * 5 and statuses[-1] == 429
        refused = requests.get(url, auth=("victim", "victim-pw-123"), timeout=30)
        assert refused.status_code == 429 and refused.json()["error_code"] == "RESOURCE_EXHAUSTED"
        assert requests.get(url, auth=("root", "root-pw-12345"), timeout=30).status_code == 200
    finally:
        server.stop()
