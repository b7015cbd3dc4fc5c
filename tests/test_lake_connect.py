"""Reaching a DuckLake: ``ducklake:`` URIs, the extensions from their wheels, a PostgreSQL catalog."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import duckdb
import pytest
from postgres_fixtures import Postgres
from tracklite.errors import InvalidParameterValue, TrackliteError
from tracklite.store.lake import attach, is_lake_uri, parse_lake_uri


def test_uris_name_catalog_and_data_path(tmp_path: Path) -> None:
    loc = parse_lake_uri("ducklake:postgresql://ml:s3cret@db.example:5433/tracking?data_path=/shared/lake")
    assert loc.catalog == "postgres:dbname=tracking host=db.example port=5433 user=ml password=s3cret"
    assert loc.data_path == "/shared/lake" and loc.is_postgres
    assert "s3cret" not in loc.uri and "***" in loc.uri
    odd = parse_lake_uri("ducklake:postgres://me@h/my%20db?data_path=s3://bucket/lake")
    assert odd.catalog == "postgres:dbname='my db' host=h user=me" and odd.data_path == "s3://bucket/lake"
    local = parse_lake_uri(f"ducklake:{tmp_path}/c.ducklake?data_path={tmp_path}/data")
    assert local.catalog == f"{tmp_path}/c.ducklake" and not local.is_postgres
    assert is_lake_uri("ducklake:x") and not is_lake_uri(str(tmp_path / "s.duckdb"))


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("ducklake:postgresql://h/db", "names no data_path"),
        ("ducklake:postgresql:///db?data_path=/d", "needs a host and a database"),
        ("ducklake:postgresql://h/?data_path=/d", "needs a host and a database"),
        ("ducklake:mysql://h/db?data_path=/d", "Unsupported lake catalog"),
        ("ducklake:?data_path=/d", "Unsupported lake catalog"),
        ("ducklake:postgresql://h/db?data_path=/d&x=1", "Unknown option"),
        ("/tmp/s.duckdb", "is not a ducklake: URI"),
    ],
)
def test_bad_uris_say_what_form_to_use(uri: str, message: str) -> None:
    with pytest.raises(InvalidParameterValue, match=message):
        parse_lake_uri(uri)


def _append(uri: str, writer: int, rows: int) -> None:
    con = duckdb.connect()
    attach(con, parse_lake_uri(uri))
    for i in range(rows):
        con.execute("INSERT INTO points VALUES (?, ?)", [writer, i])


def test_writers_in_several_processes_share_a_postgres_catalog(postgres: Postgres, tmp_path: Path) -> None:
    uri = postgres.lake_uri(postgres.create_database(), tmp_path / "data")
    con = duckdb.connect()
    attach(con, parse_lake_uri(uri))
    con.execute("CREATE TABLE points (writer INTEGER, i INTEGER)")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append, args=(uri, w, 20)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    rows = con.execute("SELECT writer, count(*), count(DISTINCT i) FROM points GROUP BY ALL ORDER BY 1").fetchall()
    assert rows == [(w, 20, 20) for w in range(4)]
    assert list((tmp_path / "data").rglob("*.parquet"))  # the data is Parquet under the data path


def test_an_unreachable_catalog_is_a_clear_error(tmp_path: Path) -> None:
    from server_fixtures import free_port

    uri = f"ducklake:postgresql://nobody@127.0.0.1:{free_port()}/none?data_path={tmp_path}"
    with pytest.raises(TrackliteError, match=r"Cannot open the lake ducklake:postgresql://nobody@127\.0\.0\.1"):
        attach(duckdb.connect(), parse_lake_uri(uri))


_LAKE_AT_7 = """
import sys, tracklite
from tracklite.store import get_store
uri = sys.argv[1]
tracklite.set_tracking_uri(uri)
with tracklite.start_run():
    tracklite.log_param("a", "1")
store = get_store(uri)
with store.connector.transaction() as con:  # as tracklite 0.1 (schema 7) left it
    con.execute("DELETE FROM schema_info WHERE version = 8")
    con.execute("DROP TABLE set_aside_rows")
store.close()
"""

_OPEN_LAKE = """
import sys, tracklite
from tracklite.store import get_store
with get_store(sys.argv[1]).connector.connect() as con:
    print(con.execute("SELECT max(version) FROM schema_info").fetchone()[0],
          con.execute("SELECT count(*) FROM set_aside_rows").fetchone()[0])
print(len(tracklite.Client(sys.argv[1]).search_runs(["0"])))
"""


def test_a_lake_of_schema_7_is_migrated_in_place(tmp_path: Path) -> None:
    from conftest import run_python

    uri = f"ducklake:{tmp_path / 'catalog.ducklake'}?data_path={tmp_path / 'data'}"
    made = run_python(_LAKE_AT_7, uri)
    assert made.returncode == 0, made.stderr
    opened = run_python(_OPEN_LAKE, uri)
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout.split() == ["8", "0", "1"]
