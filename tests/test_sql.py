"""``tracklite.query``: the ``views`` schema, ``runs_wide``, read-only SQL, results, ``tracklite sql``."""

from __future__ import annotations

import doctest
import importlib.util
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tracklite import Client, InvalidParameterValue
from tracklite.query import QueryResult, sql
from tracklite.store import _STORES, schema

ALSO_ON_LAKE = True  # conftest: tests using store_path run on a store file and on a lake

ROOT = Path(__file__).resolve().parent.parent


def _counts(client: Client) -> dict[str, int]:
    """Row counts of the store's tables, read past the views."""
    tables = ("experiments", "experiment_tags", "runs", "params", "tags", "metrics", "latest_metrics", "metric_keys")
    return {t: _scalar(client, f"SELECT count(*) FROM main.{t}") for t in tables}


def _search_path(client: Client) -> str:
    return str(_scalar(client, "SELECT current_setting('search_path')"))


def _scalar(client: Client, query: str) -> Any:
    """One value, read on the store's own connection (the one tracklite.sql borrows)."""
    with client.store.connector.connect() as con:  # type: ignore[attr-defined]
        return con.execute(query).fetchall()[0][0]


def log_sweep(client: Client) -> str:
    """The sweep of docs/schema.md's examples: lr x seed, ten val_loss points each."""
    exp = client.create_experiment("sweep")
    for lr in ("0.1", "0.01", "0.001"):
        for seed in (0, 1):
            rid = client.create_run(exp, run_name=f"lr{lr}-s{seed}").info.run_id
            client.log_param(rid, "lr", lr)
            client.log_param(rid, "seed", str(seed))
            decay = {"0.1": 0.5, "0.01": 0.3, "0.001": 0.1}[lr]
            for step in range(10):
                overfit = 0.03 * (step - 5) if lr == "0.1" and step > 5 else 0.0
                value = round(0.2 + 0.8 * (1 - decay) ** step + overfit + 0.01 * seed, 4)
                client.log_metric(rid, "val_loss", value, step=step)
            client.set_terminated(rid)
    return exp


# -- the views ------------------------------------------------------------------------


def test_views_have_the_documented_columns(client: Client) -> None:
    expected = {
        "experiments": [
            "experiment_id",
            "name",
            "artifact_location",
            "lifecycle_stage",
            "creation_time",
            "last_update_time",
        ],
        "experiment_tags": ["experiment_id", "key", "value"],
        "runs": [
            "run_id",
            "experiment_id",
            "run_name",
            "user_id",
            "status",
            "start_time",
            "end_time",
            "lifecycle_stage",
            "artifact_uri",
        ],
        "params": ["run_id", "key", "value"],
        "tags": ["run_id", "key", "value"],
        "metrics": ["run_id", "key", "step", "timestamp", "value"],
        "latest_metrics": ["run_id", "key", "step", "timestamp", "value"],
        "logged_models": [
            "model_id",
            "experiment_id",
            "name",
            "source_run_id",
            "artifact_location",
            "status",
            "model_type",
            "creation_timestamp",
            "last_updated_timestamp",
        ],
        "logged_model_params": ["model_id", "key", "value"],
        "logged_model_tags": ["model_id", "key", "value"],
        "registered_models": ["name", "description", "creation_timestamp", "last_updated_timestamp"],
        "registered_model_tags": ["name", "key", "value"],
        "model_versions": [
            "name",
            "version",
            "current_stage",
            "description",
            "user_id",
            "source",
            "run_id",
            "model_id",
            "storage_location",
            "status",
            "creation_timestamp",
            "last_updated_timestamp",
        ],
        "model_version_tags": ["name", "version", "key", "value"],
        "registered_model_aliases": ["name", "alias", "version"],
        "registry_audit": [
            "event_id",
            "timestamp",
            "user_id",
            "action",
            "name",
            "version",
            "key",
            "old_value",
            "new_value",
        ],
        "run_inputs": ["run_id", "name", "digest", "source_type", "source", "schema", "profile", "tags"],
    }
    assert set(expected) == set(schema.VIEWS)
    for view, columns in expected.items():
        assert sql(f"SELECT * FROM {view} LIMIT 0").columns == columns, view
        assert sql(f"SELECT * FROM views.{view} LIMIT 0").columns == columns, view
    # the store's tables stay reachable, internal columns and all
    assert "run_key" in sql("SELECT * FROM main.runs LIMIT 0").columns


