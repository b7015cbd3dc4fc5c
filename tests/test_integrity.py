"""Unique indexes survive crashes and the opens after them (store/integrity.py, issue 21).

DuckDB 1.4 replays a dead process's WAL on open; if that connection then closed without
writing, the replayed rows lost their unique-index entries: still in the table, no longer
found by key, and their keys could be stored twice. Every test here uses real processes
that die with their commits only in DuckDB's WAL.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
import tracklite
from conftest import run_python
from tracklite import Client
from tracklite.server.auth import UserStore

# Writes one row of `kind` and dies before the store is closed, so the row is only in the WAL.
_WRITE_AND_DIE = """
import os, signal, sys, tracklite
from tracklite import Client
from tracklite.server.auth import UserStore
store, kind, how, run_id = sys.argv[1:5]
tracklite.set_tracking_uri(store)
client = Client()
if kind == "runs":
    tracklite.set_experiment("e")
    key = tracklite.start_run().info.run_id
    tracklite.log_metric("loss", 1.0, step=0)
elif kind == "logged_models":
    key = client.store.create_logged_model("0", name="m").model_id
elif kind == "registered_models":
    key = client.create_registered_model("reg").name
elif kind == "users":
    key = UserStore(store).create_user("alice", "pw-123456").username
elif kind == "artifact_chunks":
    client.log_text(run_id, "hello", "a.txt")
    key = run_id
print(key, flush=True)
if how == "sigkill":
    os.kill(os.getpid(), signal.SIGKILL)
os._exit(0)
"""

# An open that only reads, and closes normally: tracklite's, or any DuckDB client's.
_TRACKLITE_READ = "import sys, tracklite; tracklite.set_tracking_uri(sys.argv[1]); tracklite.search_experiments()"
_DUCKDB_READ = "import sys, duckdb; c = duckdb.connect(sys.argv[1]); c.execute('SELECT count(*) FROM runs'); c.close()"
_DUCKDB_READ_ONLY = (
    "import sys, duckdb; c = duckdb.connect(sys.argv[1], read_only=True); c.execute('SELECT count(*) FROM runs')"
)

_KEYS = {
    "runs": ("run_id", "runs_run_id"),
    "logged_models": ("model_id", "logged_models_model_id"),
    "registered_models": ("name", "registered_models_name"),
    "users": ("username", "users_username"),
    "artifact_chunks": ("digest", None),  # a primary key, not a separate index
}


def _run(code: str, *args: str) -> str:
    proc = run_python(code, *args)
    assert proc.returncode in (0, -signal.SIGKILL), proc.stderr
    return proc.stdout.strip()


def _new_store(tmp_path: Path) -> tuple[str, str]:
    store = str(tmp_path / "s.duckdb")
    tracklite.set_tracking_uri(store)
    with tracklite.start_run() as run:
        pass
    Client(store).store.close()  # type: ignore[attr-defined]
    tracklite.set_tracking_uri(None)
    return store, run.info.run_id


def _assert_found_by_key(store: str, kind: str, key: str) -> None:
    """With the file's own engine, not tracklite: the row is found through its index, and
    its key cannot be stored again."""
    column, _ = _KEYS[kind]
    con = duckdb.connect(store)
    try:
        if kind == "artifact_chunks":
            key = con.execute("SELECT digest FROM artifact_chunks LIMIT 1").fetchone()[0]
        assert con.execute(f"SELECT count(*) FROM {kind} WHERE {column} = ?", [key]).fetchone()[0] == 1
        row = con.execute(f"SELECT * FROM {kind} WHERE {column} = ?", [key]).fetchone()
        marks = ", ".join("?" * len(row))
        with pytest.raises(duckdb.ConstraintException):
            con.execute(f"INSERT INTO {kind} VALUES ({marks})", list(row))
    finally:
        con.close()


@pytest.mark.parametrize("kind", list(_KEYS))
@pytest.mark.parametrize(
    ("how", "opens"),
    [
        ("exit", [_TRACKLITE_READ]),
        ("sigkill", [_TRACKLITE_READ]),
        ("exit", [_DUCKDB_READ_ONLY, _TRACKLITE_READ, _TRACKLITE_READ]),
    ],
    ids=["exit-read", "sigkill-read", "exit-readonly-read-read"],
)
def test_a_row_only_in_the_wal_stays_reachable_after_reading_opens(
    tmp_path: Path, kind: str, how: str, opens: list[str]
) -> None:
    store, run_id = _new_store(tmp_path)
    key = _run(_WRITE_AND_DIE, store, kind, how, run_id)
    assert Path(store + ".wal").exists()  # the row is only in DuckDB's WAL
    for code in opens:
        _run(code, store)
    _assert_found_by_key(store, kind, key)
    client = Client(store)
    try:
        if kind == "runs":
            assert client.get_run(key).info.run_id == key
        elif kind == "logged_models":
            assert client.get_logged_model(key).model_id == key
        elif kind == "registered_models":
            assert client.get_registered_model(key).name == key
        elif kind == "users":
            assert UserStore(store).get_user(key).username == key
        else:
            assert Path(client.download_artifacts(key, "a.txt", str(tmp_path))).read_text() == "hello"
        assert client.store.check_indexes() == []  # type: ignore[attr-defined]
    finally:
        client.store.close()  # type: ignore[attr-defined]


_RUN_CREATOR = """
import sys, tracklite
tracklite.set_tracking_uri(sys.argv[1])
tracklite.set_experiment("churn")
while True:
    with tracklite.start_run() as run:
        print(run.info.run_id, flush=True)
