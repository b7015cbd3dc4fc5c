"""The lake backend under many writers: real PostgreSQL, real processes posing as separate hosts.

Each writer process gets its own host name (a UTS namespace, when the machine allows one) and
its own local folder of durability logs, as a process on another machine would. The API tests
of the single file also run on a lake (modules marked ``ALSO_ON_LAKE``); these tests cover
what only a lake has.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import tracklite
from conftest import reset_tracking
from postgres_fixtures import LakeTemplate, Postgres
from tracklite import Client, TrackliteError
from tracklite.store import schema
from tracklite.store.lake import attach, parse_lake_uri

_WRITER = """
import sys, tracklite
from tracklite import Client, ResourceAlreadyExists
uri, idx, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
tracklite.set_tracking_uri(uri)
tracklite.set_experiment("shared")  # every writer names the same experiment at once
with tracklite.start_run(run_name=f"writer-{idx}") as run:
    tracklite.log_param("writer", idx)
    tracklite.set_tag("host", idx)
    for i in range(n):
        tracklite.log_metric("loss", idx + i / n, step=i)
        if i % 5000 == 4999:
            tracklite.flush()  # several commits per writer, interleaved with the others'
    tracklite.log_dict({"writer": idx}, "model/config.json")
client = Client()
try:
    client.create_registered_model("shared-model")
except ResourceAlreadyExists:
    pass
