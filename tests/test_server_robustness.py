"""Bad input against a real ``tracklite server``: the right 4xx with MLflow's error body, and
the server keeps serving (malformed JSON, wrong types, missing fields, oversized bodies, path
traversal in artifact paths, unknown endpoints and methods, huge limits, bad page tokens)."""

from __future__ import annotations

import http.client
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import tracklite
from server_fixtures import ServerProcess, start_server
from tracklite.server.app import MAX_JSON_BYTES

API = "/api/2.0/mlflow/"
ART = "/api/2.0/mlflow-artifacts/artifacts/"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the module (every test also checks it still answers)."""
    server = start_server(tmp_path_factory.mktemp("robust") / "s.duckdb")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def run(live: ServerProcess) -> dict[str, str]:
    """An experiment and an active run on the live server."""
    exp = post(live, "experiments/create", {"name": "robust"}).json()["experiment_id"]
    info = post(live, "runs/create", {"experiment_id": exp}).json()["run"]["info"]
    return {"experiment_id": exp, "run_id": info["run_id"], "root": f"{exp}/{info['run_id']}/artifacts"}


def post(live: ServerProcess, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
    """POST ``body`` as JSON to an MLflow endpoint."""
    return requests.post(live.url + API + path, json=body, timeout=60, **kwargs)


def assert_error(response: requests.Response, status: int | tuple[int, ...], code: str | None = None) -> dict[str, Any]:
    """``response`` is an MLflow-shaped JSON error with ``status`` (and ``code``)."""
    statuses = (status,) if isinstance(status, int) else status
    assert response.status_code in statuses, f"expected {statuses}, got {response.status_code}: {response.text[:300]}"
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) >= {"error_code", "message"}, body
    assert isinstance(body["message"], str) and body["message"]
    if code is not None:
        assert body["error_code"] == code, body
    return body


def still_serving(live: ServerProcess) -> None:
    """The server answers /health and a normal request."""
    assert requests.get(live.url + "/health", timeout=30).text == "OK"
    assert post(live, "experiments/search", {"max_results": 5}).status_code == 200


def raw_request(live: ServerProcess, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    """Send ``path`` byte for byte (no client-side normalisation of ``..`` or ``%2e``)."""
    host, port = live.url.removeprefix("http://").split(":")
    con = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        con.putrequest(method, path, skip_accept_encoding=True)
        con.putheader("Content-Length", str(len(body)))
        con.endheaders(body)
        resp = con.getresponse()
        return resp.status, resp.read()
    finally:
        con.close()


# -- bodies ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"{", b"{'name': 'x'}", b"\xff\xfe\x00", b'{"name": "x"', b"nul\x00l", b'{"name": NaNx}'],
    ids=["open-brace", "single-quotes", "binary", "unterminated", "nul", "bad-literal"],
)
def test_malformed_json(live: ServerProcess, body: bytes) -> None:
    resp = requests.post(
        live.url + API + "experiments/create", data=body, headers={"Content-Type": "application/json"}, timeout=30
    )
    assert_error(resp, 400, "BAD_REQUEST")
    still_serving(live)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("runs/log-parameter", lambda run: {"run_id": run, "key": "p", "value": "x" * 6001}),
        ("runs/set-tag", lambda run: {"run_id": run, "key": "t", "value": "x" * 1_000_000}),
        ("runs/log-batch", lambda run: {"run_id": run, "params": [{"key": "q", "value": "x" * 6001}]}),
        ("runs/log-batch", lambda run: {"run_id": run, "tags": [{"key": "u", "value": "x" * 8001}]}),
    ],
    ids=["param", "tag-1MB", "batch-param", "batch-tag"],
)
def test_over_long_values_are_refused_not_truncated(
    live: ServerProcess, run: dict[str, str], path: str, body: Any
) -> None:
    """MLflow's server answers 400; truncating with a warning is what the clients do."""
    assert_error(post(live, path, body(run["run_id"])), 400, "INVALID_PARAMETER_VALUE")
    got = requests.get(live.url + API + "runs/get", params={"run_id": run["run_id"]}, timeout=30).json()["run"]
    assert not [p for p in got["data"].get("params", []) if p["key"] in ("p", "q")]
    assert not [t for t in got["data"].get("tags", []) if t["key"] in ("t", "u")]


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