"""


def test_kills_at_random_moments_never_make_a_run_unreachable(tmp_path: Path) -> None:
    """Writers and readers killed at random moments (during WAL replays and checkpoints too)."""
    store, _ = _new_store(tmp_path)
    rng = random.Random(21)
    created: list[str] = []
    for _ in range(6):
        writer = subprocess.Popen([sys.executable, "-c", _RUN_CREATOR, store], stdout=subprocess.PIPE, text=True)
        time.sleep(rng.uniform(1.0, 2.0))
        writer.send_signal(signal.SIGKILL)
        out, _ = writer.communicate()
        created += out.split()
        reader = subprocess.Popen([sys.executable, "-c", _TRACKLITE_READ, store])
        time.sleep(rng.uniform(0.3, 1.0))  # often still opening, replaying or checkpointing
        reader.send_signal(signal.SIGKILL)
        reader.wait()
    assert len(created) > 6
    client = Client(store)
    try:
        # Every run the writers announced was committed before they printed it.
        assert [client.get_run(r).info.run_id for r in created] == created
        assert client.store.check_indexes() == []  # type: ignore[attr-defined]
    finally:
        client.store.close()  # type: ignore[attr-defined]


def _damage(store: str, run_id: str) -> None:
    """Damage the store the way DuckDB 1.4 does: rows of a dead process's WAL replayed by an
    open that closes without writing (here a plain DuckDB client; older tracklite did it too)."""
    for kind in ("runs", "users", "registered_models"):
        _run(_WRITE_AND_DIE, store, kind, "exit", run_id)
        _run(_DUCKDB_READ, store)


def _doctor(store: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracklite", "doctor", "--store", store, *args], capture_output=True, text=True
    )


def test_doctor_reports_damaged_indexes_and_repairs_them(tmp_path: Path) -> None:
    store, run_id = _new_store(tmp_path)
    _damage(store, run_id)
    # Since the damage, the store answers "not found" for those keys, so a user creates the
    # same user again: the key is now stored twice.
    UserStore(store).create_user("alice", "second-password")
    tracklite.set_tracking_uri(store)
    Client().create_registered_model("reg", description="the second")
    Client().store.close()  # type: ignore[attr-defined]
    tracklite.set_tracking_uri(None)
    con = duckdb.connect(store)
    lost_run = con.execute("SELECT run_id FROM runs WHERE experiment_id <> '0'").fetchone()[0]
    con.close()

    report = _doctor(store)
    assert report.returncode == 1, report.stdout + report.stderr
    assert "unique indexes  3 DAMAGED (rebuild them: `tracklite doctor --repair`)" in report.stdout
    assert "runs: 1 row(s) not found by their run_id" in report.stdout
    assert "users: 1 username value(s) stored twice ('alice')" in report.stdout
    assert "registered_models: 1 name value(s) stored twice ('reg')" in report.stdout

    repaired = _doctor(store, "--repair")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "unique indexes  3 repaired" in repaired.stdout
    assert "unique indexes  sound" in _doctor(store).stdout

    client = Client(store)
    try:
        assert client.get_run(lost_run).info.run_id == lost_run
        assert client.get_registered_model("reg").description == "the second"
        users = UserStore(store)
        # The row the store has answered with since the damage stays; the other is set aside.
        assert users.authenticate("alice", "second-password")
        with pytest.raises(tracklite.ResourceAlreadyExists):
            users.create_user("alice", "third-password")
        table = client.store.sql("SELECT table_name, key, row_json FROM main.set_aside_rows")  # type: ignore[attr-defined]
        aside = [tuple(row.values()) for row in table.to_pylist()]
        assert sorted((t, k) for t, k, _ in aside) == [("registered_models", "reg"), ("users", "alice")]
        assert {json.loads(row)["username"] for t, _, row in aside if t == "users"} == {"alice"}
        # docs/schema.md: a set-aside registered model comes back under another name.
        recover = (Path(__file__).parent.parent / "docs" / "schema.md").read_text().split("```sql\n")[1].split("```")[0]
        client.store.sql(recover, allow_writes=True)  # type: ignore[attr-defined]
        assert client.get_registered_model("reg (recovered)").description is None
    finally:
        client.store.close()  # type: ignore[attr-defined]
    for kind, key in (("runs", lost_run), ("users", "alice"), ("registered_models", "reg")):
        _assert_found_by_key(store, kind, key)


def test_opening_a_store_damaged_before_schema_8_repairs_it(tmp_path: Path) -> None:
    store, run_id = _new_store(tmp_path)
    _damage(store, run_id)
    con = duckdb.connect(store)
    lost_run = con.execute("SELECT run_id FROM runs WHERE experiment_id <> '0'").fetchone()[0]
    assert con.execute("SELECT count(*) FROM runs WHERE run_id = ?", [lost_run]).fetchone()[0] == 0
    con.execute("DELETE FROM schema_info WHERE version = 8")  # as tracklite 0.1 left it
    con.execute("DROP TABLE set_aside_rows")
    con.close()

    # A new process, as after an upgrade: its first open migrates the file and repairs it.
    opened = run_python(
        "import sys; from tracklite import Client; c = Client(sys.argv[1]); "
        "print(c.get_run(sys.argv[2]).info.run_id, c.store.check_indexes())",
        store,
        lost_run,
    )
    assert opened.stdout.split() == [lost_run, "[]"], opened.stderr
    for kind, key in (("runs", lost_run), ("users", "alice"), ("registered_models", "reg")):
        _assert_found_by_key(store, kind, key)


def test_an_index_a_repair_left_dropped_is_created_at_the_next_open(tmp_path: Path) -> None:
    """A repair that died between its two transactions (index dropped, not yet recreated)."""
    store, _ = _new_store(tmp_path)
    con = duckdb.connect(store)
    con.execute("DROP INDEX users_username")
    con.close()
    # A new process's first open recreates the index.
    _run(
        "import sys; from tracklite.server.auth import UserStore; UserStore(sys.argv[1]).create_user('bob', 'pw-1234')",
        store,
    )
    con = duckdb.connect(store)
    try:
        assert con.execute("SELECT count(*) FROM duckdb_indexes() WHERE index_name = 'users_username'").fetchone()[0]
    finally:
        con.close()
    _assert_found_by_key(store, "users", "bob")


def test_an_index_left_dropped_over_a_key_stored_twice_is_restored_and_the_store_opens(tmp_path: Path) -> None:
    """The store must open whatever a dead repair or rewrite left: the newest row stays."""
    store, _ = _new_store(tmp_path)
    _run(
        "import sys; from tracklite.server.auth import UserStore; UserStore(sys.argv[1]).create_user('bob', 'pw-1')",
        store,
    )
    con = duckdb.connect(store)
    con.execute("DROP INDEX users_username")
    con.execute("INSERT INTO users SELECT username, 'newer-hash', is_admin, created_at + 1 FROM users")
    con.close()
    opened = run_python(
        "import sys; from tracklite import Client; c = Client(sys.argv[1]); "
        "print(c.store.check_indexes(), c.store.sql('SELECT count(*) AS n FROM main.set_aside_rows').to_pylist())",
        store,
    )
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout.split("\n")[0] == "[] [{'n': 1}]"
    con = duckdb.connect(store)
    try:
        assert con.execute("SELECT password_hash FROM users").fetchall() == [("newer-hash",)]
    finally:
        con.close()
    _assert_found_by_key(store, "users", "bob")
