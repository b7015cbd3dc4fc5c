"""The web UI against a real ``tracklite server --auth`` on 127.0.0.1, in headless Chromium.

The store is filled with tracklite's own API (in a subprocess, before the server owns the
file); the browser signs in with HTTP basic auth. Screenshots of every page go to
``$TRACKLITE_TEST_ARTIFACTS`` (default: a temporary folder, printed).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from server_fixtures import ServerProcess, start_populated_server

ADMIN = ("alice", "alice-pw-1234")
READER = ("bob", "bob-pw-12345")

POPULATE = r"""
import json, sys, math
import numpy as np
import tracklite
import tracklite.sklearn
from PIL import Image
from sklearn.linear_model import LogisticRegression
from tracklite.server.auth import UserStore

uri = sys.argv[1]
tracklite.set_tracking_uri(uri)
c = tracklite.Client(uri)
exp = c.create_experiment("ui-demo")
ids = []
for i, (lr, depth, opt) in enumerate([("0.1", 3, "sgd"), ("0.01", 5, "adam"), ("0.001", 3, "adam")]):
    rid = c.create_run(exp, run_name=f"run-{i}").info.run_id
    ids.append(rid)
    c.log_param(rid, "lr", lr)
    c.log_param(rid, "depth", depth)
    c.log_param(rid, "optimizer", opt)
    c.log_metric_series(rid, "loss", [1.0 / (1 + s * (i + 1)) for s in range(50)])
    c.log_metric_series(rid, "acc", [1 - 1.0 / (2 + s + i) for s in range(50)])
    c.set_tag(rid, "team", "vision")
    c.set_tag(rid, "mlflow.note.content", f"Run {i} description")
    c.set_terminated(rid)
n = 200_000
c.log_metric_series(ids[0], "big", np.sin(np.arange(n) / 1000.0) + np.arange(n) / n)
c.log_metric_series(ids[2], "gappy", [1.0, math.nan, math.inf, 2.0])
c.log_text(ids[0], "hello\nworld", "notes.txt")
c.log_dict(ids[0], {"a": 1, "b": [1, 2]}, "config.json")
c.log_image(ids[0], Image.new("RGB", (32, 24), (200, 30, 30)), "img/red.png")
with tracklite.start_run(run_id=ids[1]):
    X = np.random.default_rng(0).random((20, 3))
    y = (X[:, 0] > 0.5).astype(int)
    info = tracklite.sklearn.log_model(
        LogisticRegression().fit(X, y), name="model", registered_model_name="clf", input_example=X[:2]
    )
c.transition_model_version_stage("clf", "1", "Staging")
c.set_registered_model_alias("clf", "champion", "1")
many = c.create_experiment("many-runs")
for i in range(30):
    rid = c.create_run(many, run_name=f"m{i:02d}").info.run_id
    c.log_metric(rid, "score", float(i))