def test_each_view_holds_the_store(client: Client, populated: dict[str, str]) -> None:
    first, second, exp = populated["first"], populated["second"], populated["experiment_id"]
    assert sql("SELECT experiment_id, name, lifecycle_stage FROM experiments ORDER BY experiment_id").fetchall() == [
        ("0", "Default", "active"),
        (exp, "populated", "active"),
    ]
    assert sql("SELECT * FROM experiment_tags").fetchall() == [(exp, "team", "a")]
    runs = sql("SELECT run_id, experiment_id, run_name, status, lifecycle_stage FROM runs ORDER BY run_name")
    assert runs.fetchall() == [
        (first, exp, "first", "FINISHED", "active"),
        (second, exp, "second", "FINISHED", "active"),
    ]
    assert sql("SELECT artifact_uri FROM runs WHERE run_id = ?", [first]).fetchall() == [
        (client.get_run(first).info.artifact_uri,)
    ]
    assert sql("SELECT run_id, key, value FROM params ORDER BY value").fetchall() == [
        (first, "lr", "0.1"),
        (second, "lr", "0.2"),
    ]
    assert sql("SELECT value FROM tags WHERE run_id = ? AND key = 'kind'", [second]).fetchall() == [("second",)]
    assert sql("SELECT value FROM tags WHERE run_id = ? AND key = 'mlflow.runName'", [first]).fetchall() == [("first",)]
    history = sql("SELECT step, value FROM metrics WHERE run_id = ? AND key = 'loss' ORDER BY step", [second])
    assert history.fetchall() == [(s, 1.0 / (s + 2)) for s in range(5)]
    assert sql("SELECT count(*) FROM metrics").fetchall() == [(10,)]
    latest = sql("SELECT run_id, key, step, value FROM latest_metrics ORDER BY value")
    assert latest.fetchall() == [(second, "loss", 4, 1 / 6), (first, "loss", 4, 1 / 5)]


def test_deleted_runs_are_in_the_views_with_their_stage(client: Client, populated: dict[str, str]) -> None:
    client.delete_run(populated["first"])
    assert sql("SELECT run_name, lifecycle_stage FROM runs ORDER BY run_name").fetchall() == [
        ("first", "deleted"),
        ("second", "active"),
    ]


def test_points_just_logged_are_included(client: Client) -> None:
    run_id = client.create_run("0").info.run_id
    for step in range(100):
        client.log_metric(run_id, "m", float(step), step=step)
    # no flush: sql() applies this process's pending points first
    assert sql("SELECT count(*), max(value) FROM metrics WHERE run_id = ?", [run_id]).fetchall() == [(100, 99.0)]