_DEEP_FILTER = "(" * 5_000 + "params.k = 'x'" + ")" * 5_000
_HUGE_TOKEN = _b64(b'{"offset": 10000000000000000000000}')


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("experiments/create", '{"name": "a\\ud800b"}'),
        ("runs/log-parameter", '{"run_id": "RUN", "key": "k", "value": "\\udc00"}'),
        ("runs/set-tag", '{"run_id": "RUN", "key": "t", "value": "x\\uDFFF"}'),
        ("runs/search", '{"experiment_ids": ["EXP"], "filter": "params.k = \'\\ud800\'"}'),
        ("runs/search", "[" * 100_000 + "]" * 100_000),
        ("runs/search", '{"a": ' * 50_000 + "1" + "}" * 50_000),
        ("runs/search", '{"experiment_ids": ["EXP"], "filter": "' + _DEEP_FILTER + '"}'),
        ("runs/search", '{"experiment_ids": ["EXP"], "filter": "' + " OR ".join(["params.k = 'x'"] * 5_000) + '"}'),
        ("runs/search", '{"experiment_ids": ["EXP"], "page_token": "' + _b64(b'{"offset": 1e30}') + '"}'),
        ("runs/search", '{"experiment_ids": ["EXP"], "page_token": "' + _HUGE_TOKEN + '"}'),
        ("experiments/search", '{"page_token": "' + _HUGE_TOKEN + '"}'),
    ],
    ids=[
        "surrogate-name",
        "surrogate-param",
        "surrogate-tag",
        "surrogate-filter",
        "deep-array",
        "deep-object",
        "deep-parens",
        "many-ors",
        "huge-float-token",
        "huge-token",
        "huge-token-experiments",
    ],
)
def test_hostile_input_is_a_4xx_not_a_5xx(live: ServerProcess, run: dict[str, str], path: str, raw: str) -> None:
    body = raw.replace("RUN", run["run_id"]).replace("EXP", run["experiment_id"])
    resp = requests.post(live.url + API + path, data=body, headers={"Content-Type": "application/json"}, timeout=60)
    assert_error(resp, 400, "INVALID_PARAMETER_VALUE")
    still_serving(live)


def test_hostile_input_through_the_python_api_is_invalid_parameter_value(tmp_path: Path) -> None:
    """Lone surrogates, over-deep filters: ``InvalidParameterValue``, and nothing stored."""
    client = tracklite.Client(str(tmp_path / "s.duckdb"))
    exp = client.create_experiment("e")
    rid = client.create_run(exp).info.run_id
    calls = [
        lambda: client.create_experiment("a\ud800"),
        lambda: client.log_param(rid, "k", "\udc00"),
        lambda: client.set_tag(rid, "t", "\ud800"),
        lambda: client.set_experiment_tag(exp, "t", "\ud800"),
        lambda: client.search_runs([exp], "params.k = '\ud800'"),
        lambda: client.search_runs([exp], "(" * 3_000 + "params.k = 'x'" + ")" * 3_000),
        lambda: client.search_runs([exp], " OR ".join(["params.k = 'x'"] * 600)),
    ]
    for call in calls:
        with pytest.raises(tracklite.InvalidParameterValue):
            call()
    run = client.get_run(rid)
    assert run.data.params == {} and "t" not in run.data.tags
    assert [e.name for e in client.search_experiments()] == ["e", "Default"]


@pytest.mark.parametrize("body", ["[1, 2]", '"a string"', "42", "null", "true"])
def test_json_that_is_not_an_object(live: ServerProcess, body: str) -> None:
    resp = requests.post(
        live.url + API + "runs/log-batch", data=body, headers={"Content-Type": "application/json"}, timeout=30
    )
    assert_error(resp, 400)
    still_serving(live)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("experiments/create", {"name": {"a": 1}}, "name"),  # STRING given an object
        ("experiments/create", {"name": ["x"]}, "name"),
        ("experiments/create", {"name": "ok-tags", "tags": "k=v"}, "tags"),  # KEY_VALUES given a string
        ("experiments/create", {"name": "ok-tags", "tags": [{"value": "v"}]}, "tags"),  # no key
        ("experiments/create", {"name": "ok-tags", "tags": [1, 2]}, "tags"),
        ("experiments/search", {"max_results": "ten"}, "max_results"),  # INTEGER
        ("experiments/search", {"max_results": 1.5}, "max_results"),
        ("experiments/search", {"max_results": True}, "max_results"),
        ("experiments/search", {"order_by": "name"}, "order_by"),  # STRINGS given a string
        ("experiments/search", {"order_by": [{"a": 1}]}, "order_by"),
        ("runs/log-metric", {"run_id": "RUN", "key": "m", "value": "high"}, "value"),  # NUMBER
        ("runs/log-metric", {"run_id": "RUN", "key": "m", "value": True}, "value"),
        ("runs/log-metric", {"run_id": "RUN", "key": "m", "value": 1.0, "step": "x"}, "step"),
        ("runs/log-batch", {"run_id": "RUN", "metrics": {"key": "m"}}, "metrics"),  # OBJECTS given an object
        ("runs/log-batch", {"run_id": "RUN", "metrics": [5]}, "metrics"),
        ("runs/log-batch", {"run_id": "RUN", "metrics": [{"key": "m", "value": "v"}]}, "metrics"),
        ("runs/log-batch", {"run_id": "RUN", "metrics": [{"key": "m", "value": 1, "step": []}]}, "metrics"),
        ("runs/log-batch", {"run_id": "RUN", "params": [{"key": "p", "value": {"x": 1}}]}, "params"),
        (
            "model-versions/transition-stage",
            {"name": "n", "version": "1", "stage": "Staging", "archive_existing_versions": "yes"},
            "archive_existing_versions",
        ),
    ],
)
def test_wrong_types(live: ServerProcess, run: dict[str, str], path: str, body: dict[str, Any], field: str) -> None:
    body = {k: (run["run_id"] if v == "RUN" else v) for k, v in body.items()}
    found = assert_error(post(live, path, body), 400, "INVALID_PARAMETER_VALUE")
    assert field in found["message"], found
    still_serving(live)