users = UserStore(uri)
users.create_user("alice", "alice-pw-1234", is_admin=True)
users.create_user("bob", "bob-pw-12345")
users.grant("experiment", many, "bob", "NO_PERMISSIONS")
print(json.dumps({"experiment_id": exp, "many": many, "runs": ids, "model_id": info.model_id}))
"""


@pytest.fixture(scope="module")
def artifacts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: ``$TRACKLITE_TEST_ARTIFACTS`` or a temporary folder."""
    configured = os.environ.get("TRACKLITE_TEST_ARTIFACTS")
    folder = Path(configured) if configured else tmp_path_factory.mktemp("ui-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nUI screenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, dict[str, Any]]]:
    """A ``tracklite server --auth`` on a populated store, and the ids of what it holds."""
    folder = tmp_path_factory.mktemp("ui-store")
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{folder}/mlflow.db")
    server, ids = start_populated_server(folder, POPULATE, extra=["--auth"], env=env)
    try:
        yield server, ids
    finally:
        server.stop()


def _page(browser: Any, server: ServerProcess, who: tuple[str, str] = ADMIN) -> Any:
    context = browser.new_context(
        base_url=server.url,
        http_credentials={"username": who[0], "password": who[1]},
        viewport={"width": 1400, "height": 1000},
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors
    return page


@pytest.fixture
def page(browser: Any, ui_server: tuple[ServerProcess, dict[str, Any]]) -> Iterator[Any]:
    """A signed-in (admin) browser page; fails the test on any uncaught page error."""
    pg = _page(browser, ui_server[0])
    yield pg
    errors = pg.errors
    pg.context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def _api(server: ServerProcess, method: str, path: str, who: tuple[str, str] | None = ADMIN, **kw: Any) -> Any:
    return requests.request(method, server.url + path, auth=who, timeout=30, **kw)


def _plot_traces(page: Any, key: str, count: int) -> None:
    """Wait until the chart of ``key`` draws ``count`` lines (its dygraphs instance is ``.graph``)."""
    page.wait_for_function(
        "([key, n]) => { const el = document.querySelector(`.chart[data-key='${key}']`);"
        " return !!el && !!el.graph && el.graph.numColumns() - 1 === n && !!el.querySelector('canvas'); }",
        arg=[key, count],
    )


def _points_drawn(page: Any, key: str, line: int = 1) -> int:
    """The points of one line of a chart: its non-null cells in the chart's table."""
    return int(
        page.evaluate(
            "([key, col]) => { const g = document.querySelector(`.chart[data-key='${key}']`).graph; let n = 0;"
            " for (let r = 0; r < g.numRows(); r++) if (g.getValue(r, col) !== null) n++; return n; }",
            [key, line],
        )
    )


# -- browser ------------------------------------------------------------------------------


def test_experiments_runs_filter_select_and_chart(
    page: Any, ui_server: tuple[ServerProcess, dict[str, Any]], artifacts_dir: Path
) -> None:
    from playwright.sync_api import expect

    server, ids = ui_server
    page.goto("/#/experiments")
    expect(page.locator("table.experiments tbody tr")).to_have_count(3)  # Default, ui-demo, many-runs
    expect(page.locator("#whoami")).to_have_text("signed in as alice")
    page.screenshot(path=str(artifacts_dir / "experiments.png"), full_page=True)

    page.get_by_role("link", name="ui-demo").click()
    rows = page.locator("table.runs tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator("table.runs th", has_text="optimizer")).to_be_visible()
    page.locator(".columns-btn").click()
    page.locator(".chooser-menu label", has_text="optimizer").locator("input").uncheck()
    expect(page.locator("table.runs th", has_text="optimizer")).to_have_count(0)
    page.locator(".chooser-menu label", has_text="optimizer").locator("input").check()
    expect(page.locator("table.runs th", has_text="optimizer")).to_have_count(1)
    page.locator("h1").click()  # closes the menu
    expect(page.locator(".chooser-menu")).to_be_hidden()

    page.fill(".run-filter", "params.optimizer = 'adam'")
    page.press(".run-filter", "Enter")
    expect(rows).to_have_count(2)
    page.fill(".run-filter", "metrics.loss <")
    page.press(".run-filter", "Enter")
    expect(page.locator(".filter-error .error")).to_contain_text("Invalid filter")
    page.get_by_role("button", name="Reset").click()
    expect(rows).to_have_count(3)
    expect(page.locator(".filter-error .error")).to_have_count(0)

    # Sort by a param column: lr ascending puts 0.001 (run-2) first.
    page.locator("table.runs th", has_text="lr").click()
    expect(rows.first).to_contain_text("run-2")

    # Select two runs, chart one metric across them.
    page.locator(f"tr[data-run-id='{ids['runs'][0]}'] .select-run").check()
    page.locator(f"tr[data-run-id='{ids['runs'][1]}'] .select-run").check()
    expect(page.locator(".sel-info")).to_have_text("2 runs selected")
    page.select_option(".chart-key", "loss")
    _plot_traces(page, "loss", 2)
    page.locator(".chart-log").check()
    page.wait_for_function("document.querySelector(\".chart[data-key='loss']\").graph.getOption('logscale') === true")
    page.locator(".chart-log").uncheck()
    page.screenshot(path=str(artifacts_dir / "runs.png"), full_page=True)

    # Smoothing draws each raw series faintly under its smoothed line.
    page.locator(".chart-smooth").fill("0.6")
    _plot_traces(page, "loss", 4)
    page.locator(".chart-smooth").fill("0")
    _plot_traces(page, "loss", 2)

    page.locator(".compare-btn").click()
    expect(page).to_have_url(f"{server.url}/#/compare?runs={ids['runs'][0]},{ids['runs'][1]}")


def test_runs_table_pages_with_tokens(page: Any, ui_server: tuple[ServerProcess, dict[str, Any]]) -> None:
    from playwright.sync_api import expect

    _, ids = ui_server
    page.goto(f"/#/experiments/{ids['many']}")
    rows = page.locator("table.runs tbody tr")
    page.select_option(".page-size", "25")
    expect(rows).to_have_count(25)
    score = page.locator("table.runs th", has_text="score")
    score.click()  # a new sort column sorts ascending first
    expect(rows.first).to_contain_text("m00")
    score.click()
    expect(score).to_contain_text("▼")
    expect(rows.first).to_contain_text("m29")
    page.locator(".select-all").check()  # the selection survives paging
    page.locator(".pager .next").click()
    expect(rows).to_have_count(5)
    expect(page.locator(".pager")).to_contain_text("Page 2 · runs 26\u201330")
    expect(rows.first).to_contain_text("m04")
    expect(page.locator(".pager .next")).to_be_disabled()
    rows.first.locator(".select-run").check()
    expect(page.locator(".sel-info")).to_have_text("26 runs selected")
    page.locator(".pager .prev").click()
    expect(rows).to_have_count(25)
    expect(rows.first).to_contain_text("m29")


def test_run_page_params_metrics_charts_artifacts(
    page: Any, ui_server: tuple[ServerProcess, dict[str, Any]], artifacts_dir: Path
) -> None:
    from playwright.sync_api import expect

    _, ids = ui_server
    page.goto(f"/#/runs/{ids['runs'][0]}")
    expect(page.locator("h1")).to_have_text("run-0")
    expect(page.locator(".run-params")).to_contain_text("optimizer")
    expect(page.locator(".run-params")).to_contain_text("sgd")
    expect(page.locator(".run-description")).to_have_text("Run 0 description")
    expect(page.locator("table.run-metrics tbody tr")).to_have_count(3)
    # One chart per metric; the 200,000-point series arrives downsampled.
    for key in ("acc", "big", "loss"):
        _plot_traces(page, key, 1)
    expect(page.locator(".chart-card[data-key='big'] .chart-note")).to_contain_text("200,000 points, 1,500 drawn")
    assert _points_drawn(page, "big") == 1500

    page.locator(".tree .node[data-path='notes.txt']").click()
    expect(page.locator(".preview pre")).to_have_text("hello\nworld")
    page.locator(".tree .node[data-path='config.json']").click()
    expect(page.locator(".preview pre")).to_contain_text('"b": [\n    1,')
    download = page.locator(".preview a.download")
    assert download.get_attribute("href").endswith("/config.json?download=1")
    page.locator(".tree .node[data-path='img']").click()
    page.locator(".tree .node[data-path='img/red.png']").click()
    page.wait_for_function(
        "() => { const i = document.querySelector('.preview img'); return i && i.naturalWidth === 32; }"
    )
    page.screenshot(path=str(artifacts_dir / "run.png"), full_page=True)


def test_run_page_model_signature_and_register(
    page: Any, ui_server: tuple[ServerProcess, dict[str, Any]], artifacts_dir: Path
) -> None:
    from playwright.sync_api import expect

    server, ids = ui_server
    page.goto(f"/#/runs/{ids['runs'][1]}")
    model = page.locator(f".logged-model[data-model-id='{ids['model_id']}']")
    expect(model.locator(".signature")).to_contain_text("tensor float64")
    expect(model).to_contain_text("clf v1")
    page.screenshot(path=str(artifacts_dir / "run-model.png"), full_page=True)

    model.locator(".register-name").fill("clf-from-ui")
    model.locator(".register-btn").click()
    expect(page).to_have_url(f"{server.url}/#/models/clf-from-ui")
    expect(page.locator("table.versions tbody tr")).to_have_count(1)
    got = _api(server, "GET", "/api/2.0/mlflow/model-versions/get", params={"name": "clf-from-ui", "version": "1"})
    assert got.status_code == 200, got.text
    mv = got.json()["model_version"]
    assert (mv["model_id"], mv["run_id"], mv["source"]) == (
        ids["model_id"],
        ids["runs"][1],
        f"models:/{ids['model_id']}",
    )


def test_compare_page(page: Any, ui_server: tuple[ServerProcess, dict[str, Any]], artifacts_dir: Path) -> None:
    from playwright.sync_api import expect

    _, ids = ui_server
    page.goto(f"/#/compare?runs={','.join(ids['runs'])}")
    params = page.locator("table.compare-params tbody tr")
    expect(params).to_have_count(3)
    expect(page.locator("table.compare-params tr.differs")).to_have_count(3)  # depth, lr, optimizer all differ
    _plot_traces(page, "loss", 3)
    _plot_traces(page, "acc", 3)
    _plot_traces(page, "big", 1)
    page.screenshot(path=str(artifacts_dir / "compare.png"), full_page=True)


def test_registry_transition_alias_description(
    page: Any, ui_server: tuple[ServerProcess, dict[str, Any]], artifacts_dir: Path
) -> None:
    from playwright.sync_api import expect

    server, _ = ui_server
    page.goto("/#/models")
    expect(page.locator("table.models tr[data-model='clf']")).to_contain_text("v1 · Staging")
    page.screenshot(path=str(artifacts_dir / "models.png"), full_page=True)

    page.locator("table.models a", has_text="clf").first.click()
    expect(page.locator("h1")).to_have_text("clf")
    expect(page.locator("table.versions tbody tr")).to_have_count(1)
    expect(page.locator(".aliases .alias[data-alias='champion']")).to_be_visible()
    expect(page.locator("table.history tr[data-action='transition_model_version_stage']")).to_have_count(1)

    page.locator("tr[data-version='1'] .stage-select").select_option("Production")
    expect(page.locator("tr[data-version='1'] .badge")).to_have_text("Production")
    got = _api(server, "GET", "/api/2.0/mlflow/model-versions/get", params={"name": "clf", "version": "1"})
    assert got.json()["model_version"]["current_stage"] == "Production"
    events = _api(server, "GET", "/api/2.0/tracklite/registered-models/history", params={"name": "clf"}).json()[
        "events"
    ]
    last = events[-1]
    assert (last["action"], last["old_value"], last["new_value"], last["user_id"]) == (
        "transition_model_version_stage",
        "Staging",
        "Production",
        "alice",
    )
    expect(page.locator("table.history tbody tr").first).to_contain_text("alice")

    page.fill(".alias-name", "ui-alias")
    page.locator(".set-alias").click()
    expect(page.locator(".aliases .alias[data-alias='ui-alias']")).to_be_visible()
    aliases = _api(server, "GET", "/api/2.0/mlflow/registered-models/get", params={"name": "clf"}).json()
    assert {"alias": "ui-alias", "version": "1"} in aliases["registered_model"]["aliases"]

    page.locator(".edit-model-desc").click()
    page.fill("textarea", "Classifies things.")
    page.locator(".save-model-desc").click()
    expect(page.locator(".model-description")).to_have_text("Classifies things.")
    rm = _api(server, "GET", "/api/2.0/mlflow/registered-models/get", params={"name": "clf"}).json()
    assert rm["registered_model"]["description"] == "Classifies things."
    page.screenshot(path=str(artifacts_dir / "model.png"), full_page=True)


def test_sql_page_rows_and_refused_write(
    page: Any, ui_server: tuple[ServerProcess, dict[str, Any]], artifacts_dir: Path
) -> None:
    from playwright.sync_api import expect

    page.goto("/#/sql")
    page.fill(
        ".sql-input", 'SELECT run_name, "params.lr" FROM runs_wide WHERE "params.lr" IS NOT NULL ORDER BY run_name'
    )
    page.locator(".sql-run").click()
    expect(page.locator("table.sql-table tbody tr")).to_have_count(3)
    expect(page.locator("table.sql-table tbody tr").first).to_contain_text("run-0")
    expect(page.locator(".sql-status")).to_contain_text("3 rows")
    page.screenshot(path=str(artifacts_dir / "sql.png"), full_page=True)

    page.fill(".sql-input", "DELETE FROM main.params")
    page.press(".sql-input", "Control+Enter")
    expect(page.locator(".sql-result .error")).to_contain_text("read-only")
    expect(page.locator(".sql-result .error")).to_contain_text("400")
    page.screenshot(path=str(artifacts_dir / "sql-refused.png"), full_page=True)


def test_permission_errors_are_shown(
    browser: Any, ui_server: tuple[ServerProcess, dict[str, Any]], artifacts_dir: Path
) -> None:
    from playwright.sync_api import expect

    server, _ = ui_server
    page = _page(browser, server, READER)
    try:
        page.goto("/#/models/clf")
        expect(page.locator("#whoami")).to_have_text("signed in as bob")
        before = page.locator("tr[data-version='1'] .badge").inner_text()
        page.locator("tr[data-version='1'] .stage-select").select_option("Archived")
        error = page.locator(".action-error .error")
        expect(error).to_contain_text("403 PERMISSION_DENIED")
        expect(error).to_contain_text("an admin can grant it")
        got = _api(server, "GET", "/api/2.0/mlflow/model-versions/get", params={"name": "clf", "version": "1"})
        assert got.json()["model_version"]["current_stage"] == before
        page.screenshot(path=str(artifacts_dir / "denied.png"), full_page=True)

        page.goto("/#/sql")
        page.locator(".sql-run").click()
        expect(page.locator(".sql-result .error")).to_contain_text("only admins")
        assert not page.errors
    finally:
        page.context.close()


def test_a_chart_library_that_fails_to_load_is_reported_in_each_chart(
    page: Any, ui_server: tuple[ServerProcess, dict[str, Any]], artifacts_dir: Path
) -> None:
    from playwright.sync_api import expect

    _, ids = ui_server
    page.route("**/static/vendor/dygraph.min.js", lambda route: route.fulfill(status=404, body="/* missing */"))
    page.goto(f"/#/runs/{ids['runs'][0]}")
    expect(page.locator(".chart-panel .chart .error").first).to_contain_text("did not load")  # in every chart
    expect(page.locator(".run-params")).to_contain_text("optimizer")  # the rest of the page still works


def test_gaps_and_hover_in_a_chart(page: Any, ui_server: tuple[ServerProcess, dict[str, Any]]) -> None:
    """NaN and infinite points are gaps; the legend names the run and shows the value under the mouse."""
    from playwright.sync_api import expect

    _, ids = ui_server
    page.goto(f"/#/runs/{ids['runs'][2]}")
    _plot_traces(page, "gappy", 1)
    cells = page.evaluate(
        "() => { const g = document.querySelector(\".chart[data-key='gappy']\").graph;"
        " return [...Array(g.numRows()).keys()].map((r) => String(g.getValue(r, 1))); }"
    )
    assert cells == ["1", "NaN", "NaN", "2"]
    legend = page.locator(".chart-card[data-key='gappy'] .chart-legend")
    expect(legend).to_contain_text("run-2")
    box = page.locator(".chart[data-key='gappy'] canvas").first.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] - 12, box["y"] + box["height"] / 2)
    expect(legend).to_contain_text("2")


# -- the UI's JSON endpoints ------------------------------------------------------------


def test_series_is_downsampled_on_the_server(ui_server: tuple[ServerProcess, dict[str, Any]]) -> None:
    server, ids = ui_server
    run = ids["runs"][0]
    got = _api(
        server, "GET", "/api/2.0/tracklite/metrics/series", params={"run_ids": run, "key": "big", "max_points": 500}
    )
    assert got.status_code == 200, got.text
    (series,) = got.json()["series"]
    assert series["points"] == 200_000
    assert 2 < len(series["x"]) <= 500 and len(series["x"]) == len(series["y"])
    assert series["x"][0] == 0 and series["x"][-1] == 199_999
    assert series["x"] == sorted(series["x"])

    # Several runs, a key one run lacks, time on the x axis.
    got = _api(
        server,
        "GET",
        "/api/2.0/tracklite/metrics/series",
        params={"run_ids": ids["runs"], "key": "loss", "x": "time"},
    )
    assert [(s["run_id"], s["points"], len(s["y"])) for s in got.json()["series"]] == [(r, 50, 50) for r in ids["runs"]]
    assert all(isinstance(t, int) and t > 1_600_000_000_000 for t in got.json()["series"][0]["x"])


def test_series_nan_and_infinity_are_null(ui_server: tuple[ServerProcess, dict[str, Any]]) -> None:
    server, ids = ui_server
    got = _api(server, "GET", "/api/2.0/tracklite/metrics/series", params={"run_ids": ids["runs"][2], "key": "gappy"})
    assert got.status_code == 200
    assert "NaN" not in got.text and "Infinity" not in got.text
    (series,) = got.json()["series"]
    assert series["x"] == [0, 1, 2, 3] and series["y"] == [1.0, None, None, 2.0]


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"max_points": 1}, "max_points"),
        ({"max_points": 10_001}, "max_points"),
        ({"x": "epoch"}, "'x'"),
    ],
)
def test_series_bad_requests(
    ui_server: tuple[ServerProcess, dict[str, Any]], params: dict[str, Any], fragment: str
) -> None:
    server, ids = ui_server
    got = _api(
        server, "GET", "/api/2.0/tracklite/metrics/series", params={"run_ids": ids["runs"][0], "key": "big", **params}
    )
    assert got.status_code == 400
    assert got.json()["error_code"] == "INVALID_PARAMETER_VALUE" and fragment in got.json()["message"]


