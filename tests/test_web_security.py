"""``server/web_security.py`` attacked as a browser would be: uploaded pages, forged forms,
framing, against a real ``tracklite server --auth`` and Debian's Chromium."""

from __future__ import annotations

import http.server
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from server_fixtures import ServerProcess, free_port, start_populated_server

ADMIN = ("alice", "alice-pw-1234")
MALLORY = ("mallory", "mallory-pw-123")

POPULATE = r"""
import json, sys
import tracklite
from tracklite.server.auth import UserStore

uri = sys.argv[1]
c = tracklite.Client(uri)
exp = c.create_experiment("shared")
run = c.create_run(exp, run_name="r").info.run_id
users = UserStore(uri)
users.create_user("alice", "alice-pw-1234", is_admin=True)
users.create_user("mallory", "mallory-pw-123")
users.grant("experiment", exp, "mallory", "EDIT")
print(json.dumps({"experiment_id": exp, "run_id": run}))
"""

# What an attacker's uploaded page does when an admin opens it: make itself admin.
ESCALATE = """<html><body><script>
fetch("/api/2.0/mlflow/users/update-admin", {method: "PATCH", headers: {"Content-Type": "application/json"},
  body: JSON.stringify({username: "mallory", is_admin: true})}).then(() => { document.title = "sent"; });
document.title = "ran";
</script></body></html>"""
ESCALATE_SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>
fetch("/api/2.0/mlflow/users/update-admin", {method: "PATCH", headers: {"Content-Type": "application/json"},
  body: JSON.stringify({username: "mallory", is_admin: true})});
