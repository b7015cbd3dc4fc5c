"""Subprocess workers for ``benches/tracking.py``.

Every measurement runs in a fresh interpreter with its own temporary directory, so no tool
shares caches, stores, threads or imports with another. The driver calls the helpers at the
bottom of this file (:func:`run_worker`, :func:`run_multiproc`, :func:`import_time`); each one
starts ``python benches/peers.py worker '<json>'`` and reads back one JSON line.

Tools (the ``tool`` argument):

* ``tracklite``     the package under test, store file ``<tmp>/store/store.duckdb``
* ``mlflow-sync``   MLflow, SQLite store ``sqlite:///<tmp>/store/mlflow.db``, synchronous logging
* ``mlflow-async``  the same store, ``log_metric(..., synchronous=False)`` with
                    ``MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS=1``
* ``mlflow-file``   MLflow file store ``file:<tmp>/store/mlruns`` (``MLFLOW_ALLOW_FILE_STORE=true``)
* ``trackio``       trackio, local SQLite under ``TRACKIO_DIR=<tmp>/store``
* ``floor``         an empty Python function with ``log_metric``'s signature

No worker may touch the network: telemetry and hub access are switched off through the
tools' own environment variables, and ``socket`` connections other than Unix sockets are
refused inside every worker (attempts are reported as ``network_attempts``).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULT_TAG = "@@RESULT "
READY_TAG = "@@READY"
RUN_TAG = "@@RUN "
EXPERIMENT = "bench"
TRACKIO_PROJECT = "bench"
KEY = "loss"

_NET_ATTEMPTS: list[str] = []


# --------------------------------------------------------------------------------------------
# Environment shared by all workers
# --------------------------------------------------------------------------------------------


def worker_env(tool: str, tmp: Path) -> dict[str, str]:
    """The environment of a worker: the caller's, minus every tool's configuration, plus
    private data directories and every known telemetry / hub / UI switch turned off."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLFLOW_", "TRACKIO_", "TRACKLITE_", "GRADIO_", "HF_"))
        and k not in ("SPACE_ID", "SYSTEM", "SPACE_HOST", "DATABRICKS_HOST")
    }
    store = tmp / "store"
    env.update(
        {
            # MLflow: no telemetry, store chosen explicitly in the worker
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "true",
            # trackio: data dir, local SQLite, no hub, no UI analytics
            "TRACKIO_DIR": str(store),
            "TRACKIO_STORAGE_MODE": "sqlite",
            "HF_HOME": str(tmp / "hf-home"),
            "HF_HUB_OFFLINE": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "GRADIO_ANALYTICS_ENABLED": "False",
            "TRACKIO_LOGBOOK_AUTONOTE": "0",
            # tracklite
            "TRACKLITE_TRACKING_URI": str(store / "store.duckdb"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    if tool == "mlflow-async":
        env["MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS"] = "1"
    if tool == "mlflow-file":
        env["MLFLOW_ALLOW_FILE_STORE"] = "true"
    return env


def _forbid_network() -> None:
    """Refuse every non-Unix socket connection in this process and remember the attempt."""
    import socket

    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def _allowed(sock: socket.socket) -> bool:
        return sock.family == getattr(socket, "AF_UNIX", object())

    def connect(self: socket.socket, address: Any) -> None:
        if _allowed(self):
            return real_connect(self, address)
        _NET_ATTEMPTS.append(repr(address))
        raise OSError(f"network access refused by benches/peers.py: {address!r}")

    def connect_ex(self: socket.socket, address: Any) -> int:
        if _allowed(self):
            return real_connect_ex(self, address)
        _NET_ATTEMPTS.append(repr(address))
        return 111  # ECONNREFUSED

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        _NET_ATTEMPTS.append(f"getaddrinfo {host!r}")
        raise socket.gaierror(f"name resolution refused by benches/peers.py: {host!r}")

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo


# --------------------------------------------------------------------------------------------
# Per-tool building blocks (run inside a worker)
# --------------------------------------------------------------------------------------------


def _store(tmp: Path) -> Path:
    store = tmp / "store"
    store.mkdir(parents=True, exist_ok=True)
    return store


def _import_tracklite() -> Any:
    try:
        import tracklite
    except Exception as e:  # ImportError, or a half-written package failing at import
        raise ToolUnavailable(f"tracklite not importable: {type(e).__name__}: {e}") from e
    return tracklite


class ToolUnavailable(Exception):
    """The tool under test cannot be imported; reported as ``{"unavailable": ...}``."""


def _mlflow(tool: str, tmp: Path) -> Any:
    import mlflow

    store = _store(tmp)
    if tool == "mlflow-file":
        mlflow.set_tracking_uri(f"file:{store / 'mlruns'}")
    else:
        mlflow.set_tracking_uri(f"sqlite:///{store / 'mlflow.db'}")
    return mlflow


def _mlflow_experiment(mlflow: Any, tmp: Path) -> None:
    # Artifacts go next to, not inside, the store directory so sizes count metrics only.
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        with contextlib.suppress(Exception):  # created concurrently by another process
            mlflow.create_experiment(EXPERIMENT, artifact_location=(tmp / "artifacts").as_uri())
    mlflow.set_experiment(EXPERIMENT)


def _trackio_init(name: str | None = None) -> Any:
    import trackio

    trackio.init(
        project=TRACKIO_PROJECT,
        name=name,
        embed=False,
        auto_log_cpu=False,
        auto_log_gpu=False,
    )
    return trackio


def _trackio_count(tmp: Path, run_name: str | None = None) -> int:
    """Points stored by trackio, read straight from its SQLite file (one row per log call)."""
    import sqlite3

    dbs = sorted((tmp / "store").glob("*.db"))
    total = 0
    for db in dbs:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
        try:
            if run_name is None:
                total += con.execute("select count(*) from metrics").fetchone()[0]
            else:
                total += con.execute("select count(*) from metrics where run_name = ?", (run_name,)).fetchone()[0]
        except sqlite3.OperationalError:
            pass
        finally:
            con.close()
    return total


def _scalar(result: Any) -> int:
    """First value of whatever ``tracklite.sql`` returns (relation, DataFrame, rows, number)."""
    for attr in ("fetchone",):
        if hasattr(result, attr):
            return int(result.fetchone()[0])
    if hasattr(result, "iloc"):
        return int(result.iloc[0, 0])
    if isinstance(result, (list, tuple)):
        first = result[0]
        return int(first[0] if isinstance(first, (list, tuple)) else first)
    if isinstance(result, dict):
        return int(next(iter(result.values())))
    return int(result)


def _tracklite_count(tl: Any, run_id: str, key: str, *, max_objects: int = 3_000_000) -> int:
    """Points of ``key`` in ``run_id``: the SQL count if tracklite offers one, else the
    length of ``Client().get_metric_history`` (skipped above ``max_objects``: -1)."""
    if hasattr(tl, "sql"):
        for table in ("metric_history", "metrics"):
            try:
                return _scalar(tl.sql(f"select count(*) from {table} where run_id = '{run_id}' and key = '{key}'"))
            except Exception:
                continue
    client = tl.Client()
    if hasattr(client, "get_metric_series"):  # columns, no Python object per point
        series = client.get_metric_series(run_id, key)
        return len(series["value"] if isinstance(series, dict) else series)
    if max_objects <= 0:
        return -1
    return len(client.get_metric_history(run_id, key))


def _mlflow_count(mlflow: Any, run_id: str, key: str) -> int:
    from mlflow.tracking import MlflowClient

    return len(MlflowClient().get_metric_history(run_id, key))


def _mlflow_sqlite_count(tmp: Path, run_id: str, key: str) -> int:
    """Points MLflow's SQLite store holds for ``run_id``/``key``, read with plain sqlite3
    (what ``get_metric_history`` returns, without importing MLflow in the counting process)."""
    import sqlite3

    db = tmp / "store" / "mlflow.db"
    if not db.exists():
        return 0
    con = sqlite3.connect(db, timeout=60)
    try:
        return int(
            con.execute("select count(*) from metrics where run_uuid = ? and key = ?", (run_id, key)).fetchone()[0]
        )
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()


def _curve(n: int) -> Any:
    import numpy as np

    rng = np.random.default_rng(0)
    x = np.linspace(0.0, 10.0, n)
    return np.exp(-x) + rng.normal(0.0, 0.01, n)


# --------------------------------------------------------------------------------------------
# Scenario 1: fluent log_metric in a training loop, flush included
# --------------------------------------------------------------------------------------------


def w_fluent(tool: str, tmp: Path, p: dict[str, Any]) -> dict[str, Any]:
    n = int(p["n"])
    out: dict[str, Any] = {"n": n}
    if tool == "floor":

        def log_metric(key: Any, value: Any, step: Any = None, timestamp: Any = None) -> None:
            pass

        t0 = time.perf_counter()
        for i in range(n):
            log_metric("loss", 1.0 / (i + 1), step=i)
        out["seconds"] = time.perf_counter() - t0
        out["stored"] = n
    elif tool == "tracklite":
        tl = _import_tracklite()
        tl.set_tracking_uri(str(_store(tmp) / "store.duckdb"))
        tl.set_experiment(EXPERIMENT)
        log_metric = tl.log_metric
        with tl.start_run() as run:
            t0 = time.perf_counter()
            for i in range(n):
                log_metric("loss", 1.0 / (i + 1), step=i)
            out["loop_seconds"] = time.perf_counter() - t0
            tl.flush()
            out["seconds"] = time.perf_counter() - t0
            run_id = run.info.run_id
        out["stored"] = _tracklite_count(tl, run_id, KEY)
    elif tool in ("mlflow-sync", "mlflow-async"):
        mlflow = _mlflow(tool, tmp)
        _mlflow_experiment(mlflow, tmp)
        sync = tool == "mlflow-sync"
        log_metric = mlflow.log_metric
        run = mlflow.start_run()
        t0 = time.perf_counter()
        for i in range(n):
            log_metric("loss", 1.0 / (i + 1), step=i, synchronous=sync)
        out["loop_seconds"] = time.perf_counter() - t0
        if not sync:
            mlflow.flush_async_logging()
        mlflow.end_run()
        out["seconds"] = time.perf_counter() - t0
        out["stored"] = _mlflow_count(mlflow, run.info.run_id, KEY)
    elif tool == "trackio":
        trackio = _trackio_init()
        log = trackio.log
        t0 = time.perf_counter()
        for i in range(n):
            log({"loss": 1.0 / (i + 1)}, step=i)
        out["loop_seconds"] = time.perf_counter() - t0
        trackio.finish()
        out["seconds"] = time.perf_counter() - t0
        out["stored"] = _trackio_count(tmp)
    else:
        raise ValueError(f"fluent: unknown tool {tool!r}")
    out["points_per_s"] = n / out["seconds"]
    out["ns_per_call"] = out["seconds"] / n * 1e9
    return out


# --------------------------------------------------------------------------------------------
# Scenario 2: a NumPy series in one call (tracklite) vs MLflow log_batch of 1000-point chunks
# --------------------------------------------------------------------------------------------


def w_series(tool: str, tmp: Path, p: dict[str, Any]) -> dict[str, Any]:
    n = int(p["n"])
    values = _curve(n)
    out: dict[str, Any] = {"n": n}
    if tool == "tracklite":
        tl = _import_tracklite()
        tl.set_tracking_uri(str(_store(tmp) / "store.duckdb"))
        tl.set_experiment(EXPERIMENT)
        with tl.start_run() as run:
            t0 = time.perf_counter()
            tl.log_metric_series("s", values)
            t1 = time.perf_counter()
            tl.flush()
            t2 = time.perf_counter()
            run_id = run.info.run_id
        out["seconds_call"] = t1 - t0
        out["seconds"] = t2 - t0
        out["points_per_s_call"] = n / (t1 - t0)
        out["stored"] = _tracklite_count(tl, run_id, "s", max_objects=n if n <= 3_000_000 else 0)
    elif tool in ("mlflow-sync", "mlflow-async"):
        mlflow = _mlflow(tool, tmp)
        _mlflow_experiment(mlflow, tmp)
        from mlflow.entities import Metric
        from mlflow.tracking import MlflowClient

        client = MlflowClient()
        sync = tool == "mlflow-sync"
        run = mlflow.start_run()
        run_id = run.info.run_id
        chunk = 1000  # MLflow's limit of metrics per log_batch call
        t0 = time.perf_counter()
        ts = int(time.time() * 1000)
        futures = []
        for start in range(0, n, chunk):
            part = values[start : start + chunk].tolist()
            metrics = [Metric("s", v, ts, start + j) for j, v in enumerate(part)]
            f = client.log_batch(run_id, metrics=metrics, synchronous=sync)
            if not sync:
                futures.append(f)
        for f in futures:
            f.wait()
        mlflow.end_run()
        out["seconds"] = time.perf_counter() - t0
        out["stored"] = _mlflow_count(mlflow, run_id, "s")
    else:
        raise ValueError(f"series: unknown tool {tool!r}")
    out["points_per_s"] = n / out["seconds"]
    return out


# --------------------------------------------------------------------------------------------
# Scenario 3: bytes on disk of a metric (the driver measures the directory after exit)
# --------------------------------------------------------------------------------------------


def w_size(tool: str, tmp: Path, p: dict[str, Any]) -> dict[str, Any]:
    n = int(p["n"])
    out: dict[str, Any] = {"n": n}
    values = _curve(n) if n else None
    # Realistic, strictly increasing millisecond timestamps, the same for every tool that
    # accepts them (tracklite and MLflow); trackio stamps rows itself.
    ts0 = 1_750_000_000_000
    t0 = time.perf_counter()
    if tool == "tracklite":
        import numpy as np

        tl = _import_tracklite()
        tl.set_tracking_uri(str(_store(tmp) / "store.duckdb"))
        tl.set_experiment(EXPERIMENT)
        with tl.start_run():
            if n:
                steps = np.arange(n, dtype=np.int64)
                timestamps = ts0 + steps * 10
                try:
                    tl.log_metric_series(KEY, values, steps=steps, timestamps=timestamps)
                    out["timestamps"] = "explicit"
                except TypeError:
                    tl.log_metric_series(KEY, values)
                    out["timestamps"] = "default"
            tl.flush()
        for name in ("close", "shutdown"):
            if hasattr(tl, name):
                getattr(tl, name)()
                break
    elif tool in ("mlflow-sync", "mlflow-file"):
        mlflow = _mlflow(tool, tmp)
        _mlflow_experiment(mlflow, tmp)
        from mlflow.entities import Metric
        from mlflow.tracking import MlflowClient

        client = MlflowClient()
        with mlflow.start_run() as run:
            for start in range(0, n, 1000):
                part = values[start : start + 1000].tolist()
                client.log_batch(
                    run.info.run_id,
                    metrics=[Metric(KEY, v, ts0 + (start + j) * 10, start + j) for j, v in enumerate(part)],
                )
    elif tool == "trackio":
        trackio = _trackio_init()
        if n:
            log = trackio.log
            for i, v in enumerate(values.tolist()):
                log({KEY: v}, step=i)
        trackio.finish()
        out["stored"] = _trackio_count(tmp)
    else:
        raise ValueError(f"size: unknown tool {tool!r}")
    out["seconds"] = time.perf_counter() - t0
    return out


# --------------------------------------------------------------------------------------------
# Scenario 4: SIGKILL right after the logging loop, then count what a new process recovers
# --------------------------------------------------------------------------------------------


def w_sigkill_log(tool: str, tmp: Path, p: dict[str, Any]) -> dict[str, Any]:
    n, delay = int(p["n"]), float(p["delay"])
    info = tmp / "sigkill-info.json"
    if tool == "tracklite":
        tl = _import_tracklite()
        tl.set_tracking_uri(str(_store(tmp) / "store.duckdb"))
        tl.set_experiment(EXPERIMENT)
        run = tl.start_run()
        info.write_text(json.dumps({"run_id": run.info.run_id}))
        log_metric = tl.log_metric
        for i in range(n):
            log_metric(KEY, 1.0 / (i + 1), step=i)
    elif tool == "mlflow-async":
        mlflow = _mlflow(tool, tmp)
        _mlflow_experiment(mlflow, tmp)
        run = mlflow.start_run()
        info.write_text(json.dumps({"run_id": run.info.run_id}))
        log_metric = mlflow.log_metric
        for i in range(n):
            log_metric(KEY, 1.0 / (i + 1), step=i, synchronous=False)
    elif tool == "trackio":
        trackio = _trackio_init(name="killed")
        info.write_text(json.dumps({"run_id": "killed"}))
        log = trackio.log
        for i in range(n):
            log({KEY: 1.0 / (i + 1)}, step=i)
    else:
        raise ValueError(f"sigkill: unknown tool {tool!r}")
    if delay:
        time.sleep(delay)
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable")


def w_sigkill_count(tool: str, tmp: Path, p: dict[str, Any]) -> dict[str, Any]:
    info = tmp / "sigkill-info.json"
    if not info.exists():
        return {"recovered": 0, "note": "the killed process never started its run"}
    run_id = json.loads(info.read_text())["run_id"]
    if tool == "tracklite":
        tl = _import_tracklite()
        tl.set_tracking_uri(str(_store(tmp) / "store.duckdb"))
        recovered = len(tl.Client().get_metric_history(run_id, KEY))
    elif tool == "mlflow-async":
        recovered = _mlflow_sqlite_count(tmp, run_id, KEY)
    elif tool == "trackio":
        recovered = _trackio_count(tmp, run_name=run_id)
    else:
        raise ValueError(f"sigkill: unknown tool {tool!r}")
    return {"recovered": recovered}


# --------------------------------------------------------------------------------------------
# Scenario 5: several writer processes and one reader, started at once on a new store
# --------------------------------------------------------------------------------------------


def _wait_for_go() -> float:
    print(READY_TAG, flush=True)
    line = sys.stdin.readline()
    if line.strip() != "go":
        raise SystemExit(f"expected 'go' on stdin, got {line!r}")
    return time.perf_counter()


def w_writer(tool: str, tmp: Path, p: dict[str, Any]) -> dict[str, Any]:
    m, idx = int(p["m"]), int(p["index"])
    out: dict[str, Any] = {"m": m, "index": idx, "logged": 0}
    if tool == "tracklite":
        tl = _import_tracklite()
        t0 = _wait_for_go()
        try:
            tl.set_tracking_uri(str(_store(tmp) / "store.duckdb"))
            tl.set_experiment(EXPERIMENT)
            with tl.start_run() as run:
                print(RUN_TAG + run.info.run_id, flush=True)
                log_metric = tl.log_metric
                for i in range(m):
                    log_metric(KEY, 1.0 / (i + 1), step=i)
                    out["logged"] = i + 1
        except Exception as e:
            out["error"] = f"{type(e).__name__}: {e}"[:300]
    elif tool == "mlflow-sync":
        import mlflow

        t0 = _wait_for_go()
        try:
            mlflow = _mlflow(tool, tmp)
            _mlflow_experiment(mlflow, tmp)
            with mlflow.start_run() as run:
                print(RUN_TAG + run.info.run_id, flush=True)
                for i in range(m):
                    try:
                        mlflow.log_metric(KEY, 1.0 / (i + 1), step=i)
                        out["logged"] += 1
                    except Exception as e:
                        out["failed_calls"] = out.get("failed_calls", 0) + 1
                        out.setdefault("call_error", f"{type(e).__name__}: {e}"[:300])
        except Exception as e:
            out["error"] = f"{type(e).__name__}: {e}"[:300]
    elif tool == "trackio":
        import trackio

        t0 = _wait_for_go()
        try:
            trackio = _trackio_init(name=f"writer-{idx}")
            print(RUN_TAG + f"writer-{idx}", flush=True)
            for i in range(m):
                trackio.log({KEY: 1.0 / (i + 1)}, step=i)
                out["logged"] = i + 1
            trackio.finish()
        except Exception as e:
            out["error"] = f"{type(e).__name__}: {e}"[:300]
    else:
        raise ValueError(f"writer: unknown tool {tool!r}")
    out["seconds"] = time.perf_counter() - t0
    return out


def w_reader(tool: str, tmp: Path, p: dict[str, Any]) -> dict[str, Any]:
    """Read the store in a loop until the driver writes ``stop`` on stdin."""
    if tool == "tracklite":
        tl = _import_tracklite()
    elif tool == "mlflow-sync":
        import mlflow  # noqa: F401
    elif tool == "trackio":
        import trackio  # noqa: F401
    interval = float(p.get("interval", 0.0))
    _wait_for_go()
    reads = errors = 0
    first_error = None
    mlflow_mod = None
    opened = False
    while not select.select([sys.stdin], [], [], 0)[0]:
        try:
            if tool == "tracklite":
                if not (_store(tmp) / "store.duckdb").exists():
                    time.sleep(0.01)
                    continue
                if not opened:
                    tl.set_tracking_uri(str(_store(tmp) / "store.duckdb"))
                    opened = True
                _tracklite_read(tl)
            elif tool == "mlflow-sync":
                if not (_store(tmp) / "mlflow.db").exists():
                    time.sleep(0.01)
                    continue
                mlflow_mod = mlflow_mod or _mlflow(tool, tmp)
                mlflow_mod.search_runs(search_all_experiments=True)
            elif tool == "trackio":
                if not any((tmp / "store").glob("*.db")):
                    time.sleep(0.01)
                    continue
                _trackio_count(tmp)
            reads += 1
            if interval:
                time.sleep(interval)
        except Exception as e:
            errors += 1
            first_error = first_error or f"{type(e).__name__}: {e}"[:300]
            time.sleep(0.01)
    return {"reads": reads, "read_errors": errors, "first_read_error": first_error}


def _tracklite_read(tl: Any) -> None:
    """One read of the whole store: ``search_runs`` if tracklite has it, else a SQL count."""
    if hasattr(tl, "search_runs"):
        tl.search_runs(experiment_names=[EXPERIMENT])
    elif hasattr(tl, "sql"):
        _scalar(tl.sql("select count(*) from metric_history"))
    else:  # until search_runs lands: a lighter read of the same store
        tl.search_experiments()


def w_init_store(tool: str, tmp: Path, p: dict[str, Any]) -> dict[str, Any]:
    """Create the store and the experiment ahead of a multi-process run (the "pre-created"
    variant, which shows MLflow's throughput once its schema migration race is avoided)."""
    if tool == "mlflow-sync":
        _mlflow_experiment(_mlflow(tool, tmp), tmp)
    elif tool == "tracklite":
        tl = _import_tracklite()
        tl.set_tracking_uri(str(_store(tmp) / "store.duckdb"))
        tl.set_experiment(EXPERIMENT)
    return {}


def w_count_runs(tool: str, tmp: Path, p: dict[str, Any]) -> dict[str, Any]:
    """Points per run id after all writers have finished, read by a fresh process."""
    counts: dict[str, int] = {}
    for run_id in p["run_ids"]:
        try:
            if tool == "tracklite":
                tl = _import_tracklite()
                tl.set_tracking_uri(str(_store(tmp) / "store.duckdb"))
                counts[run_id] = _tracklite_count(tl, run_id, KEY)
            elif tool == "mlflow-sync":
                counts[run_id] = _mlflow_sqlite_count(tmp, run_id, KEY)
            elif tool == "trackio":
                counts[run_id] = _trackio_count(tmp, run_name=run_id)
        except ToolUnavailable:
            raise
        except Exception as e:
            counts[run_id] = 0
            print(f"count of run {run_id} failed: {e}", file=sys.stderr)
    return {"counts": counts, "total": sum(counts.values())}


WORKERS = {
    "fluent": w_fluent,
    "series": w_series,
    "size": w_size,
    "sigkill_log": w_sigkill_log,
    "sigkill_count": w_sigkill_count,
    "writer": w_writer,
    "reader": w_reader,
    "count_runs": w_count_runs,
    "init_store": w_init_store,
}


def _worker_main(spec: dict[str, Any]) -> None:
    _forbid_network()
    tool, scenario, tmp = spec["tool"], spec["scenario"], Path(spec["tmp"])
    try:
        result = WORKERS[scenario](tool, tmp, spec.get("params", {}))
    except ToolUnavailable as e:
        result = {"unavailable": str(e)}
    except Exception as e:
        import traceback

        traceback.print_exc()
        result = {"error": f"{type(e).__name__}: {e}"[:500]}
    result["network_attempts"] = _NET_ATTEMPTS[:5]
    sys.stdout.write("\n" + RESULT_TAG + json.dumps(result) + "\n")
    sys.stdout.flush()
    if scenario == "size":
        return  # a normal exit, so every tool closes its store as a user's program would
    # Skip interpreter teardown (atexit hooks of the tools may block or print); the
    # measured work, including each tool's own flush, is already done.
    os._exit(0)


# --------------------------------------------------------------------------------------------
# Helpers used by the driver
# --------------------------------------------------------------------------------------------


def _cmd(tool: str, scenario: str, tmp: Path, params: dict[str, Any]) -> list[str]:
    spec = {"tool": tool, "scenario": scenario, "tmp": str(tmp), "params": params}
    return [sys.executable, str(Path(__file__).resolve()), "worker", json.dumps(spec)]


def _parse(stdout: str, stderr: str, returncode: int) -> dict[str, Any]:
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG) :])
    tail = (stderr or stdout).strip().splitlines()[-3:]
    return {"error": f"worker exited with {returncode} without a result: {' | '.join(tail)}"}