mv = client.create_model_version("shared-model", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
print(run.info.run_id, mv.version, flush=True)
"""

_READER = """
import sys, time, tracklite
from tracklite import Client, TrackliteError
uri, seconds = sys.argv[1], float(sys.argv[2])
tracklite.set_tracking_uri(uri)
client = Client(uri)
reads = 0
end = time.monotonic() + seconds
while time.monotonic() < end:
    for run in tracklite.search_runs(search_all_experiments=True, output_format="list"):
        client.get_metric_history(run.info.run_id, "loss")
    reads += 1
print(reads, flush=True)
"""


@pytest.fixture(autouse=True)
def _close_stores() -> Iterator[None]:
    """These tests open lakes without ``store_path``: close them (one restarts PostgreSQL,
    which would cut the connections of stores left open)."""
    yield
    reset_tracking()


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "--uts", "true"], capture_output=True).returncode == 0


def _as_host(name: str, args: list[str]) -> list[str]:
    """``args`` run under host name ``name`` (a UTS namespace) when the machine allows it."""
    if not _unshare_works():
        return args
    return ["unshare", "--uts", "sh", "-c", f'hostname {name} && exec "$@"', "sh", *args]


def _host_env(folder: Path) -> dict[str, str]:
    return {**os.environ, "TRACKLITE_LAKE_LOGS": str(folder)}


def test_writers_on_several_hosts_lose_nothing(lake_template: LakeTemplate, tmp_path: Path) -> None:
    uri = lake_template.new_lake(tmp_path)
    writers, points = 4, 20_000
    reader = subprocess.Popen(
        [sys.executable, "-c", _READER, uri, "8"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    procs = [
        subprocess.Popen(
            _as_host(f"host{w}", [sys.executable, "-c", _WRITER, uri, str(w), str(points)]),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_host_env(tmp_path / f"host{w}-disk"),
        )
        for w in range(writers)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
        run_id, version = out.split()
        results.append((run_id, int(version)))
    out, err = reader.communicate(timeout=120)
    assert reader.returncode == 0, err
    assert int(out) > 0

    client = Client(uri)
    shared = client.get_experiment_by_name("shared")
    assert shared is not None
    assert [e.name for e in client.search_experiments()].count("shared") == 1
    runs = client.search_runs([shared.experiment_id], max_results=100)
    assert sorted(r.info.run_id for r in runs) == sorted(run_id for run_id, _ in results)
    for w, (run_id, _) in enumerate(sorted(results, key=lambda r: client.get_run(r[0]).data.params["writer"])):
        steps = client.get_metric_series(run_id, "loss")["step"]
        assert sorted(steps.tolist()) == list(range(points)), f"writer {w}: every point exactly once"
        assert client.get_run(run_id).data.metrics["loss"] == pytest.approx(w + (points - 1) / points)
        assert client.get_run(run_id).info.status == "FINISHED"
    # Registered concurrently: version numbers distinct and consecutive, each with its run's files.
    assert sorted(v for _, v in results) == list(range(1, writers + 1))
    for run_id, version in results:
        mv = client.get_model_version("shared-model", str(version))
        assert mv.run_id == run_id
    history = client.get_registry_history("shared-model")
    assert [e.action for e in history].count("create_model_version") == writers
    # Each host's durability log was applied and removed on its own disk.
    for w in range(writers):
        assert [n for n in os.listdir(next((tmp_path / f"host{w}-disk").iterdir())) if n.endswith(".tlog")] == []


def test_a_dead_writers_points_are_recovered_on_its_host(lake_template: LakeTemplate, tmp_path: Path) -> None:
    uri = lake_template.new_lake(tmp_path)
    disk = tmp_path / "host-disk"
    code = """
import os, sys, tracklite
from tracklite.store import get_store
tracklite.set_tracking_uri(sys.argv[1])
run = tracklite.start_run()
for i in range(1000):
    tracklite.log_metric("m", float(i), step=i)
get_store(sys.argv[1]).sync_metrics()  # durable in this host's log, not yet in the lake
print(run.info.run_id, flush=True)
os._exit(0)
"""
    died = subprocess.run(
        [sys.executable, "-c", code, uri], capture_output=True, text=True, env=_host_env(disk), timeout=120
    )
    assert died.returncode == 0, died.stderr
    run_id = died.stdout.strip()
    later = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, tracklite; c = tracklite.Client(sys.argv[1]); "
            "print(len(c.get_metric_history(sys.argv[2], 'm')))",
            uri,
            run_id,
        ],
        capture_output=True,
        text=True,
        env=_host_env(disk),
        timeout=120,
    )
    assert later.returncode == 0, later.stderr
    assert later.stdout.strip() == "1000"


def test_the_lake_has_the_files_tables_and_views(store_path: str, lake_template: LakeTemplate, tmp_path: Path) -> None:
    uri = lake_template.new_lake(tmp_path)
    Client(store_path).get_experiment("0")
    query = (
        "SELECT schema_name, table_name, column_name, data_type FROM duckdb_columns() "
        "WHERE database_name = current_database() ORDER BY ALL"
    )
    Client(store_path).store.close()  # type: ignore[attr-defined]
    with duckdb.connect(store_path, read_only=True) as con:
        in_file = con.execute(query).fetchall()
    con = duckdb.connect()
    attach(con, parse_lake_uri(uri))
    assert con.execute(query).fetchall() == in_file
    assert con.execute("SELECT max(version) FROM schema_info").fetchone() == (schema.SCHEMA_VERSION,)


def test_other_duckdb_clients_read_the_lake(lake_template: LakeTemplate, tmp_path: Path) -> None:
    uri = lake_template.new_lake(tmp_path)
    client = Client(uri)
    run_id = client.create_run("0").info.run_id
    # More points than a commit keeps in the catalog (lake.INLINE_ROWS): they become a Parquet file.
    client.log_batch(run_id, metrics=[tracklite.Metric("loss", 0.5, 0, s) for s in range(1000)])
    client.store.flush()  # type: ignore[attr-defined]
    con = duckdb.connect()
    attach(con, parse_lake_uri(uri), alias="ml")
    assert con.execute("SELECT count(*) FROM ml.views.metrics WHERE run_id = ?", [run_id]).fetchone() == (1000,)
    # The data are plain Parquet files any engine reads.
    files = list((tmp_path / "lake-data").rglob("*.parquet"))
    assert files and duckdb.sql(f"SELECT count(*) FROM read_parquet({[str(f) for f in files]!r})").fetchone()[0] > 0


def test_gc_compacts_small_files(lake_template: LakeTemplate, tmp_path: Path) -> None:
    uri = lake_template.new_lake(tmp_path)
    client = Client(uri)
    run_id = client.create_run("0").info.run_id
    for batch in range(6):  # six flushes of 200 points: six Parquet files
        client.log_batch(
            run_id, metrics=[tracklite.Metric("m", float(s), 0, s) for s in range(batch * 200, (batch + 1) * 200)]
        )
        client.store.flush()  # type: ignore[attr-defined]
    con = duckdb.connect()
    attach(con, parse_lake_uri(uri))

    def live_files() -> int:
        return int(con.execute("SELECT count(*) FROM ducklake_list_files('lake', 'metrics')").fetchone()[0])

    assert live_files() >= 6
    client.store.gc()  # type: ignore[attr-defined]
    assert live_files() == 1
    assert sorted(client.get_metric_series(run_id, "m")["step"].tolist()) == list(range(1200))


def test_two_servers_on_one_lake_serve_each_others_writes(lake_template: LakeTemplate, tmp_path: Path) -> None:
    from mlflow import MlflowClient
    from server_fixtures import free_port, start_command

    uri = lake_template.new_lake(tmp_path)
    servers = []
    for name in ("a", "b"):
        port = free_port()
        command = [sys.executable, "-m", "tracklite", "server", "--store", uri, "--host", "127.0.0.1"]
        folder = tmp_path / f"server-{name}"
        folder.mkdir()
        servers.append(start_command([*command, "--port", str(port)], folder, port))
    try:
        a, b = (MlflowClient(s.url) for s in servers)
        exp = a.create_experiment("through-servers")
        run = a.create_run(exp)
        a.log_batch(run.info.run_id, metrics=[mlflow_metric(s) for s in range(500)])
        a.log_param(run.info.run_id, "lr", "0.1")
        seen = b.get_run(run.info.run_id)  # the other server, reading the lake
        assert seen.data.params == {"lr": "0.1"}
        assert len(b.get_metric_history(run.info.run_id, "loss")) == 500
        b.set_terminated(run.info.run_id)
        assert a.get_run(run.info.run_id).info.status == "FINISHED"
        assert "Traceback" not in servers[0].log_text() + servers[1].log_text()
    finally:
        for s in servers:
            s.stop()
    assert len(Client(uri).get_metric_history(run.info.run_id, "loss")) == 500


def mlflow_metric(step: int) -> object:
    from mlflow.entities import Metric

    return Metric("loss", 1.0 / (step + 1), 1_700_000_000_000 + step, step)


def test_a_catalog_restart_costs_at_most_one_call_and_no_points(
    lake_template: LakeTemplate, postgres: Postgres, tmp_path: Path
) -> None:
    uri = lake_template.new_lake(tmp_path)
    client = Client(uri)
    run_id = client.create_run("0").info.run_id
    client.log_batch(run_id, metrics=[tracklite.Metric("m", float(s), 0, s) for s in range(500)])
    client.log_param(run_id, "before", "1")
    client.store.flush()  # type: ignore[attr-defined]  # the background flusher has nothing to do
    postgres.restart()
    try:
        client.log_param(run_id, "after", "1")
    except TrackliteError as exc:  # the first statement on the cut connection
        assert "Lost the connection to the lake's catalog" in str(exc) and "next call reconnects" in str(exc)
        client.log_param(run_id, "after", "1")
    client.log_batch(run_id, metrics=[tracklite.Metric("m", float(s), 0, s) for s in range(500, 1000)])
    run = client.get_run(run_id)
    assert run.data.params == {"before": "1", "after": "1"}
    assert sorted(client.get_metric_series(run_id, "m")["step"].tolist()) == list(range(1000))