def test_wrong_types_in_query(live: ServerProcess, run: dict[str, str]) -> None:
    resp = requests.get(
        live.url + API + "metrics/get-history",
        params={"run_id": run["run_id"], "metric_key": "m", "max_results": "many"},
        timeout=30,
    )
    assert "max_results" in assert_error(resp, 400, "INVALID_PARAMETER_VALUE")["message"]
    resp = requests.get(live.url + API + "registered-models/search", params={"max_results": "1e9x"}, timeout=30)
    assert_error(resp, 400, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "experiments/create", {}),
        ("POST", "experiments/create", {"name": ""}),
        ("GET", "experiments/get", None),
        ("POST", "runs/log-metric", {"run_id": "x", "value": 1.0}),
        ("POST", "runs/log-batch", {"metrics": []}),
        ("POST", "runs/delete", {}),
        ("GET", "runs/get", None),
        ("GET", "metrics/get-history", None),
        ("POST", "registered-models/create", {}),
        ("POST", "model-versions/create", {"name": "x"}),
        ("GET", "registered-models/get", None),
    ],
)
def test_missing_required_fields(live: ServerProcess, method: str, path: str, body: Any) -> None:
    resp = requests.request(method, live.url + API + path, json=body, timeout=30)
    assert_error(resp, 400, "INVALID_PARAMETER_VALUE")
    still_serving(live)


