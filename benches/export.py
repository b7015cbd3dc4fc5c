"""Export to an MLflow ``mlruns`` tree: tracklite's export beside MLflow writing the same data.

Usage::

    python benches/export.py            # 1,000 runs x 10 metrics x 1,000 steps (10M points)
    python benches/export.py --quick    # 100 runs (1M points)

Rows, each tool in a fresh process:

* tracklite: ``tracklite.export_mlruns`` of a store holding the runs (built beforehand in
  another process with ``log_metric_series``; its build time is shown for reference) into an
  empty folder: wall time and peak resident memory of the exporting process.
* MLflow: the same runs written by MLflow 3 to its own file store (``MLFLOW_ALLOW_FILE_STORE``)
  with ``MlflowClient.log_batch``, 1,000 points per call (MLflow's limit): wall time and peak
  memory. This is what an MLflow user pays to get the same tree.

Then the other way, reading MLflow's tree into a database, each in a fresh process:

* tracklite: ``tracklite.import_mlruns`` of MLflow's tree into a new store.
* MLflow: ``mlflow migrate-filestore`` of the same tree into a new SQLite store, MLflow's own
  way from a file store to its default backend (peak memory of that child process).

Both trees are checked: the number of metric lines written must be runs x metrics x steps,
and both databases must hold that many points.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peers
import tracking

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench-out" / "export.json"
METRICS = 10
STEPS = 1000
MEMORY_TARGET_MB = 500


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _values(run: int, metric: int) -> Any:
    import numpy as np

    steps = np.arange(STEPS)
    return 1.0 / (1.0 + steps * (metric + 1) / 100.0) + run * 1e-6


def w_build(tmp: Path, runs: int) -> dict[str, Any]:
    import tracklite

    client = tracklite.Client(str(tmp / "store.duckdb"))
    exp = client.create_experiment("export-bench")
    t0 = time.perf_counter()
    for r in range(runs):
        run_id = client.create_run(exp, run_name=f"run-{r}").info.run_id
        client.log_param(run_id, "lr", str(0.001 * (r + 1)))
        for m in range(METRICS):
            client.log_metric_series(run_id, f"metric_{m}", _values(r, m))
        client.set_terminated(run_id)
    client.flush()
    return {"build_s": time.perf_counter() - t0}


def w_tracklite(tmp: Path, runs: int) -> dict[str, Any]:
    import tracklite

    before = _peak_mb()
    t0 = time.perf_counter()
    counts = tracklite.export_mlruns(str(tmp / "mlruns"), tracking_uri=str(tmp / "store.duckdb"))
    return {"s": time.perf_counter() - t0, "peak_mb": _peak_mb(), "baseline_mb": before, "counts": counts}


def w_mlflow(tmp: Path, runs: int) -> dict[str, Any]:
    import logging

    import mlflow
    from mlflow.entities import Metric, Param

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    before = _peak_mb()
    client = mlflow.MlflowClient(f"file:{tmp / 'mlruns'}")
    t0 = time.perf_counter()
    exp = client.create_experiment("export-bench")
    now = int(time.time() * 1000)
    for r in range(runs):
        run_id = client.create_run(exp, run_name=f"run-{r}").info.run_id
        client.log_batch(run_id, params=[Param("lr", str(0.001 * (r + 1)))])
        for m in range(METRICS):
            values = _values(r, m)
            metrics = [Metric(f"metric_{m}", float(v), now, s) for s, v in enumerate(values)]
            for start in range(0, STEPS, 1000):
                client.log_batch(run_id, metrics=metrics[start : start + 1000])
        client.set_terminated(run_id)
    return {"s": time.perf_counter() - t0, "peak_mb": _peak_mb(), "baseline_mb": before}


def w_tracklite_import(tmp: Path, runs: int) -> dict[str, Any]:
    import tracklite

    before = _peak_mb()
    t0 = time.perf_counter()
    counts = tracklite.import_mlruns(str(tmp / "mlruns"), tracking_uri=str(tmp / "imported.duckdb"))
    return {"s": time.perf_counter() - t0, "peak_mb": _peak_mb(), "baseline_mb": before, "points": counts["metrics"]}


def w_mlflow_import(tmp: Path, runs: int) -> dict[str, Any]:
    import sqlite3

    db = tmp / "migrated.db"
    cmd = [sys.executable, "-m", "mlflow", "migrate-filestore", "--source", str(tmp / "mlruns")]
    t0 = time.perf_counter()
    subprocess.run([*cmd, "--target", f"sqlite:///{db}", "--no-progress"], check=True, capture_output=True)
    elapsed = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    with sqlite3.connect(db) as con:
        points = con.execute("SELECT count(*) FROM metrics").fetchone()[0]
    return {"s": elapsed, "peak_mb": peak, "points": points}


WORKERS = {
    "build": w_build,
    "tracklite": w_tracklite,
    "mlflow": w_mlflow,
    "tracklite-import": w_tracklite_import,
    "mlflow-import": w_mlflow_import,
}


def _metric_lines(tree: Path) -> int:
    total = 0
    for path in tree.rglob("*"):
        if path.is_file() and "metrics" in path.relative_to(tree).parts and "models" not in path.parts:
            with path.open("rb") as f:
                total += sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    return total


def run(worker: str, tmp: Path, runs: int) -> dict[str, Any]:
    spec = json.dumps({"worker": worker, "tmp": str(tmp), "runs": runs})
    env = peers.worker_env("mlflow-file" if worker == "mlflow" else "tracklite", tmp)
    proc = subprocess.run(
        [sys.executable, __file__, "worker", spec], capture_output=True, text=True, env=env, timeout=7200
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{worker} failed:\n{proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="100 runs instead of 1,000")
    ap.add_argument(
        "--reuse-mlflow",
        metavar="JSON",
        help="take MLflow's rows from an earlier run's raw results (its two steps take ~35 minutes here); "
        "tracklite then imports its own tree, which holds the same data",
    )
    args = ap.parse_args(argv)
    runs = 100 if args.quick else 1000
    earlier = json.loads(Path(args.reuse_mlflow).read_text()) if args.reuse_mlflow else None
    if earlier is not None and earlier["runs"] != runs:
        raise SystemExit(f"{args.reuse_mlflow} holds a run of {earlier['runs']} runs, not {runs}")
    points = runs * METRICS * STEPS
    base = Path(tempfile.mkdtemp(prefix="export-bench-"))
    started = time.perf_counter()
    try:
        tl_dir, ml_dir = base / "tracklite", base / "mlflow"
        tl_dir.mkdir()
        ml_dir.mkdir()
        print(f"building a tracklite store of {runs} runs ...", file=sys.stderr)
        built = run("build", tl_dir, runs)
        print("tracklite export ...", file=sys.stderr)
        tl = run("tracklite", tl_dir, runs)
        tl["lines"] = _metric_lines(tl_dir / "mlruns")
        if earlier is None:
            print("MLflow writing its file store ...", file=sys.stderr)
            ml = run("mlflow", ml_dir, runs)
            ml["lines"] = _metric_lines(ml_dir / "mlruns")
            print("tracklite importing MLflow's tree ...", file=sys.stderr)
            tl_in = run("tracklite-import", ml_dir, runs)
            print("mlflow migrate-filestore of the same tree ...", file=sys.stderr)
            ml_in = run("mlflow-import", ml_dir, runs)
        else:
            ml, ml_in = earlier["mlflow"], earlier["mlflow_import"]
            print("tracklite importing its own tree (MLflow's rows reused) ...", file=sys.stderr)
            tl_in = run("tracklite-import", tl_dir, runs)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    for name, res in (("tracklite", tl), ("MLflow", ml)):
        if res["lines"] != points:
            raise RuntimeError(f"{name} wrote {res['lines']} metric lines, expected {points}")
    for name, res in (("tracklite", tl_in), ("MLflow", ml_in)):
        if res["points"] != points:
            raise RuntimeError(f"{name} read {res['points']} metric points, expected {points}")
    n = tracking.fmt_n(points)
    mem_ok = tl["peak_mb"] <= MEMORY_TARGET_MB
    body = [
        ["X", "write an mlruns tree: time", n, f"{tl['s']:.1f} s", f"{ml['s']:.1f} s", tracking.ratio(tl["s"], ml["s"]),
         "lower", "-"],
        ["X", "write an mlruns tree: metric points per second", n, tracking.fmt(points / tl["s"], "pts/s"),
         tracking.fmt(points / ml["s"], "pts/s"), tracking.ratio(points / tl["s"], points / ml["s"]), "higher", "-"],
        ["X", "peak resident memory of the writing process", n, f"{tl['peak_mb']:.0f} MB", f"{ml['peak_mb']:.0f} MB",
         tracking.ratio(tl["peak_mb"], ml["peak_mb"]), "lower",
         f"{'yes' if mem_ok else 'NO'} (tracklite <= {MEMORY_TARGET_MB} MB)"],
        ["I", "read MLflow's tree into a database: time", n, f"{tl_in['s']:.1f} s", f"{ml_in['s']:.1f} s",
         tracking.ratio(tl_in["s"], ml_in["s"]), "lower", "-"],
        ["I", "read MLflow's tree: metric points per second", n, tracking.fmt(points / tl_in["s"], "pts/s"),
         tracking.fmt(points / ml_in["s"], "pts/s"), tracking.ratio(points / tl_in["s"], points / ml_in["s"]),
         "higher", "-"],
        ["I", "peak resident memory of the reading process", n, f"{tl_in['peak_mb']:.0f} MB",
         f"{ml_in['peak_mb']:.0f} MB", tracking.ratio(tl_in["peak_mb"], ml_in["peak_mb"]), "lower", "-"],
    ]  # fmt: skip
    headers = ["#", "measure", "N", "tracklite", "MLflow", "tracklite/MLflow", "better", "target met?"]
    from importlib import metadata

    lines = [
        "tracklite export benchmark: export_mlruns beside MLflow writing its file store, and import_mlruns beside "
        "mlflow migrate-filestore, one run on this machine",
        f"machine: {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}",
        f"versions: tracklite {metadata.version('tracklite')}, duckdb {metadata.version('duckdb')}, "
        f"mlflow {metadata.version('mlflow')}",
        f"data: {runs} runs x {METRICS} metrics x {STEPS} steps; tracklite store built in {built['build_s']:.1f} s "
        f"(not counted); total {time.perf_counter() - started:.0f} s",
        "ratio = tracklite / MLflow"
        + (f"; MLflow's rows are reused from {args.reuse_mlflow} (--reuse-mlflow)" if earlier else ""),
        "",
        *tracking.text_table(headers, body, {2, 3, 4, 5}, [row[0] for row in body]),
        "",
        f"raw results: {OUT.relative_to(ROOT)}",
        "command: python benches/export.py"
        + (" --quick" if args.quick else "")
        + (f" --reuse-mlflow {args.reuse_mlflow}" if earlier else ""),
    ]
    OUT.parent.mkdir(exist_ok=True)
    raw = {
        "runs": runs,
        "build": built,
        "tracklite": tl,
        "mlflow": ml,
        "tracklite_import": tl_in,
        "mlflow_import": ml_in,
    }
    OUT.write_text(json.dumps(raw, indent=2, default=str))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "worker":
        spec = json.loads(sys.argv[2])
        result = WORKERS[spec["worker"]](Path(spec["tmp"]), spec["runs"])
        print(json.dumps(result, default=str))
    else:
        sys.exit(main())
