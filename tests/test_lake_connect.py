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
