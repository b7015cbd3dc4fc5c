"""``tracklite migrate``: a store file into a lake and back is the same store, table for table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest
import tracklite
from click.testing import CliRunner
from postgres_fixtures import LakeTemplate
from tracklite import Client, InvalidParameterValue
from tracklite.cli import main
from tracklite.exchange.migrate import migrate
from tracklite.store import get_store

# Store-local tables a migration leaves alone (schema rows, this machine's log progress).
_LOCAL = {"schema_info", "log_progress"}


def _fill(uri: str, tmp_path: Path) -> dict[str, Any]:
    """A store with a bit of everything: runs with points, params, tags, artifacts, a logged
    model, the registry with a deleted version, aliases, stages and an audit trail, a user."""
    tracklite.set_tracking_uri(uri)
    exp = tracklite.set_experiment("migrated")
    Client(uri).set_experiment_tag(exp.experiment_id, "team", "a")
    ids = []
    for r in range(3):
        with tracklite.start_run(run_name=f"run-{r}") as run:
            tracklite.log_params({"lr": 0.1 * (r + 1), "depth": r})
            tracklite.set_tag("phase", "train")
            for i in range(2000):
                tracklite.log_metric("loss", 1.0 / (i + 1) + r, step=i)
            tracklite.log_metric("acc", float("nan"), step=0)
            tracklite.log_metric("zero", -0.0, step=0)
            tracklite.log_dict({"run": r}, "model/config.json")
            tracklite.log_text("x" * (5 * 1024 * 1024 + r), "big/blob.txt")  # two chunks, one of them shared
            ids.append(run.info.run_id)
    client = Client(uri)
    client.delete_run(ids[2])
    client.create_registered_model("clf", tags={"owner": "me"}, description="a model")
    for run_id in ids[:2]:
        client.create_model_version("clf", f"runs:/{run_id}/model", run_id=run_id)
    client.create_model_version("clf", f"runs:/{ids[0]}/model", run_id=ids[0])
    client.delete_model_version("clf", "3")  # its number must never come back
    client.set_registered_model_alias("clf", "champion", "2")
    client.transition_model_version_stage("clf", "1", "Staging")
    from tracklite.server.auth import UserStore

    UserStore(uri).create_user("ann", "pw-secret-1")
    return {"runs": ids}


def _tables(uri: str) -> dict[str, list[str]]:
    """Every copied table's rows, sorted, with what each store keeps for itself left out."""
    store = get_store(uri)
    store.flush()  # type: ignore[attr-defined]
    with store.connector.connect() as con:  # type: ignore[attr-defined]
        names = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
                "AND schema_name = 'main' ORDER BY 1"
            ).fetchall()
        ]
        out = {}
        for name in names:
            if name in _LOCAL or name == "artifact_chunks":
                continue
            # As text: NaN is not equal to itself, and -0.0 must stay apart from 0.0.
            out[name] = sorted(map(repr, con.execute(f"SELECT * FROM main.{name}").fetchall()))
    return out


def _artifact_bytes(uri: str, run_ids: list[str]) -> list[bytes]:
    client = Client(uri)
    return [client.read_artifact(r, "big/blob.txt") for r in run_ids] + [
        client.read_artifact(r, "model/config.json") for r in run_ids
    ]


def test_file_to_lake_to_file_is_the_same_store(lake_template: LakeTemplate, tmp_path: Path) -> None:
    original = str(tmp_path / "original.duckdb")
    filled = _fill(original, tmp_path)
    lake = lake_template.new_lake(tmp_path)
    back = str(tmp_path / "back.duckdb")

    there = migrate(original, lake)
    assert there.rows > 6000 and there.chunks >= 5
    again = migrate(original, lake)
    assert again.rows == 0 and again.chunks == 0 and again.slices_copied == 0  # idempotent
    home = migrate(lake, back)
    assert home.rows == there.rows

    expected = _tables(original)
    assert _tables(lake) == expected
    assert _tables(back) == expected
    assert _artifact_bytes(back, filled["runs"]) == _artifact_bytes(original, filled["runs"])
    assert _artifact_bytes(lake, filled["runs"]) == _artifact_bytes(original, filled["runs"])
    # The copy works as a store: the registry numbers on from where the original was.
    client = Client(lake)
    assert client.create_model_version("clf", f"runs:/{filled['runs'][1]}/model").version == 4
    assert client.get_model_version_by_alias("clf", "champion").version == 2
    history = client.get_metric_history(filled["runs"][0], "zero")
    assert str(history[0].value) == "-0.0"


def test_an_interrupted_migration_finishes_when_run_again(lake_template: LakeTemplate, tmp_path: Path) -> None:
    original = str(tmp_path / "original.duckdb")
    _fill(original, tmp_path)
    lake = lake_template.new_lake(tmp_path)
    get_store(original).close()  # type: ignore[attr-defined]
    # A migration that dies (os._exit: no cleanup) after four slices.
    code = """
import os, sys
from tracklite.exchange import migrate as m
real = m._copy_slice
done = []
def dying(*args):
    out = real(*args)
    if out is not None:
        done.append(1)
        if len(done) == 4:
            os._exit(3)
    return out
m._copy_slice = dying
m._SLICE_ROWS = 1000
m.migrate(sys.argv[1], sys.argv[2])
"""
    died = subprocess.run([sys.executable, "-c", code, original, lake], capture_output=True, text=True, timeout=300)
    assert died.returncode == 3, died.stderr
    partial = _tables(lake)
    assert partial != _tables(original)
    rest = migrate(original, lake)
    assert rest.slices_skipped >= 4
    assert _tables(lake) == _tables(original)


def test_a_destination_with_its_own_runs_is_refused(tmp_path: Path) -> None:
    a, b = str(tmp_path / "a.duckdb"), str(tmp_path / "b.duckdb")
    Client(a).create_run("0")
    theirs = Client(b).create_run("0").info.run_id
    before = _tables(b)
    with pytest.raises(InvalidParameterValue, match=rf"has runs the source does not \({theirs}\)"):
        migrate(a, b)
    assert _tables(b) == before
    with pytest.raises(InvalidParameterValue, match="two different stores"):
        migrate(a, a)


def test_the_command_line(tmp_path: Path) -> None:
    src, dst = str(tmp_path / "a.duckdb"), str(tmp_path / "b.duckdb")
    run_id = Client(src).create_run("0").info.run_id
    get_store(src).close()  # type: ignore[attr-defined]
    result = CliRunner().invoke(main, ["migrate", src, dst, "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "copied" in result.output and "runs 1" in result.output
    get_store(dst).close()  # type: ignore[attr-defined]
    with duckdb.connect(dst, read_only=True) as con:
        assert con.execute("SELECT run_id FROM runs").fetchall() == [(run_id,)]
    bad = CliRunner().invoke(main, ["migrate", src, "http://127.0.0.1:9/"])
    assert bad.exit_code == 1 and "not servers" in bad.output
