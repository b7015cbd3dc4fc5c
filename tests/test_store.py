"""The store file itself: schema version, migrations, documented tables, turn-taking."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest
import tracklite
from tracklite import Client
from tracklite.store import _STORES, schema

ALSO_ON_LAKE = True  # conftest: tests using store_path run on a store file and on a lake


@pytest.mark.file_only
def test_new_store_has_the_documented_schema(client: Client) -> None:
    client.create_run("0")
    client.store.close()  # type: ignore[attr-defined]
    con = duckdb.connect(client.store.path, read_only=True)  # type: ignore[attr-defined]
    try:
        assert con.execute("SELECT max(version) FROM schema_info").fetchall() == [(schema.SCHEMA_VERSION,)]
        # objects outside `main` are documented schema-qualified: `views.runs`
        qualified = "CASE WHEN schema_name = 'main' THEN '' ELSE schema_name || '.' END"
        names = {r[0] for r in con.execute(f"SELECT {qualified} || table_name FROM duckdb_tables()").fetchall()}
        names |= {
            r[0]
            for r in con.execute(f"SELECT {qualified} || view_name FROM duckdb_views() WHERE NOT internal").fetchall()
        }
    finally:
        con.close()
    text = (Path(__file__).parent.parent / "docs" / "schema.md").read_text()
    documented = set(re.findall(r"^\| `(\w+(?:\.\w+)?)` \|", text, re.M))
    assert names == documented
    assert {n for n in names if n.startswith("views.")} == {f"views.{v}" for v in schema.VIEWS}


def test_forward_migration_runs_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(tmp_path / "m.duckdb")
    Client(path).create_experiment("before")
    _STORES.pop(path).close()  # type: ignore[attr-defined]
    calls = []

    def to_next(con: duckdb.DuckDBPyConnection) -> None:
        calls.append(1)
        con.execute("ALTER TABLE experiments ADD COLUMN note VARCHAR")

    current = schema.SCHEMA_VERSION
    monkeypatch.setattr(schema, "SCHEMA_VERSION", current + 1)
    monkeypatch.setitem(schema.MIGRATIONS, current + 1, to_next)
    client = Client(path)
    assert client.get_experiment_by_name("before") is not None
    client.create_experiment("after")
    _STORES.pop(path).close()  # type: ignore[attr-defined]
    Client(path).get_experiment_by_name("after")
    _STORES.pop(path).close()  # type: ignore[attr-defined]
    assert calls == [1]
    con = duckdb.connect(path, read_only=True)
    try:
        versions = [r[0] for r in con.execute("SELECT version FROM schema_info ORDER BY version").fetchall()]
        assert versions == list(range(1, current + 2))
    finally:
        con.close()


def test_newer_store_is_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "new.duckdb")
    Client(path).create_experiment("x")
    _STORES.pop(path).close()  # type: ignore[attr-defined]
    con = duckdb.connect(path)
    con.execute("INSERT INTO schema_info VALUES (99, 0)")
    con.close()
    with pytest.raises(tracklite.StoreCorruptError, match="upgrade tracklite"):
        Client(path).get_experiment("0")
    _STORES.pop(path, None)


def test_not_a_store_file(tmp_path: Path) -> None:
    path = tmp_path / "junk.duckdb"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(tracklite.StoreCorruptError, match="cannot open store"):
        Client(str(path)).get_experiment("0")
    _STORES.pop(str(path), None)


@pytest.mark.file_only
def test_external_holder_makes_us_wait_then_proceed(client: Client) -> None:
    """A DuckDB client outside tracklite holding the file delays us; we retry, not fail."""
    import subprocess
    import sys
    import time

    client.create_run("0")
    client.store.close()  # type: ignore[attr-defined]
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(1)",
            client.store.path,  # type: ignore[attr-defined]
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    started = time.monotonic()
    assert client.get_experiment("0").name == "Default"
    assert time.monotonic() - started >= 0.3
    holder.wait()
    holder.stdout.close()


def test_a_reading_process_exits_cleanly(populated: dict[str, str], store_path: str) -> None:
    """Background threads must never be inside DuckDB when the interpreter finalizes."""
    import subprocess
    import sys

    from tracklite.store import get_store

    get_store(store_path).close()  # type: ignore[attr-defined]
    code = (
        "import sys, tracklite\n"
        "c = tracklite.Client(sys.argv[1])\n"
        "for _ in range(3):\n"
        "    c.get_metric_series(sys.argv[2], 'loss'); c.search_runs(sys.argv[3])\n"
    )
    for _ in range(4):
        proc = subprocess.run(
            [sys.executable, "-c", code, store_path, populated["first"], populated["experiment_id"]],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr


# Version 6's registry: each view has a table of its name.
_V6_OBJECTS = schema.VIEWS[schema.VIEWS.index("registered_models") : schema.VIEWS.index("run_inputs")]


def test_version_5_migration_keys_params_and_tags_by_run_key(tmp_path: Path) -> None:
    path = str(tmp_path / "v4.duckdb")
    client = Client(path)
    run_id = client.create_run("0").info.run_id
    client.log_param(run_id, "lr", "0.1")
    client.set_tag(run_id, "team", "a")
    _STORES.pop(path).close()  # type: ignore[attr-defined]
    con = duckdb.connect(path)  # make it a version 4 file: no run_key in params and tags
    for table in ("params", "tags"):
        con.execute(f"ALTER TABLE {table} DROP COLUMN run_key")
    con.execute("DELETE FROM schema_info WHERE version >= 5")
    for name in _V6_OBJECTS:  # and without version 6's registry
        con.execute(f"DROP VIEW views.{name}")
        con.execute(f"DROP TABLE main.{name}")
    con.execute("DROP VIEW views.run_inputs")  # and without version 7's tables
    for name in ("run_inputs", "users", "experiment_permissions", "registered_model_permissions"):
        con.execute(f"DROP TABLE main.{name}")
    con.execute("DROP TABLE main.set_aside_rows")  # and version 8's
    con.close()
    client = Client(path)
    found = client.search_runs(["0"], "params.lr = '0.1' AND tags.team = 'a'")
    assert [r.info.run_id for r in found] == [run_id]
    assert found[0].data.params == {"lr": "0.1"}
    _STORES.pop(path).close()  # type: ignore[attr-defined]
    con = duckdb.connect(path, read_only=True)
    try:
        for table in ("params", "tags"):
            assert con.execute(f"SELECT count(*) FROM {table} WHERE run_key IS NULL").fetchall() == [(0,)]
    finally:
        con.close()


def test_reads_with_parameters_never_run_as_relations() -> None:
    """DuckDB 1.4 materialises a relation with parameters through Python objects, 200x
    slower than ``execute`` (docs/architecture.md): the store reads through
    ``store.reads.Read`` only."""
    package = Path(__file__).parent.parent / "python" / "tracklite"
    offenders = [
        f"{path.relative_to(package)}:{n}"
        for path in package.rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\.sql\([^)]*params\s*=", line) and "``" not in line  # not in a docstring
    ]
    assert offenders == []


@pytest.mark.file_only
def test_a_runs_table_split_by_many_opens_is_rewritten_whole(tmp_path: Path) -> None:
    """DuckDB 1.4 starts a row group per checkpoint for an indexed table (store/compaction.py)."""
    path = str(tmp_path / "frag.duckdb")
    client = Client(path)
    created = []
    for _ in range(40):  # each open creates a run, each close checkpoints
        created.append(client.create_run("0").info.run_id)
        client.store.connector.close()  # type: ignore[attr-defined]
    _STORES.pop(path).close()  # type: ignore[attr-defined]

    def groups() -> int:
        con = duckdb.connect(path)
        try:
            return int(
                con.execute("SELECT count(DISTINCT row_group_id) FROM pragma_storage_info('runs')").fetchone()[0]
            )
        finally:
            con.close()

    assert groups() > 17
    con = duckdb.connect(path)
    before = con.execute("SELECT * FROM runs ORDER BY rowid").fetchall()
    con.close()

    client = Client(path)  # a new process's first open rewrites the table
    try:
        assert [client.get_run(r).info.run_id for r in created] == created
    finally:
        _STORES.pop(path).close()  # type: ignore[attr-defined]
    assert groups() == 1
    con = duckdb.connect(path)
    try:
        assert con.execute("SELECT * FROM runs ORDER BY rowid").fetchall() == before  # same rows, same order
        assert con.execute("SELECT count(*) FROM views.runs").fetchone()[0] == 40
        with pytest.raises(duckdb.ConstraintException):  # the unique index is back
            con.execute("INSERT INTO runs SELECT * FROM runs LIMIT 1")
    finally:
        con.close()