def test_sql_endpoint(ui_server: tuple[ServerProcess, dict[str, Any]]) -> None:
    server, _ = ui_server
    url = "/api/2.0/tracklite/sql"
    got = _api(
        server,
        "POST",
        url,
        json={
            "query": "SELECT run_name, start_time FROM runs WHERE run_name LIKE 'run-%' ORDER BY run_name",
            "max_rows": 2,
        },
    )
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["columns"] == ["run_name", "start_time"] and body["types"] == ["string", "int64"]
    assert [r[0] for r in body["rows"]] == ["run-0", "run-1"] and body["truncated"] is True
    got = _api(server, "POST", url, json={"query": "SELECT 'nan'::DOUBLE AS x, NULL AS y"})
    assert got.json()["rows"] == [[None, None]]
    for write in ("DELETE FROM main.params", "DROP VIEW views.runs", "CREATE TABLE t AS SELECT 1", "ATTACH 'x.db'"):
        got = _api(server, "POST", url, json={"query": write})
        assert got.status_code == 400, (write, got.text)
        assert got.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    # Reads outside the store (the server's files, the users table's password hashes) are refused too.
    for outside, fragment in [
        ("SELECT * FROM read_text('/etc/hostname')", "read_text()"),
        ("SELECT * FROM '/etc/passwd.csv'", "/etc/passwd.csv"),
        ("SELECT (SELECT count(*) FROM glob('/*'))", "glob()"),
        ("EXPLAIN ANALYZE SELECT * FROM read_csv('/etc/passwd')", "read_csv()"),
        ("PIVOT read_csv('/etc/passwd') ON a USING first(b)", "table or view name"),
        ("SELECT * FROM main.users", "password hashes"),
        ("SUMMARIZE users", "password hashes"),
    ]:
        got = _api(server, "POST", url, json={"query": outside})
        assert got.status_code == 400 and fragment in got.json()["message"], (outside, got.text)
    for fine in ("SUMMARIZE runs", "DESCRIBE runs", "PIVOT params ON key USING first(value)", "SELECT * FROM range(3)"):
        assert _api(server, "POST", url, json={"query": fine}).status_code == 200, fine
    params = _api(server, "POST", url, json={"query": "SELECT count(*) FROM params"}).json()["rows"]
    assert params == [[9]]  # nothing was deleted
    # With --auth the views expose every experiment, so only admins may query them.
    assert _api(server, "POST", url, READER, json={"query": "SELECT 1"}).status_code == 403
    assert _api(server, "POST", url, None, json={"query": "SELECT 1"}).status_code == 401


