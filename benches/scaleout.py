"""Scale-out benchmark: the DuckLake backend (PostgreSQL catalog, Parquet data) beside the single file.

Everything runs on this machine, in one run, against a PostgreSQL server the script starts for
itself (Debian's, from ``/usr/lib/postgresql/<version>/bin``, owned by the ``postgres`` user
since PostgreSQL refuses root; a fresh cluster in a temporary folder on a free port of
127.0.0.1, trust authentication for the user ``tracklite``, ``fsync`` ON since durability is
part of what is measured). It is stopped and its folder removed at the end, whatever happens.
Each lake gets a PostgreSQL database of its own and a data folder of its own.

1. **Logging throughput** (points/s, higher is better), for N = 1, 4, 8 writer processes (and
   ``--writers``). Each cell uses a fresh single-file store and a fresh lake, both created (with
   the experiment ``scaleout``) by a separate process beforehand. Each writer is a fresh
   interpreter (``python -c CODE URI M``) that imports tracklite, calls ``set_tracking_uri``
   and ``set_experiment("scaleout")`` (which opens the store), prints ``@@READY`` and waits for
   a ``go`` line on stdin. Once all N are ready, ``go`` is sent to all of them; then each starts
   one run and calls ``tracklite.log_metric("loss", 1/(i+1), step=i)`` M times in a loop, and
   the run ends (``with tracklite.start_run()``, which flushes). Wall time runs from the release
   to the last writer's exit; throughput = N * M / wall. A fresh process then counts the points
   of every run in the store (``tracklite.query.sql`` over the ``metrics`` view) and the table
   shows the % that arrived (anything below 100% is a bug). The two backends run one after the
   other for each N, in alternating order (file then lake, lake then file, ...) so drifting
   load on the shared machine hits both alike.

2. **Search latency on 10,000 runs** (ms, lower is better). One process builds a single-file
   store with ``--runs`` runs in one experiment through ``tracklite.store.bulk_load.BulkLoader``
   (each run: params ``lr`` (5 distinct values) and ``depth``, a tag ``group``, metrics ``loss``
   and ``acc`` with 5 points each), then copies it into a lake with
   ``tracklite.exchange.migrate.migrate``, so both hold the same data. Then, in a fresh process
   per backend, each query runs once to warm up and is then timed ``--reps`` times
   (``tracklite.search_runs(experiment_ids=[...], filter_string=..., order_by=...,
   max_results=..., output_format="list")``): ``metrics.loss < 0.5`` (100 results), ``params.lr
   = '0.1' and metrics.acc > 0.9`` ordered by ``metrics.loss`` (100), no filter (1,000); and
   ``Client(uri).get_run(run_id)`` on different runs (a point read). Median and p90 are shown;
   the number of runs each query returned must be the same on both backends (a note says so).

The table goes to stdout, progress to stderr, the raw numbers to ``bench-out/scaleout.json``.
The machine is shared and noisy (2 cores; the writers, PostgreSQL and the driver share them):
differences under ~20% are not significant.

Usage::

    python benches/scaleout.py                  # 200,000 points per writer, 10,000 runs: a few minutes on 2 cores
    python benches/scaleout.py --quick          # 20,000 points per writer, 5 repetitions: 1-2 minutes
    python benches/scaleout.py --writers 1,2 --points 50000 --runs 2000 --reps 10
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bench_servers
from bench_servers import fmt_ms, fmt_ratio, free_port, pct, render, stop_on_sigterm

RESULT_TAG = "@@RESULT "
READY_TAG = "@@READY"
PG_USER = "tracklite"
BACKENDS = ("file", "lake")
LABELS = {"file": "single file", "lake": "lake"}
EXPERIMENT = "scaleout"
SEARCH_EXPERIMENT = "search"
LRS = ("0.001", "0.01", "0.03", "0.1", "0.3")
POINTS_PER_METRIC = 5
# name -> search_runs arguments (besides experiment_ids and output_format)
QUERIES: dict[str, dict[str, Any]] = {
    "metrics.loss < 0.5 (100)": {"filter_string": "metrics.loss < 0.5", "max_results": 100},
    "lr = '0.1' and acc > 0.9, by loss (100)": {
        "filter_string": "params.lr = '0.1' and metrics.acc > 0.9",
        "order_by": ["metrics.loss"],
        "max_results": 100,
    },
    "no filter (1,000)": {"filter_string": "", "max_results": 1000},
}
GET_RUN = "Client.get_run(run_id)"

# One writer: opens the store before the start signal, then one run of M points.
WRITER_CODE = r"""
import json, sys, time
import tracklite
uri, m = sys.argv[1], int(sys.argv[2])
tracklite.set_tracking_uri(uri)
tracklite.set_experiment("scaleout")
print("@@READY", flush=True)
sys.stdin.readline()
t0 = time.perf_counter()
with tracklite.start_run() as run:
    log_metric = tracklite.log_metric
    for i in range(m):
        log_metric("loss", 1.0 / (i + 1), step=i)
    loop_s = time.perf_counter() - t0