def test_a_version_1_store_gains_the_views(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(tmp_path / "v1.duckdb")
    with monkeypatch.context() as m:
        m.setattr(schema, "SCHEMA_VERSION", 1)
        Client(path).create_experiment("old")
        _STORES.pop(path).close()  # type: ignore[attr-defined]
    assert sql("SELECT name FROM experiments ORDER BY name", tracking_uri=path).fetchall() == [("Default",), ("old",)]
    _STORES.pop(path).close()  # type: ignore[attr-defined]
    con = duckdb.connect(path, read_only=True)
    try:
        assert con.execute("SELECT list(version ORDER BY version) FROM schema_info").fetchone() == (
            list(range(1, schema.SCHEMA_VERSION + 1)),
        )
    finally:
        con.close()


@pytest.mark.file_only
def test_other_duckdb_clients_reach_the_views(client: Client, populated: dict[str, str]) -> None:
    path = client.store.path  # type: ignore[attr-defined]
    client.store.close()  # type: ignore[attr-defined]
    con = duckdb.connect(path, read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM views.runs").fetchone() == (2,)
        con.execute("SET search_path = 'views,main'")
        assert con.execute("SELECT count(*) FROM metrics WHERE key = 'loss'").fetchone() == (10,)
        assert "run_key" not in [d[0] for d in con.execute("SELECT * FROM runs").description]
    finally:
        con.close()
    other = duckdb.connect()
    try:
        other.execute(f"ATTACH '{path}' AS ml (READ_ONLY)")
        assert other.execute("SELECT count(*) FROM ml.views.latest_metrics").fetchone() == (2,)
    finally:
        other.close()


# -- search path and runs_wide ---------------------------------------------------------


def test_search_path_is_restored_after_every_call(client: Client, populated: dict[str, str]) -> None:
    before = _search_path(client)
    sql("SELECT * FROM runs")
    assert _search_path(client) == before
    with pytest.raises(InvalidParameterValue, match="no_such_table"):
        sql("SELECT * FROM no_such_table")
    assert _search_path(client) == before
    with pytest.raises(InvalidParameterValue):
        sql("INSERT INTO main.params VALUES (1)", allow_writes=True)  # fails inside the transaction
    assert _search_path(client) == before
    sql("SET search_path = 'main'; SELECT 1", allow_writes=True)
    assert _search_path(client) == before
    # and the store's own unqualified queries still see the tables (run_key and all)
    assert client.get_run(populated["first"]).data.metrics == {"loss": 0.2}


def _awkward(client: Client) -> str:
    run_id = client.create_run("0", run_name="awkward").info.run_id
    for key, value in (("val loss", 0.5), ("x.y", 1.5), ("a:b/c", 2.5), ("loss", 3.0), ("LOSS", 4.0)):
        client.log_metric(run_id, key, value)
    client.log_param(run_id, "x.y", "p1")
    # names the tracking API refuses, but other writers may store: quotes of both kinds
    sql(
        "INSERT INTO main.params (run_id, key, value) VALUES (?, ?, ?), (?, ?, ?)",
        [run_id, 'a"b', "q", run_id, "it's", "'; DROP TABLE main.runs; --"],
        allow_writes=True,
    )
    client.create_run("0", run_name="bare")
    return run_id


def test_runs_wide_has_a_quoted_column_per_key(client: Client) -> None:
    run_id = _awkward(client)
    wide = sql("SELECT * FROM runs_wide ORDER BY run_name")
    columns = wide.columns
    assert columns[:9] == sql("SELECT * FROM runs LIMIT 0").columns
    assert columns[9:] == [
        'params.a"b',
        "params.it's",
        "params.x.y",
        "metrics.LOSS",
        "metrics.a:b/c",
        "metrics.loss_1",  # DuckDB names are case-insensitive: the second of loss/LOSS gets a suffix
        "metrics.val loss",
        "metrics.x.y",
    ]
    rows = wide.fetchall()
    assert [r[2] for r in rows] == ["awkward", "bare"]
    assert rows[0][0] == run_id
    assert rows[0][9:] == ("q", "'; DROP TABLE main.runs; --", "p1", 4.0, 2.5, 3.0, 0.5, 1.5)
    assert rows[1][9:] == (None,) * 8
    picked = sql('SELECT "params.a""b", "metrics.val loss", "metrics.x.y" FROM runs_wide WHERE run_id = ?', [run_id])
    assert picked.fetchall() == [("q", 0.5, 1.5)]
    assert client.get_run(run_id).info.run_name == "awkward"  # the DROP in a value stayed data


def test_runs_wide_of_an_empty_store_and_its_cleanup(client: Client) -> None:
    assert sql("SELECT * FROM runs_wide").columns == sql("SELECT * FROM runs").columns
    client.create_run("0")
    assert len(sql("FROM runs_wide")) == 1
    count = "SELECT count(*) FROM duckdb_views() WHERE view_name = 'runs' || '_wide'"
    assert sql(count).fetchall() == [(0,)]  # dropped after each query (this one does not name it)
    sql("SELECT count(*) FROM runs_wide; CREATE TABLE main.n (a INT)", allow_writes=True)
    assert sql(count).fetchall() == [(0,)]


# -- parameters -------------------------------------------------------------------------


def test_parameters_are_bound(populated: dict[str, str]) -> None:
    q = "SELECT run_name FROM runs WHERE run_id = ?"
    assert sql(q, [populated["first"]]).fetchall() == [("first",)]
    assert sql(q, (populated["second"],)).fetchall() == [("second",)]
    assert sql("SELECT run_name FROM runs WHERE run_id = $id", {"id": populated["first"]}).fetchall() == [("first",)]
    assert sql("SELECT $1::INT + $2::INT", [2, 3]).fetchall() == [(5,)]
    # several statements: a sequence is consumed in order, a mapping by name
    assert sql("SELECT ?::INT; SELECT ?::INT * ?::INT", [1, 2, 3]).fetchall() == [(6,)]
    assert sql("SELECT $a::INT; SELECT $b::INT", {"a": 1, "b": 7}).fetchall() == [(7,)]


@pytest.mark.parametrize(
    "bad",
    [
        "x' OR '1'='1",
        "'; DROP TABLE main.runs; --",
        '" OR 1=1 --',
        "first'); DELETE FROM main.params; --",
    ],
)
def test_injection_looking_parameters_stay_data(client: Client, populated: dict[str, str], bad: str) -> None:
    before = _counts(client)
    assert sql("SELECT * FROM runs WHERE run_name = ?", [bad]).fetchall() == []
    assert sql("SELECT ? AS v", [bad]).fetchall() == [(bad,)]
    assert sql("SELECT * FROM runs WHERE run_name = $n", {"n": bad}).fetchall() == []
    assert _counts(client) == before


def test_parameter_mistakes_are_clear_errors(populated: dict[str, str]) -> None:
    with pytest.raises(InvalidParameterValue, match="sequence or a mapping"):
        sql("SELECT ?", "abc")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterValue):
        sql("SELECT ?, ?", [1])
    with pytest.raises(InvalidParameterValue, match="more parameter"):
        sql("SELECT ?; SELECT 2", [1, 2])


# -- read-only by default ---------------------------------------------------------------

REFUSED = [
    ("INSERT INTO main.params VALUES ('r', 'k', 'v')", "INSERT"),
    ("UPDATE main.runs SET status = 'KILLED'", "UPDATE"),
    ("DELETE FROM main.metrics", "DELETE"),
    ("CREATE TABLE main.t (a INT)", "CREATE"),
    ("CREATE VIEW v AS SELECT 1", "CREATE"),
    ("DROP TABLE main.params", "DROP"),
    ("ALTER TABLE main.runs ADD COLUMN x INT", "ALTER"),
    ("COPY main.runs TO 'out.csv'", "COPY"),
    ("ATTACH 'other.duckdb' AS other", "ATTACH"),
    ("DETACH other", "DETACH"),
    ("INSTALL httpfs", "INSTALL"),
    ("LOAD httpfs", "LOAD"),
    ("SET threads = 1", "SET"),
    ("RESET search_path", "RESET"),
    ("PRAGMA threads = 1", "PRAGMA"),
    ("PRAGMA enable_profiling", "PRAGMA"),
    ("PRAGMA force_checkpoint", "PRAGMA"),
    ("CHECKPOINT", "CHECKPOINT"),
    ("FORCE CHECKPOINT", "FORCE"),
    ("CALL checkpoint()", "CALL"),
    ("VACUUM", "VACUUM"),
    ("EXPORT DATABASE 'dump'", "EXPORT"),
    ("IMPORT DATABASE 'dump'", "IMPORT"),
    ("EXPLAIN ANALYZE DELETE FROM main.metrics", "EXPLAIN"),
    ("SELECT 1; DELETE FROM main.params", "DELETE"),
    ("-- a comment\nDELETE FROM main.params", "DELETE"),
    ("WITH x AS (SELECT 1) DELETE FROM main.params", "DELETE"),
]


@pytest.mark.parametrize(("query", "kind"), REFUSED, ids=[q for q, _ in REFUSED])
def test_writes_are_refused_and_change_nothing(
    client: Client, populated: dict[str, str], query: str, kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    before = _counts(client)
    path_before = _search_path(client)  # "" on a file; a lake is the default catalog ("lake.main")
    with pytest.raises(InvalidParameterValue, match=rf"refused the {kind} .*allow_writes=True") as info:
        sql(query)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert _counts(client) == before
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "dump").exists()
    assert _search_path(client) == path_before


READS = [
    "SELECT 1",
    "WITH x AS (SELECT run_id FROM runs) SELECT count(*) FROM x",
    "VALUES (1), (2)",
    "FROM runs",
    "DESCRIBE runs",
    "SHOW TABLES",
    "SHOW ALL TABLES",
    "SUMMARIZE latest_metrics",
    "EXPLAIN SELECT * FROM runs",
    "EXPLAIN ANALYZE SELECT count(*) FROM metrics",
    "PRAGMA table_info('main.runs')",
    "PRAGMA show_tables",
    "PRAGMA database_size",
    "CALL pragma_table_info('views.runs')",
    "CALL duckdb_views()",
    "PIVOT params ON key USING first(value) GROUP BY run_id",
    "/* leading comment */ SELECT 2; SELECT 3",
]


@pytest.mark.parametrize("query", READS)
def test_reads_are_allowed(client: Client, populated: dict[str, str], query: str) -> None:
    before = _counts(client)
    assert isinstance(sql(query), QueryResult)
    assert _counts(client) == before


def test_transaction_statements_are_refused_even_with_writes(populated: dict[str, str]) -> None:
    for query in ("BEGIN", "COMMIT", "SELECT 1; ROLLBACK"):
        with pytest.raises(InvalidParameterValue, match="one transaction of its own"):
            sql(query, allow_writes=True)


def test_invalid_sql_is_an_invalid_parameter(populated: dict[str, str]) -> None:
    with pytest.raises(InvalidParameterValue, match="invalid SQL"):
        sql("SELEKT 1")
    with pytest.raises(InvalidParameterValue, match="empty SQL"):
        sql("  ;  ")
    with pytest.raises(InvalidParameterValue, match=r"docs/schema\.md"):
        sql("SELECT nope FROM runs")


def test_writes_run_when_allowed(client: Client, populated: dict[str, str]) -> None:
    first = populated["first"]
    before = _counts(client)
    result = sql("INSERT INTO main.tags (run_id, key, value) VALUES (?, 'reviewed', 'yes')", [first], allow_writes=True)
    assert result.fetchall() == [(1,)]
    assert client.get_run(first).data.tags["reviewed"] == "yes"
    sql("CREATE TABLE main.notes (run_id VARCHAR, note VARCHAR)", allow_writes=True)
    sql("INSERT INTO main.notes SELECT run_id, 'n' FROM runs", allow_writes=True)
    assert sql("SELECT count(*) FROM main.notes").fetchall() == [(2,)]
    assert _counts(client) == {**before, "tags": before["tags"] + 1}


def test_writes_must_leave_the_views_schema_alone(client: Client, populated: dict[str, str]) -> None:
    with pytest.raises(InvalidParameterValue, match="main\\."):
        sql("CREATE TABLE notes (a INT)", allow_writes=True)  # would land in `views`: rolled back
    with pytest.raises(InvalidParameterValue, match="views"):
        sql("DROP VIEW views.params", allow_writes=True)
    with pytest.raises(InvalidParameterValue):
        sql("INSERT INTO runs VALUES (1)", allow_writes=True)  # `runs` is the view: not writable
    names = sql("SELECT view_name FROM duckdb_views() WHERE schema_name = 'views' ORDER BY 1").fetchall()
    assert [n for (n,) in names] == sorted(schema.VIEWS)
    assert sql("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'views'").fetchall() == [(0,)]


def test_tracking_uri_argument_and_default(tmp_path: Path, client: Client, populated: dict[str, str]) -> None:
    other = str(tmp_path / "other.duckdb")
    Client(other).create_experiment("elsewhere")
    assert sql("SELECT count(*) FROM experiments WHERE name = 'elsewhere'", tracking_uri=other).fetchall() == [(1,)]
    assert sql("SELECT count(*) FROM experiments WHERE name = 'elsewhere'").fetchall() == [(0,)]
    with pytest.raises(InvalidParameterValue, match="server"):
        sql("SELECT 1", tracking_uri="http://localhost:5000")


# -- results ----------------------------------------------------------------------------


@pytest.fixture
def result(client: Client, populated: dict[str, str]) -> QueryResult:
    return sql("SELECT run_name, step, value FROM metrics JOIN runs USING (run_id) ORDER BY run_name, step")


def test_result_shape_and_rows(result: QueryResult) -> None:
    assert result.columns == ["run_name", "step", "value"]
    assert len(result) == 10
    rows = list(result)
    assert rows == result.fetchall()
    assert rows[0] == ("first", 0, 1.0) and isinstance(rows[0], tuple)
    assert rows[-1] == ("second", 4, 1 / 6)


def test_result_conversions(result: QueryResult) -> None:
    table = result.arrow()
    assert isinstance(table, pa.Table) and table.num_rows == 10
    assert table.schema.field("step").type == pa.int64() and table.schema.field("value").type == pa.float64()
    frame = result.df()
    assert list(frame.columns) == result.columns and frame["step"].sum() == 20
    assert result.to_pandas().equals(frame)
    arrays = result.fetchnumpy()
    assert list(arrays) == result.columns
    assert arrays["step"].dtype.kind == "i" and arrays["value"].dtype.kind == "f"
    assert math.isclose(float(arrays["value"].sum()), sum(r[2] for r in result))


def test_result_to_polars(result: QueryResult) -> None:
    if importlib.util.find_spec("polars") is None:
        with pytest.raises(ImportError, match="pip install polars"):
            result.pl()
    else:
        frame = result.pl()
        assert frame.columns == result.columns and frame.height == 10


def test_result_repr_is_a_boxed_table(result: QueryResult) -> None:
    text = repr(result)
    assert text.startswith("┌") and "│ run_name │ step │" in text and "second" in text
    many = QueryResult(pa.table({"i": list(range(100))}))
    shown = repr(many)
    assert f"{QueryResult.max_repr_rows} of 100 rows" in shown and "│ 99 " not in shown


def test_result_writers_round_trip(result: QueryResult, tmp_path: Path) -> None:
    result.to_parquet(tmp_path / "r.parquet")
    assert pq.read_table(tmp_path / "r.parquet").equals(result.arrow())
    result.to_csv(str(tmp_path / "r.csv"))
    lines = (tmp_path / "r.csv").read_text().splitlines()
    assert lines[0] == '"run_name","step","value"' and lines[1] == '"first",0,1' and len(lines) == 11
    result.to_json(tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data[0] == {"run_name": "first", "step": 0, "value": 1.0} and len(data) == 10


def test_json_and_csv_of_awkward_values(tmp_path: Path) -> None:
    odd = QueryResult(pa.table({"v": [1.0, float("nan"), float("inf"), None], "b": [b"\x00\xff", None, None, None]}))
    odd.to_json(tmp_path / "o.json")
    assert json.loads((tmp_path / "o.json").read_text()) == [
        {"v": 1.0, "b": "00ff"},
        {"v": None, "b": None},
        {"v": None, "b": None},
        {"v": None, "b": None},
    ]
    nested = QueryResult(pa.table({"l": [[1, 2]]}))
    with pytest.raises(InvalidParameterValue, match="JSON or Parquet"):
        nested.to_csv(tmp_path / "n.csv")
    nested.to_json(tmp_path / "n.json")
    assert json.loads((tmp_path / "n.json").read_text()) == [{"l": [1, 2]}]


def test_docstring_examples_run() -> None:
    import tracklite.query

    try:
        outcome = doctest.testmod(tracklite.query, optionflags=doctest.ELLIPSIS)
    finally:
        for store in list(_STORES.values()):
            store.close()  # type: ignore[attr-defined]
        _STORES.clear()
    assert outcome.attempted > 0 and outcome.failed == 0


def test_schema_docs_examples_print_what_they_show(client: Client) -> None:
    log_sweep(client)
    section = (ROOT / "docs" / "schema.md").read_text().split("## Examples", 1)[1]
    pairs = re.findall(r"```sql\n(.*?)```\n```text\n(.*?)```", section, flags=re.S)
    assert len(pairs) >= 4
    for query, shown in pairs:
        assert repr(sql(query)) == shown.rstrip("\n"), query


# -- the CLI ------------------------------------------------------------------------------


def _cli(*args: str, stdin: str | None = None, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracklite.cli", *args],
        capture_output=True,
        text=True,
        input=stdin,
        cwd=cwd,
        env={k: v for k, v in os.environ.items() if k != "TRACKLITE_TRACKING_URI"},
        timeout=120,
    )


QUERY = 'SELECT run_name, "params.lr", "metrics.loss" FROM runs_wide WHERE "params.lr" = ? ORDER BY run_name'


def test_cli_sql_table(store_path: str, populated: dict[str, str]) -> None:
    proc = _cli("sql", QUERY, "--store", store_path, "--param", "0.2")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("┌") and "│ second   │ 0.2       │" in proc.stdout and "first" not in proc.stdout


def test_cli_sql_csv_and_json_to_stdout(store_path: str, populated: dict[str, str]) -> None:
    csv = _cli("sql", QUERY, "--store", store_path, "-p", "0.1", "--format", "csv")
    assert csv.returncode == 0, csv.stderr
    assert csv.stdout.splitlines() == ['"run_name","params.lr","metrics.loss"', '"first","0.1",0.2']
    out = _cli("sql", QUERY, "--store", store_path, "-p", "0.1", "--format", "json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [{"run_name": "first", "params.lr": "0.1", "metrics.loss": 0.2}]


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "parquet"])
def test_cli_sql_to_a_file(store_path: str, populated: dict[str, str], tmp_path: Path, fmt: str) -> None:
    target = tmp_path / f"out.{fmt}"
    proc = _cli(
        "sql", "SELECT run_name FROM runs ORDER BY 1", "--store", store_path, "--format", fmt, "-o", str(target)
    )
    assert proc.returncode == 0, proc.stderr
    assert "wrote 2 row(s)" in proc.stderr or fmt == "table"
    if fmt == "parquet":
        assert pq.read_table(target).column("run_name").to_pylist() == ["first", "second"]
    elif fmt == "json":
        assert json.loads(target.read_text()) == [{"run_name": "first"}, {"run_name": "second"}]
    else:
        assert "second" in target.read_text()


def test_cli_sql_errors_without_tracebacks(store_path: str, populated: dict[str, str]) -> None:
    parquet = _cli("sql", "SELECT 1", "--store", store_path, "--format", "parquet")
    assert parquet.returncode == 2 and "--output" in parquet.stderr
    refused = _cli("sql", "DELETE FROM main.params", "--store", store_path)
    assert refused.returncode == 1 and "--allow-writes" in refused.stderr and "Traceback" not in refused.stderr
    bad = _cli("sql", "SELECT * FROM nowhere", "--store", store_path)
    assert bad.returncode == 1 and "nowhere" in bad.stderr and "Traceback" not in bad.stderr


def test_cli_sql_stdin_and_allow_writes(store_path: str, populated: dict[str, str]) -> None:
    wrote = _cli(
        "sql", "UPDATE main.tags SET value = ? WHERE key = 'kind'", "--store", store_path, "-p", "x", "--allow-writes"
    )
    assert wrote.returncode == 0, wrote.stderr
    proc = _cli(
        "sql", "-", "--store", store_path, "--format", "csv", stdin="SELECT DISTINCT value FROM tags WHERE key = 'kind'"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ['"value"', '"x"']


def test_module_exports() -> None:
    import tracklite.query

    assert tracklite.query.__all__ == ["QueryResult", "sql"]
    assert callable(getattr(tracklite, "sql", sql))