</script><rect width="10" height="10" fill="red"/></svg>"""


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, dict[str, Any]]]:
    server, ids = start_populated_server(tmp_path_factory.mktemp("web-security"), POPULATE, extra=["--auth"])
    try:
        yield server, ids
    finally:
        server.stop()


@pytest.fixture
def evil_site() -> Iterator[tuple[str, dict[str, str]]]:
    """Another site on 127.0.0.1 (another port: another origin, the same site), serving pages."""
    pages: dict[str, str] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path, "").encode()
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    port = free_port()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}", pages
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def _is_admin(server: ServerProcess, user: str) -> bool:
    got = requests.get(f"{server.url}/api/2.0/mlflow/users/get", params={"username": user}, auth=ADMIN, timeout=10)
    got.raise_for_status()
    return bool(got.json()["user"]["is_admin"])


def _upload(server: ServerProcess, ids: dict[str, Any], name: str, body: str, who: tuple[str, str] = MALLORY) -> str:
    path = f"{ids['experiment_id']}/{ids['run_id']}/artifacts/{name}"
    url = f"{server.url}/api/2.0/mlflow-artifacts/artifacts/{path}"
    requests.put(url, data=body.encode(), auth=who, timeout=10).raise_for_status()
    return url


def _admin_page(browser: Any, server: ServerProcess) -> Any:
    context = browser.new_context(http_credentials={"username": ADMIN[0], "password": ADMIN[1]})
    context.set_default_timeout(15_000)
    return context.new_page()


def test_an_uploaded_page_opened_by_an_admin_runs_nothing(
    browser: Any, secured: tuple[ServerProcess, dict[str, Any]]
) -> None:
    server, ids = secured
    for name, body in (("report.html", ESCALATE), ("chart.svg", ESCALATE_SVG), ("page.xhtml", ESCALATE)):
        url = _upload(server, ids, name, body)
        got = requests.get(url, auth=ADMIN, timeout=10)
        assert got.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in got.headers["content-security-policy"]
        assert got.headers["content-disposition"].startswith("attachment")
        page = _admin_page(browser, server)
        try:
            # Opened directly, it is a download; then framed and embedded by a page of the server's origin.
            page.goto(server.url + "/")
            with page.expect_download():
                page.evaluate("url => { const a = document.createElement('a'); a.href = url; a.click(); }", url)
        finally:
            page.context.close()
        page = _admin_page(browser, server)
        try:
            page.goto(server.url + "/")
            page.evaluate(
                "url => { for (const tag of ['iframe', 'object', 'embed']) { const e = document.createElement(tag);"
                " if (tag === 'object') e.data = url; else e.src = url; document.body.append(e); } }",
                url,
            )
            page.wait_for_timeout(1500)
        finally:
            page.context.close()
        assert not _is_admin(server, "mallory"), f"{name} made mallory an admin"


def test_an_uploaded_svg_still_shows_as_an_image(browser: Any, secured: tuple[ServerProcess, dict[str, Any]]) -> None:
    """The UI shows SVG artifacts through <img>, where its script cannot run."""
    server, ids = secured
    url = _upload(server, ids, "shown.svg", ESCALATE_SVG)
    page = _admin_page(browser, server)
    try:
        page.goto(server.url + "/")
        page.evaluate("url => { const i = document.createElement('img'); i.src = url; document.body.append(i); }", url)
        page.wait_for_function(
            "() => { const i = document.querySelector('body > img'); return i && i.naturalWidth === 10; }"
        )
    finally:
        page.context.close()
    assert not _is_admin(server, "mallory")


def test_previews_still_work_for_images_text_and_json(secured: tuple[ServerProcess, dict[str, Any]]) -> None:
    server, ids = secured
    for name, body, kind in (
        ("notes.txt", "hello", "text/plain"),
        ("data.csv", "a,b\n1,2\n", "text/plain"),
        ("config.json", '{"a": 1}', "application/json"),
    ):
        got = requests.get(_upload(server, ids, name, body), auth=ADMIN, timeout=10)
        assert got.headers["content-type"].startswith(kind) and "content-disposition" not in got.headers
        assert got.text == body
    download = requests.get(_upload(server, ids, "notes.txt", "x") + "?download=1", auth=ADMIN, timeout=10)
    assert download.headers["content-disposition"] == "attachment; filename=\"notes.txt\"; filename*=UTF-8''notes.txt"


def test_a_cross_site_form_changes_nothing(
    browser: Any, secured: tuple[ServerProcess, dict[str, Any]], evil_site: tuple[str, dict[str, str]]
) -> None:
    """A page on another origin submits forms (no preflight) and fetches with the admin's
    cached credentials: every one is refused and no user appears."""
    server, _ = secured
    origin, pages = evil_site
    target = f"{server.url}/api/2.0/mlflow/users/create"
    pages["/form"] = f"""<html><body>
    <form id="f" method="POST" action="{target}" enctype="text/plain">
      <input name='{{"username": "eve", "password": "eve-pw-12345", "x": "' value='"}}'>
    </form>
    <form id="g" method="POST" action="{target}"><input name="username" value="eve2"></form>
    <script>
      fetch("{target}", {{method: "POST", mode: "no-cors", credentials: "include",
        headers: {{"Content-Type": "text/plain"}},
        body: JSON.stringify({{username: "eve3", password: "eve-pw-12345"}})}});
      fetch("{target}", {{method: "POST", credentials: "include", headers: {{"Content-Type": "application/json"}},
        body: JSON.stringify({{username: "eve4", password: "eve-pw-12345"}})}}).catch(() => {{}});
      setTimeout(() => document.getElementById("f").submit(), 300);
    </script></body></html>"""
    pages["/form2"] = (
        "<html><body onload=\"document.getElementById('g').submit()\">" + pages["/form"].split("<body>", 1)[1]
    )
    for path in ("/form", "/form2"):
        page = _admin_page(browser, server)
        try:
            # The browser holds the admin's credentials for the server's origin.
            page.goto(server.url + "/")
            page.goto(origin + path)
            page.wait_for_timeout(1500)
        finally:
            page.context.close()
    for name in ("eve", "eve2", "eve3", "eve4"):
        got = requests.get(f"{server.url}/api/2.0/mlflow/users/get", params={"username": name}, auth=ADMIN, timeout=10)
        assert got.status_code == 404, f"{name} was created"


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Origin": "http://evil.example", "Content-Type": "application/json"}, 403),
        ({"Origin": "null", "Content-Type": "application/json"}, 403),
        ({"Sec-Fetch-Site": "cross-site", "Content-Type": "application/json"}, 403),
        ({"Sec-Fetch-Site": "same-site", "Content-Type": "application/json"}, 403),
        ({"Content-Type": "text/plain"}, 415),
        ({"Content-Type": "application/x-www-form-urlencoded"}, 415),
        ({"Content-Type": "multipart/form-data; boundary=x"}, 415),
        ({}, 415),
    ],
)
def test_state_changing_requests_from_elsewhere_are_refused(
    secured: tuple[ServerProcess, dict[str, Any]], headers: dict[str, str], status: int
) -> None:
    server, _ = secured
    body = '{"name": "forged"}'
    got = requests.post(
        f"{server.url}/api/2.0/mlflow/experiments/create", data=body, headers=headers, auth=ADMIN, timeout=10
    )
    assert got.status_code == status and got.json()["error_code"] in ("PERMISSION_DENIED", "INVALID_PARAMETER_VALUE")
    missing = requests.get(
        f"{server.url}/api/2.0/mlflow/experiments/get-by-name",
        params={"experiment_name": "forged"},
        auth=ADMIN,
        timeout=10,
    )
    assert missing.status_code == 404


def test_the_servers_own_pages_and_api_clients_still_change_things(
    secured: tuple[ServerProcess, dict[str, Any]],
) -> None:
    server, _ = secured
    own = {"Origin": server.url, "Sec-Fetch-Site": "same-origin", "Content-Type": "application/json; charset=utf-8"}
    made = requests.post(
        f"{server.url}/api/2.0/mlflow/experiments/create", data='{"name": "mine"}', headers=own, auth=ADMIN, timeout=10
    )
    assert made.status_code == 200, made.text
    # MLflow's own client: no Origin, no Sec-Fetch-Site, JSON.
    from mlflow import MlflowClient

    os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"] = ADMIN
    try:
        client = MlflowClient(server.url)
        exp = client.create_experiment("from-mlflow")
        client.delete_experiment(exp)
    finally:
        del os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"]


def test_every_response_carries_the_security_headers(secured: tuple[ServerProcess, dict[str, Any]]) -> None:
    server, _ = secured
    index = requests.get(server.url + "/", auth=ADMIN, timeout=10)
    policy = index.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe-eval" not in policy
    for url in (
        server.url + "/",
        server.url + "/static/app.js",
        server.url + "/api/2.0/mlflow/experiments/search?max_results=1",
    ):
        got = requests.get(url, auth=ADMIN, timeout=10)
        assert got.headers["x-content-type-options"] == "nosniff"
        assert got.headers["x-frame-options"] == "DENY"
        assert got.headers["referrer-policy"] == "same-origin"
        assert "frame-ancestors 'none'" in got.headers["content-security-policy"]


def test_the_ui_runs_under_its_policy(browser: Any, secured: tuple[ServerProcess, dict[str, Any]]) -> None:
    """No CSP violation while the UI lists, opens a run and charts it."""
    server, ids = secured
    requests.post(
        f"{server.url}/api/2.0/mlflow/runs/log-metric",
        json={"run_id": ids["run_id"], "key": "loss", "value": 0.5, "timestamp": 1, "step": 0},
        auth=ADMIN,
        timeout=10,
    ).raise_for_status()
    page = _admin_page(browser, server)
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(f"{server.url}/#/runs/{ids['run_id']}")
        page.wait_for_function(
            "() => { const el = document.querySelector(\".chart[data-key='loss']\");"
            " return !!el && !!el.graph && !!el.querySelector('canvas'); }"
        )
        page.goto(f"{server.url}/#/experiments")
        page.wait_for_selector("tr[data-experiment-id]")
    finally:
        page.context.close()
    assert violations == [] and errors == []