def test_oversized_body(live: ServerProcess, run: dict[str, str]) -> None:
    big = b'{"run_id": "' + run["run_id"].encode() + b'", "tags": [{"key": "k", "value": "' + b"x" * MAX_JSON_BYTES
    big += b'"}]}'
    resp = requests.post(
        live.url + API + "runs/log-batch", data=big, headers={"Content-Type": "application/json"}, timeout=120
    )
    assert "limit" in assert_error(resp, 413)["message"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the server counts while it reads
        yield b'{"run_id": "' + run["run_id"].encode() + b'", "tags": [{"key": "k", "value": "'
        for _ in range(MAX_JSON_BYTES // (1 << 20) + 2):
            yield b"y" * (1 << 20)
        yield b'"}]}'

    resp = requests.post(
        live.url + API + "runs/log-batch", data=chunks(), headers={"Content-Type": "application/json"}, timeout=120
    )
    assert_error(resp, 413)
    tags = requests.get(live.url + API + "runs/get", params={"run_id": run["run_id"]}, timeout=30).json()
    assert "k" not in {t["key"] for t in tags["run"]["data"].get("tags", [])}
    still_serving(live)


# -- artifact paths ----------------------------------------------------------------------


def _files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


TRAVERSALS = [
    "../escape.txt",
    "sub/../../escape.txt",
    "%2e%2e/escape.txt",
    "%2E%2E%2Fescape.txt",
    "sub/%2e%2e/%2e%2e/escape.txt",
    "..%5cescape.txt",
    "sub%5c..%5c..%5cescape.txt",
    "%00escape.txt",
    "a%00b.txt",
]


@pytest.mark.parametrize("suffix", TRAVERSALS)
def test_path_traversal_in_run_artifacts(live: ServerProcess, run: dict[str, str], suffix: str) -> None:
    folder = Path(live.store).parent
    before = _files_under(folder.parent)
    for method in ("PUT", "GET", "DELETE"):
        status, body = raw_request(live, method, ART + run["root"] + "/" + suffix, b"owned")
        assert status in (400, 404), (method, suffix, status, body)
        assert b"error_code" in body
    listed = requests.get(live.url + ART[:-1], params={"path": run["root"] + "/" + suffix}, timeout=30)
    assert listed.status_code in (200, 400, 404)
    if listed.status_code == 200:
        assert listed.json().get("files", []) == []
    assert _files_under(folder.parent) - before <= {p for p in folder.iterdir() if p.name.startswith("s.duckdb")}
    assert "escape" not in repr(requests.get(live.url + ART[:-1], params={"path": run["root"]}, timeout=30).json())
    still_serving(live)


@pytest.mark.parametrize(
    "path",
    [
        "/etc/passwd",
        "//etc/passwd",
        "%2Fetc%2Fpasswd",
        "../../../../../etc/passwd",
        "%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "C:%5cWindows%5cwin.ini",
        "0/../../etc/passwd",
    ],
)
def test_path_traversal_outside_any_root(live: ServerProcess, path: str) -> None:
    for method in ("PUT", "GET", "DELETE"):
        status, body = raw_request(live, method, ART + path, b"owned")
        assert status in (400, 404), (method, path, status, body)
        assert b"root:" not in body and b"error_code" in body
    status, body = raw_request(live, "GET", ART[:-1] + "?path=" + path)
    assert status in (200, 400, 404), body
    if status == 200:
        assert b"root:" not in body and b'"files"' not in body


def test_artifacts_still_work(live: ServerProcess, run: dict[str, str]) -> None:
    url = live.url + ART + run["root"] + "/dir/ok.txt"
    assert requests.put(url, data=b"fine", timeout=30).status_code == 200
    assert requests.get(url, timeout=30).content == b"fine"
    listed = requests.get(live.url + ART[:-1], params={"path": run["root"] + "/dir"}, timeout=30).json()
    assert listed == {"files": [{"path": "ok.txt", "is_dir": False, "file_size": 4}]}
    assert requests.delete(url, timeout=30).status_code == 200
    assert_error(requests.get(url, timeout=30), 404, "RESOURCE_DOES_NOT_EXIST")


# -- routing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/api/2.0/mlflow/nope", "/api/2.0/mlflow/runs/get/extra", "/api/9.9/mlflow/runs/get", "/api/2.0/tracklite/x"],
)
def test_unknown_endpoint(live: ServerProcess, path: str) -> None:
    for method in ("GET", "POST"):
        assert_error(requests.request(method, live.url + path, json={}, timeout=30), 404, "ENDPOINT_NOT_FOUND")


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "runs/log-batch"), ("DELETE", "experiments/create"), ("PUT", "runs/search"), ("POST", "runs/get")],
)
def test_wrong_method(live: ServerProcess, method: str, path: str) -> None:
    assert_error(requests.request(method, live.url + API + path, timeout=30), 405)