def dir_bytes(path: Path, *, only_under: str | None = None) -> int:
    """Total size of the regular files below ``path`` (optionally only below directories
    named ``only_under``, e.g. MLflow file store's ``metrics``)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        if only_under is not None and only_under not in Path(root).parts:
            continue
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def _checkpoint_sqlite(store: Path) -> None:
    """Fold SQLite write-ahead logs into their database, as closing the last connection
    does; a store left with a ``-wal`` file would otherwise be measured twice."""
    import sqlite3

    for wal in store.rglob("*-wal"):
        db = wal.with_name(wal.name[: -len("-wal")])
        if db.exists():
            con = sqlite3.connect(db)
            try:
                con.execute("pragma wal_checkpoint(TRUNCATE)")
            finally:
                con.close()


def new_tmp(tool: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"tlbench-{tool}-"))


def run_worker(
    tool: str,
    scenario: str,
    params: dict[str, Any] | None = None,
    *,
    tmp: Path | None = None,
    timeout: float = 600,
    keep: bool = False,
    expect_kill: bool = False,
) -> dict[str, Any]:
    """Run one scenario for one tool in a fresh interpreter; returns its JSON result.

    ``tmp`` (created if not given) is removed afterwards unless ``keep``; with ``keep`` the
    result carries ``store_bytes`` (all files under ``<tmp>/store`` after the worker exited)
    and ``metric_file_bytes`` (files under directories named ``metrics``, MLflow file store).
    """
    params = params or {}
    own_tmp = tmp is None
    tmp = tmp or new_tmp(tool)
    try:
        proc = subprocess.run(
            _cmd(tool, scenario, tmp, params),
            env=worker_env(tool, tmp),
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if expect_kill:
            result = {"returncode": proc.returncode}
            if proc.returncode != -signal.SIGKILL:
                result.update(_parse(proc.stdout, proc.stderr, proc.returncode))
                result.setdefault("error", f"expected SIGKILL, exit code {proc.returncode}")
            return result
        result = _parse(proc.stdout, proc.stderr, proc.returncode)
        if keep or scenario == "size":
            _checkpoint_sqlite(tmp / "store")
            result["store_files"] = {
                str(f.relative_to(tmp / "store")): f.stat().st_size
                for f in sorted((tmp / "store").glob("*"))
                if f.is_file()
            }
            result["store_bytes"] = dir_bytes(tmp / "store")
            result["metric_file_bytes"] = dir_bytes(tmp / "store", only_under="metrics")
        return result
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    finally:
        if own_tmp and not keep:
            shutil.rmtree(tmp, ignore_errors=True)


def run_sigkill(tool: str, n: int, delay: float, *, timeout: float = 600) -> dict[str, Any]:
    """Log ``n`` points, sleep ``delay`` s, SIGKILL; a new process counts what survived."""
    tmp = new_tmp(tool)
    try:
        t0 = time.perf_counter()
        killed = run_worker(
            tool,
            "sigkill_log",
            {"n": n, "delay": delay},
            tmp=tmp,
            expect_kill=True,
            timeout=timeout,
        )
        seconds = time.perf_counter() - t0
        if "error" in killed or "unavailable" in killed:
            return killed
        counted = run_worker(tool, "sigkill_count", {}, tmp=tmp, timeout=timeout)
        if "recovered" in counted:
            counted["fraction"] = counted["recovered"] / n
        counted.update({"n": n, "delay": delay, "log_and_kill_seconds": seconds})
        return counted
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _dump_stack(pid: int, dest: Path) -> None:
    """Best effort: where a hung worker is stuck (needs ``py-spy``; silently skipped)."""
    exe = shutil.which("py-spy")
    if exe is None:
        return
    try:
        proc = subprocess.run([exe, "dump", "--pid", str(pid)], capture_output=True, text=True, timeout=30)
        dest.write_text(proc.stdout)
    except (OSError, subprocess.TimeoutExpired):
        pass


def _innermost(dump: str) -> str:
    """``" in f (file:line) <- g (...)"`` from a py-spy dump of the main thread."""
    frames = []
    for line in dump.splitlines()[1:]:
        if line.startswith("Thread ") and frames:
            break
        if line.startswith("    "):
            frames.append(line.strip())
    return f" in {' <- '.join(frames[:3])}" if frames else ""


def run_multiproc(
    tool: str,
    procs: int,
    m: int,
    *,
    precreate: bool = False,
    reader_interval: float = 0.0,
    timeout: float = 180,
) -> dict[str, Any]:
    """``procs`` writers (``m`` points each, own run) plus one reader, released at once on a
    store that does not exist yet. Wall time runs from the release to the last writer's exit
    (each writer ends its run, which flushes); points are then counted by a fresh process.
    Writers still running ``timeout`` s after the release are killed and reported as hung
    (with their stack if ``py-spy`` is installed). The reader reads in a tight loop, or every
    ``reader_interval`` s."""
    tmp = new_tmp(tool)
    env = worker_env(tool, tmp)
    children: list[subprocess.Popen[str]] = []
    everyone: list[subprocess.Popen[str]] = []
    try:
        if precreate:
            init = run_worker(tool, "init_store", {}, tmp=tmp, timeout=timeout)
            if "unavailable" in init or "error" in init:
                return init
        logs = tmp / "logs"
        logs.mkdir()
        files = []

        def start(scenario: str, params: dict[str, Any], name: str) -> subprocess.Popen[str]:
            out = open(logs / f"{name}.out", "w+")  # noqa: SIM115 - closed below
            err = open(logs / f"{name}.err", "w+")  # noqa: SIM115
            files.extend([out, err])
            return subprocess.Popen(
                _cmd(tool, scenario, tmp, params),
                env=env,
                cwd=tmp,
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=err,
                text=True,
            )

        def text(name: str) -> str:
            return (logs / name).read_text(errors="replace")

        for k in range(procs):
            children.append(start("writer", {"m": m, "index": k}, f"writer-{k}"))
        reader = start("reader", {"interval": reader_interval}, "reader")
        everyone.extend([*children, reader])
        names = [f"writer-{k}" for k in range(procs)] + ["reader"]
        # Wait until every process has imported its library and is blocked on stdin.
        deadline = time.monotonic() + 300
        pending = set(range(len(everyone)))
        while pending and time.monotonic() < deadline:
            for i in list(pending):
                out = text(f"{names[i]}.out")
                if READY_TAG in out:
                    pending.discard(i)
                elif everyone[i].poll() is not None:  # died before READY
                    res = _parse(out, text(f"{names[i]}.err"), everyone[i].returncode)
                    for other in everyone:
                        other.kill()
                    return res
            time.sleep(0.02)
        if pending:
            return {"error": "workers did not become ready within 300 s"}
        t0 = time.perf_counter()
        for c in everyone:
            assert c.stdin is not None
            c.stdin.write("go\n")
            c.stdin.flush()
        hung = []
        for k, c in enumerate(children):
            try:
                c.wait(timeout=max(0.1, timeout - (time.perf_counter() - t0)))
            except subprocess.TimeoutExpired:
                hung.append(k)
        wall = time.perf_counter() - t0
        for k in hung:
            _dump_stack(children[k].pid, logs / f"writer-{k}.stack")
            children[k].kill()
            children[k].wait()
        assert reader.stdin is not None
        reader.stdin.write("stop\n")
        reader.stdin.flush()
        try:
            reader.wait(timeout=60)
        except subprocess.TimeoutExpired:
            reader.kill()
            reader.wait()
        for f in files:
            f.close()
        outs = [(text(f"writer-{k}.out"), text(f"writer-{k}.err"), c.returncode) for k, c in enumerate(children)]
        rout, rerr = text("reader.out"), text("reader.err")
        writers = [_parse(o, e, rc) for o, e, rc in outs]
        for k in hung:
            stack = logs / f"writer-{k}.stack"
            where = _innermost(stack.read_text()) if stack.exists() else ""
            writers[k] = {"error": f"hung: killed after {timeout:.0f} s{where}"}
        run_ids = [
            line[len(RUN_TAG) :].strip() for o, _e, _rc in outs for line in o.splitlines() if line.startswith(RUN_TAG)
        ]
        for w in writers:
            if "unavailable" in w:
                return w
        count = run_worker(tool, "count_runs", {"run_ids": run_ids}, tmp=tmp, timeout=timeout)
        if "unavailable" in count:
            return count
        expected = procs * m
        arrived = int(count.get("total", 0))
        errors = sorted({w["error"] for w in writers if "error" in w})
        call_errors = sorted({w["call_error"] for w in writers if "call_error" in w})
        return {
            "procs": procs,
            "m": m,
            "precreated": precreate,
            "expected": expected,
            "arrived": arrived,
            "lost": expected - arrived,
            "runs_started": len(run_ids),
            "writers_hung": len(hung),
            "timeout_seconds": timeout,
            "wall_seconds": wall,
            "points_per_s": arrived / wall,
            "attempted_points_per_s": expected / wall,
            "writer_errors": errors[:3],
            "writers_failed": sum(1 for w in writers if "error" in w),
            "failed_log_calls": sum(int(w.get("failed_calls", 0)) for w in writers),
            "call_errors": call_errors[:3],
            "reader": _parse(rout, rerr, reader.returncode),
            "count_error": count.get("error"),
        }
    finally:
        for c in everyone or children:
            if c.poll() is None:
                c.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def import_time(module: str | None, *, reps: int = 5) -> dict[str, Any]:
    """Best of ``reps`` wall times of ``python -c "import module"`` (``None``: ``pass``)."""
    tmp = new_tmp("import")
    code = f"import {module}" if module else "pass"
    env = worker_env(module or "python", tmp)
    best = float("inf")
    try:
        for _ in range(reps):
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp, capture_output=True, text=True)
            elapsed = time.perf_counter() - t0
            if proc.returncode != 0:
                tail = proc.stderr.strip().splitlines()[-1:] or ["?"]
                msg = f'`python -c "{code}"` failed: {tail[0]}'
                if module == "tracklite":
                    return {"unavailable": f"tracklite not importable: {tail[0]}"}
                return {"error": msg}
            best = min(best, elapsed)
        return {"seconds": best, "reps": reps}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "worker":
        _worker_main(json.loads(sys.argv[2]))
    else:
        sys.exit("usage: python benches/peers.py worker '<json spec>'  (started by tracking.py)")