def test_ui_endpoints_check_permissions(ui_server: tuple[ServerProcess, dict[str, Any]]) -> None:
    server, ids = ui_server
    (hidden,) = _api(
        server, "POST", "/api/2.0/mlflow/runs/search", json={"experiment_ids": [ids["many"]], "max_results": 1}
    ).json()["runs"]
    run = hidden["info"]["run_id"]
    series = {"run_ids": [ids["runs"][0], run], "key": "score"}
    assert _api(server, "GET", "/api/2.0/tracklite/metrics/series", params=series).status_code == 200
    denied = _api(server, "GET", "/api/2.0/tracklite/metrics/series", READER, params=series)
    assert denied.status_code == 403 and denied.json()["error_code"] == "PERMISSION_DENIED"
    keys = {"experiment_id": ids["many"]}
    assert _api(server, "GET", "/api/2.0/tracklite/experiments/keys", READER, params=keys).status_code == 403
    assert _api(server, "GET", "/api/2.0/tracklite/experiments/keys", None, params=keys).status_code == 401
    mine = {"run_ids": ids["runs"][0], "key": "loss"}
    assert _api(server, "GET", "/api/2.0/tracklite/metrics/series", READER, params=mine).status_code == 200


def test_whoami_keys_mlmodel_and_assets(ui_server: tuple[ServerProcess, dict[str, Any]]) -> None:
    server, ids = ui_server
    assert _api(server, "GET", "/api/2.0/tracklite/whoami").json() == {"user": "alice", "auth": True}
    assert _api(server, "GET", "/api/2.0/tracklite/whoami", READER).json() == {"user": "bob", "auth": True}
    keys = _api(server, "GET", "/api/2.0/tracklite/experiments/keys", params={"experiment_id": ids["experiment_id"]})
    assert keys.json()["params"] == ["depth", "lr", "optimizer"]
    assert keys.json()["metrics"] == ["acc", "big", "gappy", "loss"]
    mlmodel = _api(server, "GET", f"/api/2.0/tracklite/logged-models/{ids['model_id']}/mlmodel").json()
    assert mlmodel["signature"]["inputs"] == [{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 3]}}]
    assert "sklearn" in mlmodel["mlmodel"]["flavors"]
    assert _api(server, "GET", "/api/2.0/tracklite/logged-models/m-nope/mlmodel").status_code == 404

    index = requests.get(server.url + "/", timeout=10)
    assert index.status_code == 200 and "static/app.js" in index.text and "http" not in index.text.split("<body>")[1]
    charts = requests.get(server.url + "/static/vendor/dygraph.min.js", timeout=10)
    assert charts.status_code == 200 and "javascript" in charts.headers["content-type"]
    assert len(charts.content) < 200_000  # the reason it replaced Plotly's 4.8 MB (docs/ui.md)
    for asset in ("app.js", "app.css", "favicon.svg"):
        assert requests.get(f"{server.url}/static/{asset}", timeout=10).status_code == 200
    assert requests.get(server.url + "/static/../app.py", timeout=10).status_code == 404
