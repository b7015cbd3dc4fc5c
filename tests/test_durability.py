"""Durability and concurrency with real processes: SIGKILL, many writers, a reader."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tracklite
from conftest import run_python
from tracklite import Client

_KILLED_WRITER = """
import os, signal, sys, time, json
import tracklite
tracklite.set_tracking_uri(sys.argv[1])
run = tracklite.start_run(run_name="doomed")
print(json.dumps({"run_id": run.info.run_id}), flush=True)
n = int(sys.argv[2])
for i in range(n):
    tracklite.log_metric("loss", i * 0.5, step=i)
tracklite.log_param("p", "before-kill")
time.sleep(float(sys.argv[3]))   # longer than the 100 ms durability interval
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_sigkill_loses_nothing_older_than_flush_interval(tmp_path: Path) -> None:
    store = str(tmp_path / "s.duckdb")
    proc = run_python(_KILLED_WRITER, store, "200000", "0.35")
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    run_id = json.loads(proc.stdout.splitlines()[0])["run_id"]
    logs = [p for p in os.listdir(store + ".logs") if p.endswith(".tlog")]
    assert len(logs) == 1  # the dead process's log is still there, unapplied
    client = Client(store)
    try:
        hist = client.get_metric_series(run_id, "loss")  # opening the store recovers it
        assert len(hist["value"]) == 200_000
        assert hist["step"][-1] == 199_999 and hist["value"][-1] == 199_999 * 0.5
        assert client.get_run(run_id).data.params == {"p": "before-kill"}
        assert not [p for p in os.listdir(store + ".logs") if p.endswith(".tlog")]
        # the run was left RUNNING by a dead process: find it and mark it KILLED
        assert client.store.find_orphaned_runs() == [run_id]  # type: ignore[attr-defined]
        assert client.mark_orphaned_runs_killed() == [run_id]
        info = client.get_run(run_id).info
        assert info.status == "KILLED" and info.end_time is not None
    finally:
        client.store.close()  # type: ignore[attr-defined]