# -- limits and tokens ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("POST", "runs/search", "max_results"),
        ("POST", "experiments/search", "max_results"),
        ("GET", "registered-models/search", "max_results"),
        ("GET", "model-versions/search", "max_results"),
        ("POST", "logged-models/search", "max_results"),
    ],
)
@pytest.mark.parametrize("value", [10**12, 2**63, -1, 0])
def test_huge_or_negative_max_results(live: ServerProcess, method: str, path: str, field: str, value: int) -> None:
    if method == "GET":
        resp = requests.get(live.url + API + path, params={field: value}, timeout=30)
    else:
        resp = requests.post(live.url + API + path, json={field: value}, timeout=30)
    assert_error(resp, 400, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize("token", ["garbage", "e30=", "eyJvZmZzZXQiOiAtNX0=", "eyJvZmZzZXQiOiAieCJ9", "%%%", "ü"])
def test_bad_page_tokens(live: ServerProcess, run: dict[str, str], token: str) -> None:
    resp = post(live, "runs/search", {"experiment_ids": [run["experiment_id"]], "page_token": token})
    assert_error(resp, 400, "INVALID_PARAMETER_VALUE")
    assert_error(post(live, "experiments/search", {"page_token": token}), 400, "INVALID_PARAMETER_VALUE")
    resp = requests.get(live.url + API + "registered-models/search", params={"page_token": token}, timeout=30)
    assert_error(resp, 400, "INVALID_PARAMETER_VALUE")


def test_unicode_keys(live: ServerProcess, run: dict[str, str]) -> None:
    keys = ["ñame", "métrica/ü", "日本語", "emoji 🎉"]
    body = {
        "run_id": run["run_id"],
        "metrics": [{"key": k, "value": 1.0, "timestamp": 1, "step": 0} for k in keys[:2]],
        "params": [{"key": k, "value": "v"} for k in keys],
        "tags": [{"key": "t-" + k, "value": "ü"} for k in keys],
    }
    resp = post(live, "runs/log-batch", body)
    if resp.status_code == 200:
        got = requests.get(live.url + API + "runs/get", params={"run_id": run["run_id"]}, timeout=30).json()
        assert {p["key"] for p in got["run"]["data"]["params"]} >= set(keys)
    else:  # a key MLflow's validation refuses is a 400, never a crash
        assert_error(resp, 400, "INVALID_PARAMETER_VALUE")
    resp = requests.get(
        live.url + API + "metrics/get-history", params={"run_id": run["run_id"], "metric_key": "ñame"}, timeout=30
    )
    assert resp.status_code == 200
    still_serving(live)


def test_deleted_run_refuses_logging(live: ServerProcess, run: dict[str, str]) -> None:
    info = post(live, "runs/create", {"experiment_id": run["experiment_id"]}).json()["run"]["info"]
    assert post(live, "runs/delete", {"run_id": info["run_id"]}).status_code == 200
    for path, body in [
        ("runs/log-metric", {"key": "m", "value": 1.0}),
        ("runs/log-parameter", {"key": "p", "value": "1"}),
        ("runs/set-tag", {"key": "t", "value": "1"}),
        ("runs/log-batch", {"metrics": [{"key": "m", "value": 1.0, "timestamp": 1, "step": 0}]}),
    ]:
        assert_error(post(live, path, {"run_id": info["run_id"], **body}), 400)
    url = live.url + ART + f"{run['experiment_id']}/{info['run_id']}/artifacts/x.txt"
    assert_error(requests.put(url, data=b"x", timeout=30), 400)


def test_unknown_resources(live: ServerProcess) -> None:
    assert_error(post(live, "runs/log-metric", {"run_id": "0" * 32, "key": "m", "value": 1}), 404)
    resp = requests.get(live.url + API + "experiments/get", params={"experiment_id": "999999"}, timeout=30)
    assert_error(resp, 404, "RESOURCE_DOES_NOT_EXIST")
    resp = requests.get(live.url + API + "experiments/get", params={"experiment_id": "not-a-number"}, timeout=30)
    assert_error(resp, (400, 404))


def test_server_keeps_serving_and_store_is_sound(live: ServerProcess, run: dict[str, str]) -> None:
    still_serving(live)
    resp = post(live, "runs/log-metric", {"run_id": run["run_id"], "key": "after", "value": 2.0, "step": 1})
    assert resp.status_code == 200
    history = requests.get(
        live.url + API + "metrics/get-history", params={"run_id": run["run_id"], "metric_key": "after"}, timeout=30
    ).json()
    assert [m["value"] for m in history["metrics"]] == [2.0]
    assert "Traceback" not in live.log_text(), live.log_text()[-4000:]
    assert os.path.exists(live.store)
    assert tracklite.__version__ == requests.get(live.url + "/version", timeout=30).text


@pytest.mark.parametrize("source", ["/etc", "file:///etc", "../../etc", "C:\\Windows", "http://example.com/model"])
def test_version_source_on_server_disk_is_refused(live: ServerProcess, source: str) -> None:
    post(live, "registered-models/create", {"name": "robust-model"})
    resp = post(live, "model-versions/create", {"name": "robust-model", "source": source})
    assert "source" in assert_error(resp, 400, "INVALID_PARAMETER_VALUE")["message"]
    found = requests.get(
        live.url + API + "model-versions/search", params={"filter": "name = 'robust-model'"}, timeout=30
    )
    assert found.json().get("model_versions", []) == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ('"value": 1e999', 200),  # an infinity, as MLflow stores it
        ('"value": NaN', 200),
        ('"value": 1, "step": Infinity', 400),
        ('"value": 1, "timestamp": NaN', 400),
        ('"value": 1, "step": 9223372036854775808', 400),
        ('"value": 1, "timestamp": -9223372036854775809', 400),
        ('"value": 1, "step": 1e300', 400),
    ],
)
def test_json_number_edges(live: ServerProcess, run: dict[str, str], body: str, status: int) -> None:
    raw = '{"run_id": "%s", "key": "edge", %s}' % (run["run_id"], body)  # noqa: UP031 - JSON text
    resp = requests.post(
        live.url + API + "runs/log-metric", data=raw, headers={"Content-Type": "application/json"}, timeout=30
    )
    if status == 200:
        assert resp.status_code == 200, resp.text
    else:
        assert_error(resp, status, "INVALID_PARAMETER_VALUE")