total_s = time.perf_counter() - t0
print("@@RESULT " + json.dumps({"run_id": run.info.run_id, "loop_s": loop_s, "run_s": total_s}), flush=True)
"""


def log(msg: str) -> None:
    print(f"[scaleout-bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------------


def _pg_bin_dir() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    if initdb is None:
        raise SystemExit("PostgreSQL is not installed: `apt-get install postgresql`.")
    return os.path.dirname(initdb)


def _as_owner(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class Postgres:
    """A PostgreSQL cluster of this run on 127.0.0.1 (``fsync`` on), trust auth for ``PG_USER``."""

    def __init__(self) -> None:
        self.bin_dir = _pg_bin_dir()
        # Not under a root-private folder: the server runs as postgres.
        self.folder = Path(tempfile.mkdtemp(prefix="tl-scaleout-postgres-"))
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
        self.data = self.folder / "data"
        self.host = "127.0.0.1"
        self.port = free_port()
        self.started = False
        self._databases = 0

    def start(self) -> None:
        init = subprocess.run(
            _as_owner(
                [
                    os.path.join(self.bin_dir, "initdb"),
                    "-D",
                    str(self.data),
                    "--auth=trust",
                    "-U",
                    PG_USER,
                    "-E",
                    "UTF8",
                ]
            ),
            capture_output=True,
            text=True,
            timeout=180,
        )
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed: {init.stdout}{init.stderr}")
        # fsync stays on (the default): a commit's durability is part of what is measured.
        options = f"-p {self.port} -h {self.host} -k {self.folder} -c max_connections=200"
        start = subprocess.run(
            _as_owner(
                [
                    self._pg_ctl(),
                    "-D",
                    str(self.data),
                    "-o",
                    options,
                    "-l",
                    str(self.folder / "server.log"),
                    "-w",
                    "start",
                ]
            ),
            capture_output=True,
            text=True,
            timeout=180,
        )
        if start.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not start: {start.stderr}\n{self.server_log()}")
        self.started = True

    def _pg_ctl(self) -> str:
        return os.path.join(self.bin_dir, "pg_ctl")

    def server_log(self) -> str:
        with contextlib.suppress(OSError):
            return (self.folder / "server.log").read_text(errors="replace")[-2000:]
        return ""

    def stop(self) -> None:
        """Stop the server (if it started) and remove its folder."""
        if self.started:
            subprocess.run(
                _as_owner([self._pg_ctl(), "-D", str(self.data), "-m", "fast", "-w", "stop"]),
                capture_output=True,
                timeout=180,
            )
            self.started = False
        shutil.rmtree(self.folder, ignore_errors=True)

    def conninfo(self, dbname: str = "postgres") -> str:
        return f"host={self.host} port={self.port} user={PG_USER} dbname={dbname}"

    def query(self, statement: str, dbname: str = "postgres") -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.conninfo(dbname), autocommit=True) as conn:
            cur = conn.execute(statement)
            return cur.fetchall() if cur.description else []

    def new_lake(self, parent: Path, label: str) -> str:
        """A fresh database and data folder for one lake; its tracking URI."""
        self._databases += 1
        name = f"lake_{self._databases}_{label}"
        self.query(f"CREATE DATABASE {name}")
        data = parent / f"{name}-data"
        data.mkdir(parents=True)
        return f"ducklake:postgresql://{PG_USER}@{self.host}:{self.port}/{name}?data_path={data}"

    def settings(self) -> dict[str, str]:
        names = (
            "server_version",
            "fsync",
            "synchronous_commit",
            "wal_sync_method",
            "shared_buffers",
            "max_connections",
        )
        return {n: str(self.query(f"SHOW {n}")[0][0]) for n in names}


# --------------------------------------------------------------------------------------------
# Workers (``python benches/scaleout.py worker '<json>'``; writers are ``python -c WRITER_CODE``)
# --------------------------------------------------------------------------------------------


def w_init(a: dict[str, Any]) -> dict[str, Any]:
    """Create the store (and the lake's schema) and the writers' experiment, untimed."""
    import tracklite

    tracklite.set_tracking_uri(a["uri"])
    exp = tracklite.set_experiment(EXPERIMENT)
    return {"experiment_id": exp.experiment_id}


def w_count(a: dict[str, Any]) -> dict[str, Any]:
    """Points of ``loss`` per run of the writers' experiment, and the runs' statuses."""
    from tracklite.query import sql

    rows = sql(
        "SELECT r.run_id, r.status, count(m.value) FROM runs r JOIN experiments e USING (experiment_id)"
        " LEFT JOIN metrics m ON m.run_id = r.run_id AND m.key = 'loss' WHERE e.name = ?"
        " GROUP BY r.run_id, r.status",
        [EXPERIMENT],
        tracking_uri=a["uri"],
    )
    runs = {str(r[0]): {"status": str(r[1]), "points": int(r[2])} for r in rows}
    return {"runs": runs, "total": sum(r["points"] for r in runs.values())}


def _run_records(n: int, experiment_id: str, seed: int = 42) -> Iterator[Any]:
    import numpy as np
    import pyarrow as pa
    from tracklite.store.bulk_load import RunRecord

    rng = np.random.default_rng(seed)
    t0 = 1_700_000_000_000
    steps = np.arange(POINTS_PER_METRIC, dtype=np.int64)
    for i in range(n):
        final_loss, final_acc = float(rng.uniform(0.0, 1.0)), float(rng.uniform(0.5, 1.0))
        # loss falls towards its final value, acc rises towards its own; the last point is the latest
        loss = final_loss + (POINTS_PER_METRIC - 1 - steps) * 0.1
        acc = final_acc - (POINTS_PER_METRIC - 1 - steps) * 0.05
        start = t0 + i * 1000
        ts = start + steps * 10
        table = pa.table(
            {
                "key": ["loss"] * POINTS_PER_METRIC + ["acc"] * POINTS_PER_METRIC,
                "step": np.concatenate([steps, steps]),
                "timestamp": np.concatenate([ts, ts]),
                "value": np.concatenate([loss, acc]).astype(np.float64),
            }
        )
        yield RunRecord(
            run_id=f"{i:08d}" + rng.bytes(12).hex(),
            experiment_id=experiment_id,
            run_name=f"run-{i}",
            user_id="bench",
            start_time=start,
            end_time=start + 500,
            params={"lr": LRS[i % len(LRS)], "depth": str(int(rng.integers(2, 13)))},
            tags={"group": f"g{i % 20}"},
            metrics=[table],
        )


def w_build(a: dict[str, Any]) -> dict[str, Any]:
    """The search data: ``runs`` runs in a file store (BulkLoader), then migrated into a lake."""
    import tracklite
    from tracklite.exchange.migrate import migrate
    from tracklite.store import get_store
    from tracklite.store.bulk_load import BulkLoader

    file_uri, lake_uri, n = a["file_uri"], a["lake_uri"], int(a["runs"])
    t0 = time.perf_counter()
    client = tracklite.Client(file_uri)
    experiment_id = client.create_experiment(SEARCH_EXPERIMENT)
    records = list(_run_records(n, experiment_id))
    with BulkLoader(get_store(file_uri)) as loader:  # type: ignore[arg-type]
        new = set(loader.new_run_ids(r.run_id for r in records))
        for rec in records:
            if rec.run_id in new:
                loader.add_run(rec)
    counts = dict(loader.counts)
    build_s = time.perf_counter() - t0
    get_store(file_uri).close()
    t1 = time.perf_counter()
    report = migrate(file_uri, lake_uri)
    migrate_s = time.perf_counter() - t1
    sample = [records[(k * 7919) % n].run_id for k in range(int(a["samples"]))]
    return {
        "experiment_id": experiment_id,
        "counts": counts,
        "build_s": build_s,
        "migrate_s": migrate_s,
        "migrate_rows": report.rows,
        "migrate_slices": report.slices_copied,
        "sample_run_ids": sample,
    }


def w_search(a: dict[str, Any]) -> dict[str, Any]:
    """Warm up each query once, then time it ``reps`` times; the same for ``get_run``."""
    import tracklite

    tracklite.set_tracking_uri(a["uri"])
    eid, reps = a["experiment_id"], int(a["reps"])
    out: dict[str, Any] = {}
    for name, q in QUERIES.items():
        kw = {"experiment_ids": [eid], "output_format": "list", **q}
        first = tracklite.search_runs(**kw)  # warm-up (also what it returns)
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            runs = tracklite.search_runs(**kw)
            times.append((time.perf_counter() - t0) * 1000)
        out[name] = {
            "ms": times,
            "results": len(runs),
            "first_ids": [r.info.run_id for r in first[:5]],
        }
    client = tracklite.Client(a["uri"])
    ids = a["run_ids"]
    client.get_run(ids[-1])  # warm-up
    times, bad = [], 0
    for rid in ids[:reps]:
        t0 = time.perf_counter()
        run = client.get_run(rid)
        times.append((time.perf_counter() - t0) * 1000)
        if run.data.params.get("lr") not in LRS or "loss" not in run.data.metrics:
            bad += 1
    out[GET_RUN] = {"ms": times, "results": len(times), "incomplete_runs": bad}
    return out


WORKERS = {"init": w_init, "count": w_count, "build": w_build, "search": w_search}


def worker_main(raw: str) -> None:
    spec = json.loads(raw)
    try:
        result = WORKERS[spec["task"]](spec)
    except Exception as e:
        import traceback

        traceback.print_exc()
        result = {"error": f"{type(e).__name__}: {e}"[:800]}
    sys.stdout.write("\n" + RESULT_TAG + json.dumps(result) + "\n")
    sys.stdout.flush()


def _result(stdout: str, stderr: str, rc: int | None) -> dict[str, Any]:
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_TAG):
            return dict(json.loads(line[len(RESULT_TAG) :]))
    tail = " | ".join((stderr or stdout).strip().splitlines()[-4:])
    return {"error": f"exited with {rc} without a result: {tail}"}


def run_worker(task: str, env: dict[str, str], cwd: Path, timeout: float = 1800, **args: Any) -> dict[str, Any]:
    """One fresh process running ``task``; its result (raises if it failed)."""
    spec = json.dumps({"task": task, **args})
    try:
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "worker", spec],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"worker {task} did not finish within {timeout:.0f} s") from e
    res = _result(proc.stdout, proc.stderr, proc.returncode)
    if "error" in res:
        raise RuntimeError(f"worker {task} failed: {res['error']}")
    return res


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------


def run_writers(uri: str, n: int, m: int, env: dict[str, str], cwd: Path, timeout: float) -> dict[str, Any]:
    """N writers released at once into ``uri``; wall time from release to the last exit."""
    logs = cwd / "logs"
    logs.mkdir(exist_ok=True)
    procs: list[subprocess.Popen[str]] = []
    errs = []
    try:
        for k in range(n):
            err = open(logs / f"writer-{k}.err", "w+")  # noqa: SIM115 - closed below
            errs.append(err)
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", WRITER_CODE, uri, str(m)],
                    env=env,
                    cwd=cwd,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=err,
                    text=True,
                )
            )
        t_ready = time.perf_counter()
        early: list[str] = []  # anything a writer printed before READY
        for k, p in enumerate(procs):  # each prints READY once it has opened the store
            assert p.stdout is not None
            while True:
                line = p.stdout.readline()
                if READY_TAG in line:
                    break
                if not line:  # EOF: it died before READY
                    p.wait()
                    errs[k].seek(0)
                    raise RuntimeError(f"writer {k} exited with {p.returncode} before READY: {errs[k].read()[-1500:]}")
                if line.strip():
                    early.append(f"writer {k}: {line.strip()}"[:300])
        ready_s = time.perf_counter() - t_ready
        t0 = time.perf_counter()
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        hung = 0
        for p in procs:
            try:
                p.wait(timeout=max(0.1, timeout - (time.perf_counter() - t0)))
            except subprocess.TimeoutExpired:
                hung += 1
                p.kill()
                p.wait()
        wall = time.perf_counter() - t0
        writers = []
        for k, p in enumerate(procs):
            assert p.stdout is not None
            out = p.stdout.read()
            errs[k].seek(0)
            writers.append(_result(out, errs[k].read(), p.returncode))
        return {"wall_s": wall, "ready_s": ready_s, "hung": hung, "writers": writers, "early_output": early[:20]}
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for f in errs:
            f.close()


def logging_cell(
    backend: str, n: int, m: int, pg: Postgres, tmp: Path, env: dict[str, str], timeout: float
) -> dict[str, Any]:
    cell_dir = tmp / f"log-{backend}-{n}"
    cell_dir.mkdir()
    uri = str(cell_dir / "store.duckdb") if backend == "file" else pg.new_lake(cell_dir, f"log{n}")
    run_worker("init", env, cell_dir, uri=uri)
    res = run_writers(uri, n, m, env, cell_dir, timeout)
    count = run_worker("count", env, cell_dir, uri=uri)
    expected = n * m
    res.update(
        {
            "backend": backend,
            "writers_n": n,
            "m": m,
            "expected": expected,
            "arrived": count["total"],
            "arrived_pct": 100.0 * count["total"] / expected,
            "runs": count["runs"],
            "points_per_s": expected / res["wall_s"],
        }
    )
    errors = [w["error"] for w in res["writers"] if "error" in w]
    res["writer_errors"] = errors[:3]
    shutil.rmtree(cell_dir, ignore_errors=True)  # the lake's data folder is in it too
    return res


def fmt_rate(v: float | None) -> str:
    if v is None:
        return "n/a"
    if v >= 1e6:
        return f"{v / 1e6:.3g} M/s"
    if v >= 1e3:
        return f"{v / 1e3:.3g} k/s"
    return f"{v:.3g} /s"


def table(R: dict[str, Any]) -> list[list[str]]:
    rows: list[list[str]] = []
    for n, cell in R["logging"].items():
        f, lk = cell["file"], cell["lake"]
        rows.append(
            [
                f"logging, {n} writer(s) x {f['m']:,} points: points/s",
                fmt_rate(f["points_per_s"]),
                fmt_rate(lk["points_per_s"]),
                fmt_ratio(lk["points_per_s"], f["points_per_s"], True),
                "higher",
            ]
        )
        rows.append(
            [
                "  points arrived",
                f"{f['arrived_pct']:.4g}%",
                f"{lk['arrived_pct']:.4g}%",
                "",
                "100% expected",
            ]
        )
    if R.get("search"):
        rows.append([""] * 5)
        rows.append([f"search latency on {R['search_runs']:,} runs (max_results in brackets)", "", "", "", ""])
        s = R["search"]
        for name in [*QUERIES, GET_RUN]:
            f, lk = s["file"][name], s["lake"][name]
            for q, label in ((0.5, "median"), (0.9, "p90")):
                fv, lv = pct(f["ms"], q), pct(lk["ms"], q)
                title = f"search: {name}" if name != GET_RUN else f"{GET_RUN}, point read"
                rows.append(
                    [
                        f"{title}: {label}" if label == "median" else f"  {label}",
                        fmt_ms(fv),
                        fmt_ms(lv),
                        fmt_ratio(lv, fv, False),
                        "lower",
                    ]
                )
    return rows


def notes(R: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for n, cell in R["logging"].items():
        for b in BACKENDS:
            c = cell[b]
            loops = [w["loop_s"] for w in c["writers"] if "loop_s" in w]
            runs = [w["run_s"] for w in c["writers"] if "run_s" in w]
            lo, hi = min(loops, default=0), max(loops, default=0)
            rlo, rhi = min(runs, default=0), max(runs, default=0)
            line = (
                f"{n} writer(s), {LABELS[b]}: wall {c['wall_s']:.2f} s (writers' own loop {lo:.2f}-{hi:.2f} s,"
                f" loop + end_run {rlo:.2f}-{rhi:.2f} s),"
                f" {c['arrived']:,} of {c['expected']:,} points in {len(c['runs'])} run(s)"
            )
            out.append(line)
            if c["early_output"]:
                out.append(
                    f"  stdout of writers while opening the store (before READY, untimed): {len(c['early_output'])}"
                    f" line(s), e.g. {c['early_output'][0]!r}"
                )
            if c["writer_errors"] or c["hung"] or c["arrived"] != c["expected"]:
                out.append(f"  PROBLEM: errors {c['writer_errors']}, hung {c['hung']}, runs {c['runs']}")
            statuses = {r["status"] for r in c["runs"].values()}
            if statuses - {"FINISHED"}:
                out.append(f"  PROBLEM: run statuses {sorted(statuses)}")
    if R.get("search"):
        b = R["search_build"]
        out.append(
            f"search data: {R['search_runs']:,} runs built by BulkLoader in {b['build_s']:.1f} s"
            f" ({b['counts']['metrics']:,} points), migrated to the lake in {b['migrate_s']:.1f} s"
            f" ({b['migrate_rows']:,} rows)"
        )
        s = R["search"]
        for name in [*QUERIES, GET_RUN]:
            f, lk = s["file"][name], s["lake"][name]
            same = f["results"] == lk["results"] and f.get("first_ids") == lk.get("first_ids")
            what = "runs read" if name == GET_RUN else "result(s)"
            out.append(
                f"{name}: {f['results']} {what} from the file, {lk['results']} from the lake"
                + ("" if same else "  PROBLEM: the backends disagree")
            )
            if f.get("incomplete_runs") or lk.get("incomplete_runs"):
                out.append(f"  PROBLEM: get_run returned runs without lr or loss: {f, lk}")
    return out


def versions() -> str:
    import importlib.metadata as md

    parts = []
    for pkg in ("tracklite", "duckdb", "psycopg", "pyarrow"):
        try:
            parts.append(f"{pkg} {md.version(pkg)}")
        except md.PackageNotFoundError:
            parts.append(f"{pkg} n/a")
    return ", ".join(parts)


PLANS = {
    "full": {"points": 200_000, "runs": 10_000, "reps": 20},
    "quick": {"points": 20_000, "runs": 10_000, "reps": 5},
}


def main() -> None:
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="20,000 points per writer, 5 repetitions: 1-2 minutes")
    ap.add_argument("--writers", default="1,4,8", help="comma-separated numbers of writer processes")
    ap.add_argument("--points", type=int, help="points per writer (M)")
    ap.add_argument("--runs", type=int, help="runs in the search store (0: skip the search part)")
    ap.add_argument("--reps", type=int, help="timed repetitions per query")
    ap.add_argument("--timeout", type=float, default=600, help="seconds before a cell's writers are killed")
    ap.add_argument("--out", default="bench-out/scaleout.json")
    args = ap.parse_args()
    p = dict(PLANS["quick" if args.quick else "full"])
    for k, v in (("points", args.points), ("runs", args.runs), ("reps", args.reps)):
        if v is not None:
            p[k] = v
    ns = [int(x) for x in args.writers.split(",") if x.strip()]
    m = int(p["points"])
    R: dict[str, Any] = {"plan": p, "writers": ns, "logging": {}, "search_runs": p["runs"]}
    t_start = time.perf_counter()
    pg = Postgres()
    tmp = Path(tempfile.mkdtemp(prefix="tl-scaleout-bench-"))
    try:
        env = bench_servers.clean_env(TRACKLITE_LAKE_LOGS=str(tmp / "lake-logs"))  # not ~/.cache
        log(f"starting PostgreSQL from {pg.bin_dir} on 127.0.0.1:{pg.port}")
        pg.start()
        R["postgres"] = pg.settings()
        log(f"PostgreSQL {R['postgres']['server_version']}, fsync {R['postgres']['fsync']}")
        for idx, n in enumerate(ns):
            order = BACKENDS if idx % 2 == 0 else BACKENDS[::-1]
            cell: dict[str, Any] = {}
            for b in order:
                c = logging_cell(b, n, m, pg, tmp, env, args.timeout)
                cell[b] = c
                log(
                    f"  {n} writer(s), {LABELS[b]}: {c['points_per_s']:,.0f} points/s (wall {c['wall_s']:.2f} s),"
                    f" {c['arrived_pct']:.4g}% arrived (load {os.getloadavg()[0]:.1f})"
                )
            cell["order"] = list(order)
            R["logging"][str(n)] = cell
        if p["runs"] > 0:
            sdir = tmp / "search"
            sdir.mkdir()
            file_uri = str(sdir / "store.duckdb")
            lake_uri = pg.new_lake(sdir, "search")
            log(f"building {p['runs']:,} runs (BulkLoader) and migrating them into a lake")
            samples = max(int(p["reps"]) + 1, 2)
            build = run_worker(
                "build", env, sdir, file_uri=file_uri, lake_uri=lake_uri, runs=p["runs"], samples=samples
            )
            R["search_build"] = build
            log(f"  built in {build['build_s']:.1f} s, migrated in {build['migrate_s']:.1f} s")
            R["search"] = {}
            for b, uri in (("file", file_uri), ("lake", lake_uri)):
                R["search"][b] = run_worker(
                    "search",
                    env,
                    sdir,
                    uri=uri,
                    experiment_id=build["experiment_id"],
                    reps=p["reps"],
                    run_ids=build["sample_run_ids"],
                )
                med = {k: f"{pct(v['ms'], 0.5):.1f}" for k, v in R["search"][b].items()}
                log(f"  search, {LABELS[b]}: medians (ms) {med}")
    finally:
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    total = time.perf_counter() - t_start
    R["total_s"] = total
    pgs = R["postgres"]
    cmd = "python " + " ".join(shlex.quote(x) for x in [os.path.relpath(sys.argv[0]), *sys.argv[1:]])
    header = ["measure", "single file", "lake", "lake/file", "better"]
    lines = [
        "tracklite scale-out benchmark: DuckLake (PostgreSQL catalog, Parquet data) beside the single DuckDB file,"
        " one run on this machine",
        f"command: {cmd}",
        f"machine: {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()},"
        f" load average at the end {os.getloadavg()[0]:.1f}",
        f"versions: {versions()}",
        f"PostgreSQL {pgs['server_version']} (this run's own cluster on 127.0.0.1): fsync={pgs['fsync']},"
        f" synchronous_commit={pgs['synchronous_commit']}, wal_sync_method={pgs['wal_sync_method']},"
        f" shared_buffers={pgs['shared_buffers']}, max_connections={pgs['max_connections']}",
        f"logging: N fresh writer processes each log {m:,} points (tracklite.log_metric in a loop, one run each),"
        " released at once after opening the store; wall = release to the last exit; a fresh store and lake"
        " per N, backends in alternating order",
        f"search: {p['runs']:,} runs (params lr, depth; tag group; metrics loss, acc x {POINTS_PER_METRIC} points),"
        f" one file store migrated into a lake; a fresh process per backend, 1 warm-up then {p['reps']} timed"
        f" repetitions; total {total:.0f} s",
        "ratio = lake / single file; 'better' says which direction wins. Shared, noisy 2-core machine:"
        " differences under ~20% are not significant.",
        "",
        render(table(R), header, {1, 2, 3}),
        "",
        "notes:",
        *[f"  {n}" for n in notes(R)],
        "",
        f"raw results: {args.out}",
        f"command: {cmd}",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(R, indent=1, default=str))
    print("\n".join(lines))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "worker":
        worker_main(sys.argv[2])
    else:
        main()