def test_sigkill_during_flush_is_applied_once(tmp_path: Path) -> None:
    """Kill repeatedly at random moments; every recovery must apply each point exactly once."""
    store = str(tmp_path / "s.duckdb")
    code = """
import sys, tracklite, time
tracklite.set_tracking_uri(sys.argv[1])
with tracklite.start_run() as r:
    print(r.info.run_id, flush=True)
    i = 0
    while True:
        tracklite.log_metric("m", float(i), step=i)
        i += 1
        if i % 50000 == 0:
            tracklite.flush()
"""
    run_ids = []
    for delay in (0.4, 0.7, 1.1):
        proc = subprocess.Popen([sys.executable, "-c", code, store], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        run_ids.append(proc.stdout.readline().strip())
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    client = Client(store)
    try:
        for rid in run_ids:
            cols = client.get_metric_series(rid, "m")
            steps = cols["step"]
            assert len(steps) > 0
            # exactly once: no duplicates and no holes, a prefix of the logged sequence
            assert sorted(steps.tolist()) == list(range(len(steps)))
    finally:
        client.store.close()  # type: ignore[attr-defined]


_WORKER = """
import sys, tracklite
store, idx, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
tracklite.set_tracking_uri(store)
tracklite.set_experiment("sweep")
with tracklite.start_run(run_name=f"worker-{idx}"):
    tracklite.log_param("worker", idx)
    for i in range(n):
        tracklite.log_metric("loss", 1.0 / (i + 1), step=i)
        if i % 20000 == 0:
            tracklite.set_tag("progress", i)
"""

_READER = """
import sys, time, tracklite
from tracklite import Client, ViewType
client = Client(sys.argv[1])
deadline = time.time() + float(sys.argv[2])
reads = 0
while time.time() < deadline:
    try:
        exps = client.search_experiments(view_type=ViewType.ALL)
        for e in exps:
            client.store.list_runs([e.experiment_id], ViewType.ALL, None)
        reads += 1
    except tracklite.StoreCorruptError:
        raise
    time.sleep(0.05)
print(reads)
"""


@pytest.mark.parametrize("writers", [4, 8])
def test_many_writers_start_at_once_on_a_new_file(tmp_path: Path, writers: int) -> None:
    store = str(tmp_path / "new.duckdb")
    assert not os.path.exists(store)
    n = 30_000
    reader = subprocess.Popen([sys.executable, "-c", _READER, store, "6"], stdout=subprocess.PIPE, text=True)
    procs = [
        subprocess.Popen([sys.executable, "-c", _WORKER, store, str(i), str(n)], stderr=subprocess.PIPE, text=True)
        for i in range(writers)
    ]
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
    out, _ = reader.communicate(timeout=240)
    assert reader.returncode == 0 and int(out) > 0
    client = Client(store)
    try:
        exp = client.get_experiment_by_name("sweep")
        assert exp is not None
        runs = client.store.list_runs([exp.experiment_id])  # type: ignore[attr-defined]
        assert sorted(r.info.run_name for r in runs) == sorted(f"worker-{i}" for i in range(writers))
        for r in runs:
            assert r.info.status == "FINISHED"
            assert len(client.get_metric_series(r.info.run_id, "loss")["value"]) == n
            assert r.data.params["worker"] == r.info.run_name.split("-")[1]
        with client.store.connector.connect() as con:  # type: ignore[attr-defined]
            assert con.execute("SELECT count(*) FROM metrics").fetchone()[0] == n * writers
            assert con.execute("SELECT count(*) FROM experiments WHERE name = 'sweep'").fetchone()[0] == 1
    finally:
        client.store.close()  # type: ignore[attr-defined]


def test_threads_logging_into_one_run(client: Client) -> None:
    import threading

    rid = client.create_run("0").info.run_id

    def work(k: int) -> None:
        for i in range(20_000):
            client.log_metric(rid, f"t{k}", float(i), step=i)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(4):
        assert len(client.get_metric_series(rid, f"t{k}")["value"]) == 20_000


def test_reopen_sees_everything(tmp_path: Path) -> None:
    store = str(tmp_path / "s.duckdb")
    code = """
import sys, tracklite
tracklite.set_tracking_uri(sys.argv[1])
with tracklite.start_run() as r:
    tracklite.log_metric("m", 1.5, step=3)
    tracklite.log_param("p", "v")
print(r.info.run_id)
"""
    proc = run_python(code, store)
    assert proc.returncode == 0, proc.stderr
    rid = proc.stdout.strip()
    client = Client(store)
    try:
        run = client.get_run(rid)
        assert run.data.metrics == {"m": 1.5} and run.data.params == {"p": "v"}
        assert run.info.status == "FINISHED"
        # a clean exit leaves no durability log behind
        assert not [p for p in os.listdir(store + ".logs") if p.endswith(".tlog")]
    finally:
        client.store.close()  # type: ignore[attr-defined]


def test_reader_while_writer_holds_nothing_long(tmp_path: Path) -> None:
    """A process that is training does not keep the file: another can read it meanwhile."""
    store = str(tmp_path / "s.duckdb")
    tracklite.set_tracking_uri(store)
    try:
        with tracklite.start_run() as run:
            for i in range(1000):
                tracklite.log_metric("m", float(i), step=i)
            tracklite.flush()
            time.sleep(0.2)  # past the connection linger
            proc = run_python(
                "import sys, tracklite; print(len(tracklite.Client(sys.argv[1]).get_metric_history(sys.argv[2], 'm')))",
                store,
                run.info.run_id,
            )
            assert proc.returncode == 0, proc.stderr
            assert proc.stdout.strip() == "1000"
    finally:
        from conftest import reset_tracking

        reset_tracking()


def _child_logs(run_id: str) -> None:
    tracklite.Client().log_metric(run_id, "child", 2.0, step=1)
    tracklite.log_metric("child_fluent", 3.0)  # the parent's active run, through the child's own log
    tracklite.flush()  # a multiprocessing child leaves with os._exit, skipping exit hooks


def test_forked_child_logs_through_its_own_log(store_path: str) -> None:
    import multiprocessing

    with tracklite.start_run() as run:
        tracklite.log_metric("parent", 1.0)
        child = multiprocessing.get_context("fork").Process(target=_child_logs, args=(run.info.run_id,))
        child.start()
        child.join(60)
        assert child.exitcode == 0
        tracklite.log_metric("parent", 1.5, step=1)
    metrics = tracklite.get_run(run.info.run_id).data.metrics
    assert metrics == {"parent": 1.5, "child": 2.0, "child_fluent": 3.0}


_ROTATING_WRITER = """
import os, sys, tracklite
store = sys.argv[1]
tracklite.set_tracking_uri(store)
with tracklite.start_run() as r:
    names = set()
    for i in range(200_000):
        tracklite.log_metric("m", float(i), step=i)
        if i % 10_000 == 9_999:
            tracklite.flush()
            logs = [f for f in os.listdir(store + ".logs") if f.endswith(".tlog")]
            assert len(logs) == 1, logs
            assert os.path.getsize(os.path.join(store + ".logs", logs[0])) < 1_000_000
            names.add(logs[0])
            # the live run follows its writer to the new log: it is never taken for orphaned
            assert tracklite.Client().store.find_orphaned_runs() == []
    assert len(names) > 5, names
print(r.info.run_id)
"""


def test_log_rotation_keeps_every_point_once(tmp_path: Path) -> None:
    store = str(tmp_path / "s.duckdb")
    proc = run_python(_ROTATING_WRITER, store, env={"TRACKLITE_LOG_ROTATE_BYTES": "200000"})
    assert proc.returncode == 0, proc.stderr
    client = Client(store)
    try:
        steps = client.get_metric_series(proc.stdout.strip(), "m")["step"]
        assert steps.tolist() == list(range(200_000))
    finally:
        client.store.close()  # type: ignore[attr-defined]


def test_a_run_left_open_is_finished_at_exit_with_its_points(store_path: str) -> None:
    # The first move of points into DuckDB happens at exit here, after threading has shut down:
    # it must still land, without errors on the way out. (DuckDB 1.4 imports pyarrow.dataset for
    # that Arrow scan, and pyarrow.fs registers an exit hook while exiting; it did no harm.)
    code = (
        "import sys, tracklite\n"
        "tracklite.set_tracking_uri(sys.argv[1])\n"
        "for step in range(3):\n"
        "    tracklite.log_metric('loss', 1.0 / (step + 1), step=step)\n"
    )
    proc = run_python(code, store_path)
    assert proc.returncode == 0 and not proc.stderr, proc.stderr
    client = Client(store_path)
    (run,) = client.search_runs(["0"])
    assert run.info.status == "FINISHED"
    assert [m.value for m in client.get_metric_history(run.info.run_id, "loss")] == [1.0, 0.5, 1.0 / 3]


_LEAVE_LOG = """
import os, sys, tracklite
tracklite.set_tracking_uri(sys.argv[1])
with tracklite.start_run() as r:
    for i in range(1000):
        tracklite.log_metric("m", float(i), step=i)
print(r.info.run_id, flush=True)
os._exit(0)  # the run ended (and flushed), but the log file stays, as after a crash
"""

_DIE_WHILE_RECOVERING = """
import os, sys, tracklite
real_unlink = os.unlink
def unlink(path, *args, **kwargs):
    if str(path).endswith(".tlog"):
        os._exit(0)  # the recovery committed and this process dies before removing the log
    real_unlink(path, *args, **kwargs)
os.unlink = unlink
tracklite.set_tracking_uri(sys.argv[1])
tracklite.search_runs()
"""


def test_recoverer_dying_before_it_removes_a_log_applies_nothing_twice(tmp_path: Path) -> None:
    store = str(tmp_path / "s.duckdb")
    left = run_python(_LEAVE_LOG, store)
    assert left.returncode == 0, left.stderr
    run_id = left.stdout.strip()
    logs = [n for n in os.listdir(store + ".logs") if n.endswith(".tlog")]
    assert len(logs) == 1
    died = run_python(_DIE_WHILE_RECOVERING, store)
    assert died.returncode == 0, died.stderr
    assert os.path.exists(os.path.join(store + ".logs", logs[0]))  # it did die half way
    client = Client(store)
    try:
        steps = client.get_metric_series(run_id, "m")["step"]
        assert sorted(steps.tolist()) == list(range(1000))
        assert not os.path.exists(os.path.join(store + ".logs", logs[0]))
    finally:
        client.store.close()  # type: ignore[attr-defined]
    import duckdb

    with duckdb.connect(store, read_only=True) as con:  # the dead log's progress row was swept too
        assert con.execute("SELECT count(*) FROM log_progress").fetchone() == (0,)
