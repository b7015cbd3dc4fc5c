"""tracklite's query side beside MLflow's (SQLite store), from one run on this machine.

Usage::

    python benches/query.py                    # 10,000 runs each (~1-1.5 hours on 2 cores: the two builds)
    python benches/query.py --quick            # 1,000 runs each (~8 minutes)
    python benches/query.py --mlflow-runs 2000 # MLflow holds fewer runs than tracklite (said in the output)
    python benches/query.py --store-dir /tmp/qstores   # keep the stores; the next run reopens them

The data set is 10,000 runs in one experiment, each with 20 params, 10 tags and 10 metrics of
100 steps (10 M points), written by each tool through ``log_batch``; plus one run in a second
experiment holding a 1,000,000-point metric. Each tool builds (or reopens) its store in a fresh
subprocess and then runs the timed queries in that same process: one warm-up call, then the
best of ``--repeat`` (5). What each row measures is described in ``benches/README.md``. Build
tracklite in release mode first (``maturin develop --release`` or ``pip install .``).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peers
import tracking

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench-out" / "query.json"
PROGRESS_TAG = "@@PROGRESS "

# Bump when the generated data changes, so --store-dir rebuilds stores made by an older script.
DATA_VERSION = 1
SEED = 20250101
EXPERIMENT = "query-bench"
LONG_EXPERIMENT = "query-bench-long"
STEPS = 100
BASE_TS = 1_750_000_000_000  # epoch ms; step s of run i is stamped BASE_TS + i * 1_000_000 + s * 1000

FILTER = "metrics.val_loss < 0.5 and params.lr = '0.01'"
ORDER_BY = ["metrics.val_loss ASC"]
MAX_RESULTS_A = 100
MAX_RESULTS_B = 100_000

# Targets of issue 3 (seconds; "speedup" = MLflow time / tracklite time).
TARGETS: dict[str, dict[str, float]] = {
    "a": {"max_s": 0.050, "min_speedup": 20.0},
    "b": {"max_s": 0.500},
    "c": {"max_s": 0.050},
}

PLANS: dict[str, dict[str, int]] = {
    "full": {"runs": 10_000, "long_points": 1_000_000, "mlflow_long_points": 1_000_000},
    "quick": {"runs": 1_000, "long_points": 1_000_000, "mlflow_long_points": 100_000},
}

# One timed query stops repeating once its timed calls have taken this long (at least 2 calls),
# so an MLflow call of 30 s costs a warm-up and 3 calls (~2 minutes), not a warm-up and 5.
QUERY_BUDGET_S = 90.0
# Fast queries repeat until their timed calls add up to this (at most MAX_REPEATS calls).
MIN_TIMED_S = 1.0
MAX_REPEATS = 50

# ---- the data set -------------------------------------------------------------------------

PARAM_CHOICES: list[tuple[str, list[str]]] = [
    ("lr", ["0.1", "0.03", "0.01", "0.003", "0.001"]),
    ("batch", ["16", "32", "64", "128", "256"]),
    ("optimizer", ["adam", "adamw", "sgd", "rmsprop"]),
    ("dropout", ["0.0", "0.1", "0.2", "0.3", "0.5"]),
    ("model", ["resnet18", "resnet50", "vit-s", "vit-b", "convnext-t"]),
    ("hidden", ["128", "256", "512", "1024"]),
    ("weight_decay", ["0", "1e-5", "1e-4", "1e-3"]),
    ("scheduler", ["cosine", "linear", "step", "none"]),
    ("activation", ["relu", "gelu", "silu"]),
    ("init", ["kaiming", "xavier", "normal"]),
    ("precision", ["fp32", "bf16", "fp16"]),
    ("augment", ["none", "light", "heavy"]),
    ("label_smoothing", ["0.0", "0.05", "0.1"]),
    ("momentum", ["0.8", "0.9", "0.95", "0.99"]),
    ("grad_clip", ["0.5", "1.0", "5.0", "none"]),
    ("epochs", ["10", "20", "50", "100"]),
    ("warmup_steps", ["0", "100", "500", "1000"]),
]  # + layers (1-12), data_fraction (random), seed (the run index): 20 params
TAG_CHOICES: list[tuple[str, list[str]]] = [
    ("team", ["vision", "nlp", "speech", "rl"]),
    ("dataset", ["imagenet", "cifar10", "cifar100", "coco", "wiki"]),
    ("priority", ["low", "medium", "high"]),
    ("stage", ["dev", "staging", "prod"]),
    ("framework", ["torch", "jax", "tf"]),
    ("cluster", ["a100-1", "a100-2", "h100-1", "cpu-pool"]),
    ("purpose", ["sweep", "baseline", "ablation", "debug"]),
    ("host", [f"node-{k:02d}" for k in range(32)]),
]  # + git_commit (random hex), note (free text): 10 tags
METRIC_KEYS = [
    "val_loss",
    "train_loss",
    "acc",
    "val_acc",
    "f1",
    "precision",
    "recall",
    "grad_norm",
    "lr_now",
    "throughput",
]


def run_data(i: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[list[float]], list[int]]:
    """Params, tags, metric values (one list of ``STEPS`` floats per ``METRIC_KEYS`` entry)
    and timestamps of run ``i``; deterministic, the same for both tools. The last
    ``val_loss`` is about uniform in [0.2, 1.2] and ``lr`` is one of 5 values, so
    ``metrics.val_loss < 0.5 and params.lr = '0.01'`` matches ~6% of the runs."""
    import numpy as np

    rng = np.random.default_rng(SEED + i)
    picks = rng.integers(0, 1_000_000, size=len(PARAM_CHOICES) + len(TAG_CHOICES))
    params = [(k, vals[int(p) % len(vals)]) for (k, vals), p in zip(PARAM_CHOICES, picks, strict=False)]
    params += [
        ("layers", str(int(rng.integers(1, 13)))),
        ("data_fraction", f"{rng.uniform(0.1, 1.0):.3f}"),
        ("seed", str(i)),
    ]
    tag_picks = picks[len(PARAM_CHOICES) :]
    tags = [(k, vals[int(p) % len(vals)]) for (k, vals), p in zip(TAG_CHOICES, tag_picks, strict=True)]
    tags += [("git_commit", f"{int(rng.integers(0, 2**40)):010x}"), ("note", f"benchmark run {i}")]

    s = np.arange(STEPS, dtype=np.float64)
    final = rng.uniform(0.2, 1.2)
    decay = np.exp(-s / rng.uniform(10.0, 30.0))
    noise = rng.normal(0.0, 0.01, size=(4, STEPS))
    val_loss = final + (2.5 - final) * decay + noise[0]
    val_loss[-1] = final  # the value filters and order_by see
    train_loss = 0.8 * final + (2.5 - 0.8 * final) * decay + noise[1]
    acc = np.clip(1.0 - train_loss / 3.0 + noise[2], 0.0, 1.0)
    val_acc = np.clip(1.0 - val_loss / 3.0 + noise[3], 0.0, 1.0)
    f1 = val_acc * rng.uniform(0.9, 1.0)
    precision = np.clip(val_acc + rng.normal(0.0, 0.02, STEPS), 0.0, 1.0)
    recall = np.clip(val_acc + rng.normal(0.0, 0.02, STEPS), 0.0, 1.0)
    grad_norm = rng.lognormal(0.0, 0.5, STEPS)
    lr_now = float(params[0][1]) * 0.5 * (1.0 + np.cos(np.pi * s / STEPS))
    throughput = rng.normal(1000.0, 50.0, STEPS)
    values = [
        m.tolist() for m in (val_loss, train_loss, acc, val_acc, f1, precision, recall, grad_norm, lr_now, throughput)
    ]
    ts0 = BASE_TS + i * 1_000_000
    timestamps = [ts0 + k * 1000 for k in range(STEPS)]
    return params, tags, values, timestamps


# ---- worker (runs in a fresh interpreter) -------------------------------------------------


def progress_line(msg: str) -> None:
    print(PROGRESS_TAG + msg, file=sys.stderr, flush=True)


class NotImplementedYet(Exception):
    """The tracklite API under test does not exist yet."""


class Tool:
    """One tool's store and the calls the benchmark makes; subclassed per tool."""

    name = ""

    def __init__(self, store: Path) -> None:
        self.store = store

    # building
    def create_experiment(self, name: str) -> str: ...
    def add_run(self, exp_id: str, i: int, data: Any) -> str: ...
    def finish_build(self) -> None: ...
    def log_long(self, exp_id: str, values: Any) -> str: ...

    # queries
    def query_a(self, exp_id: str) -> Any: ...
    def query_b(self, exp_id: str) -> Any: ...
    def query_c(self, run_id: str) -> Any: ...
    def query_d(self, run_id: str) -> Any: ...

    def info(self) -> dict[str, Any]:
        return {}


class TrackliteTool(Tool):
    name = "tracklite"

    def __init__(self, store: Path) -> None:
        super().__init__(store)
        tl = peers._import_tracklite()
        self.tl = tl
        self.path = str(store / "store.duckdb")
        self.client = tl.Client(self.path)
        tl.set_tracking_uri(self.path)

    def info(self) -> dict[str, Any]:
        return {"module": self.tl.__file__}

    def create_experiment(self, name: str) -> str:
        return str(self.client.create_experiment(name))

    def add_run(self, exp_id: str, i: int, data: Any) -> str:
        tl, client = self.tl, self.client
        params, tags, values, ts = data
        run_id = client.create_run(exp_id, run_name=f"run-{i:05d}").info.run_id
        client.log_batch(run_id, params=[tl.Param(k, v) for k, v in params], tags=[tl.RunTag(k, v) for k, v in tags])
        client.log_batch(
            run_id,
            metrics=[
                tl.Metric(key, v, ts[s], s)
                for key, vals in zip(METRIC_KEYS, values, strict=True)
                for s, v in enumerate(vals)
            ],
        )
        client.set_terminated(run_id)
        return str(run_id)

    def finish_build(self) -> None:
        self.client.flush()

    def log_long(self, exp_id: str, values: Any) -> str:
        run_id = self.client.create_run(exp_id, run_name="long").info.run_id
        self.client.log_metric_series(run_id, "long", values)
        self.client.flush()
        self.client.set_terminated(run_id)
        return str(run_id)

    def query_a(self, exp_id: str) -> Any:
        if not hasattr(self.client, "search_runs"):
            raise NotImplementedYet("tracklite.Client has no search_runs")
        return self.client.search_runs([exp_id], FILTER, order_by=ORDER_BY, max_results=MAX_RESULTS_A)

    def query_b(self, exp_id: str) -> Any:
        if not hasattr(self.tl, "search_runs"):
            raise NotImplementedYet("tracklite has no search_runs")
        return self.tl.search_runs(experiment_ids=[exp_id], output_format="pandas", max_results=MAX_RESULTS_B)

    def query_c(self, run_id: str) -> Any:
        return self.client.get_metric_series(run_id, "long")

    def query_d(self, run_id: str) -> Any:
        return self.client.get_metric_history(run_id, "val_loss")


class MlflowTool(Tool):
    name = "mlflow"

    def __init__(self, store: Path) -> None:
        super().__init__(store)
        import mlflow
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.tracking import MlflowClient

        self.mlflow = mlflow
        self.Metric, self.Param, self.RunTag = Metric, Param, RunTag
        self.uri = f"sqlite:///{store / 'mlflow.db'}"
        mlflow.set_tracking_uri(self.uri)
        self.client = MlflowClient(tracking_uri=self.uri)

    def info(self) -> dict[str, Any]:
        return {"module": self.mlflow.__file__, "uri": self.uri}

    def create_experiment(self, name: str) -> str:
        artifacts = (self.store.parent / "artifacts" / name).as_uri()
        return str(self.client.create_experiment(name, artifact_location=artifacts))

    def add_run(self, exp_id: str, i: int, data: Any) -> str:
        client, Metric, Param, RunTag = self.client, self.Metric, self.Param, self.RunTag
        params, tags, values, ts = data
        run_id = client.create_run(exp_id, run_name=f"run-{i:05d}").info.run_id
        # 1000 metrics + 30 params/tags exceed MLflow's 1000 entities per batch: two batches
        # (tracklite enforces the same limits and gets the same two calls).
        client.log_batch(run_id, params=[Param(k, v) for k, v in params], tags=[RunTag(k, v) for k, v in tags])
        client.log_batch(
            run_id,
            metrics=[
                Metric(key, v, ts[s], s)
                for key, vals in zip(METRIC_KEYS, values, strict=True)
                for s, v in enumerate(vals)
            ],
        )
        client.set_terminated(run_id)
        return str(run_id)

    def finish_build(self) -> None:
        pass  # every MLflow call above was synchronous

    def log_long(self, exp_id: str, values: Any) -> str:
        client, Metric = self.client, self.Metric
        run_id = client.create_run(exp_id, run_name="long").info.run_id
        ts = int(time.time() * 1000)
        for start in range(0, len(values), 1000):  # MLflow's limit of metrics per log_batch
            part = values[start : start + 1000].tolist()
            client.log_batch(run_id, metrics=[Metric("long", v, ts, start + j) for j, v in enumerate(part)])
        client.set_terminated(run_id)
        return str(run_id)

    def query_a(self, exp_id: str) -> Any:
        return self.client.search_runs([exp_id], FILTER, order_by=ORDER_BY, max_results=MAX_RESULTS_A)

    def query_b(self, exp_id: str) -> Any:
        return self.mlflow.search_runs(experiment_ids=[exp_id], max_results=MAX_RESULTS_B)

    def query_c(self, run_id: str) -> Any:
        return self.client.get_metric_history(run_id, "long")

    def query_d(self, run_id: str) -> Any:
        return self.client.get_metric_history(run_id, "val_loss")


def _manifest_ok(manifest: dict[str, Any], want: dict[str, Any]) -> bool:
    return all(manifest.get(k) == v for k, v in want.items())


def build(tool: Tool, runs: int, long_points: int) -> dict[str, Any]:
    """Create the data set; the clock runs only around each tool's calls (and the
    construction of its Metric/Param/RunTag objects), not around generating the numbers."""
    import numpy as np

    out: dict[str, Any] = {"runs": runs, "long_points": long_points}
    t_wall = time.perf_counter()
    exp_id = tool.create_experiment(EXPERIMENT)
    long_exp_id = tool.create_experiment(LONG_EXPERIMENT)
    timed = 0.0
    run_ids: list[str] = []
    report_every = max(1, runs // 20)
    for i in range(runs):
        data = run_data(i)
        t0 = time.perf_counter()
        run_ids.append(tool.add_run(exp_id, i, data))
        timed += time.perf_counter() - t0
        if (i + 1) % report_every == 0 and i + 1 < runs:
            per_run = timed / (i + 1)
            eta = per_run * (runs - i - 1)
            progress_line(f"{tool.name}: {i + 1:,}/{runs:,} runs, {per_run * 1000:.1f} ms/run, ~{eta:.0f} s to go")
    t0 = time.perf_counter()
    tool.finish_build()
    flush_s = time.perf_counter() - t0
    out.update(
        {
            "runs_seconds": timed,
            "final_flush_seconds": flush_s,
            "total_seconds": timed + flush_s,
            "seconds_per_run": (timed + flush_s) / runs,
            "wall_seconds": time.perf_counter() - t_wall,
            "points": runs * len(METRIC_KEYS) * STEPS,
        }
    )
    progress_line(f"{tool.name}: {runs:,} runs in {timed + flush_s:.1f} s; now the {long_points:,}-point series")
    values = np.random.default_rng(SEED).random(long_points)
    t0 = time.perf_counter()
    long_run = tool.log_long(long_exp_id, values)
    out["long_log_seconds"] = time.perf_counter() - t0
    out["long_points_per_s"] = long_points / out["long_log_seconds"]
    out.update(
        {
            "experiment_id": exp_id,
            "long_experiment_id": long_exp_id,
            "long_run_id": long_run,
            "sample_run_id": run_ids[runs // 2],
            "sample_run_name": f"run-{runs // 2:05d}",
        }
    )
    return out


def timed_query(fn: Any, summarize: Any, repeat: int) -> dict[str, Any]:
    """One warm-up call, then timed calls; the best is the result.

    At least ``repeat`` calls, and more (up to ``MAX_REPEATS``) until they add up to
    ``MIN_TIMED_S``, so a 20 ms query is sampled as often as noise on a shared machine
    needs; stopping early, after at least 2, once they add up to ``QUERY_BUDGET_S``. The
    same rule applies to every tool.
    """
    try:
        t0 = time.perf_counter()
        result = fn()
        warmup = time.perf_counter() - t0
        summary = summarize(result)
        del result
        times: list[float] = []
        while len(times) < MAX_REPEATS and (len(times) < repeat or sum(times) < MIN_TIMED_S):
            t0 = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - t0)
            del result
            if len(times) >= 2 and sum(times) > QUERY_BUDGET_S:
                break
    except NotImplementedYet as e:
        return {"not_implemented": str(e)}
    except NotImplementedError as e:
        return {"not_implemented": f"NotImplementedError: {e}"}
    except Exception as e:
        import traceback

        traceback.print_exc()
        return {"error": f"{type(e).__name__}: {e}"[:500]}
    return {"seconds": min(times), "times": times, "warmup_seconds": warmup, "repeats": len(times), **summary}


def _summary_a(runs: Any) -> dict[str, Any]:
    runs = list(runs)
    return {
        "rows": len(runs),
        "run_names": [r.info.run_name for r in runs],
        "val_loss": [r.data.metrics.get("val_loss") for r in runs],
        "lr": sorted({r.data.params.get("lr") for r in runs}),
        "params_per_run": len(runs[0].data.params) if runs else 0,
    }


def _summary_b(df: Any) -> dict[str, Any]:
    return {"rows": len(df), "columns": int(df.shape[1]), "type": type(df).__name__}


def _summary_c(series: Any) -> dict[str, Any]:
    if isinstance(series, dict):
        return {"rows": len(series["value"]), "type": "dict of " + type(series["value"]).__name__}
    return {"rows": len(series), "type": type(series).__name__}


def _summary_d(history: Any) -> dict[str, Any]:
    return {"rows": len(history), "type": f"list of {type(history[0]).__name__}" if history else "list"}


def w_query(tool_name: str, tmp: Path, p: dict[str, Any]) -> dict[str, Any]:
    runs, long_points, repeat = int(p["runs"]), int(p["long_points"]), int(p["repeat"])
    store = tmp / "store"
    manifest_path = tmp / "manifest.json"
    want = {"data_version": DATA_VERSION, "runs": runs, "long_points": long_points, "tool": tool_name}
    manifest: dict[str, Any] | None = None
    if p.get("reuse") and manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if not _manifest_ok(manifest, want):
            manifest = None
    if manifest is None:
        shutil.rmtree(store, ignore_errors=True)
        shutil.rmtree(tmp / "artifacts", ignore_errors=True)
        manifest_path.unlink(missing_ok=True)
    store.mkdir(parents=True, exist_ok=True)

    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    tool: Tool = TrackliteTool(store) if tool_name == "tracklite" else MlflowTool(store)
    out: dict[str, Any] = {"open_seconds": time.perf_counter() - t0, **tool.info()}
    if manifest is None:
        progress_line(f"{tool_name}: building {runs:,} runs")
        b = build(tool, runs, long_points)
        manifest = {**want, "build": b, "built_at": time.strftime("%Y-%m-%d %H:%M:%S")}
        manifest_path.write_text(json.dumps(manifest, indent=2))
        out["reopened"] = False
    else:
        progress_line(f"{tool_name}: reopened the store built {manifest['built_at']}")
        out["reopened"] = True
    b = manifest["build"]
    out["build"] = b
    out["built_at"] = manifest["built_at"]
    out["store_bytes"] = peers.dir_bytes(store)

    exp_id = b["experiment_id"]
    queries = {
        "a": (lambda: tool.query_a(exp_id), _summary_a),
        "b": (lambda: tool.query_b(exp_id), _summary_b),
        "c": (lambda: tool.query_c(b["long_run_id"]), _summary_c),
        "d": (lambda: tool.query_d(b["sample_run_id"]), _summary_d),
    }
    out["queries"] = {}
    for name, (fn, summarize) in queries.items():
        progress_line(f"{tool_name}: query {name} (warm-up + best of >= {repeat})")
        out["queries"][name] = r = timed_query(fn, summarize, repeat)
        if "seconds" in r:
            progress_line(f"{tool_name}: query {name}: best {r['seconds'] * 1000:.1f} ms, {r['rows']:,} rows")
    out["load_average_1min"] = [load_before, os.getloadavg()[0]]
    return out


def _worker_main(spec: dict[str, Any]) -> None:
    peers._forbid_network()
    try:
        result = w_query(spec["tool"], Path(spec["tmp"]), spec["params"])
    except peers.ToolUnavailable as e:
        result = {"unavailable": str(e)}
    except Exception as e:
        import traceback

        traceback.print_exc()
        result = {"error": f"{type(e).__name__}: {e}"[:500]}
    result["network_attempts"] = peers._NET_ATTEMPTS[:5]
    sys.stdout.write("\n" + peers.RESULT_TAG + json.dumps(result) + "\n")
    sys.stdout.flush()
    # A normal exit, so tracklite closes its store as a user's program would (--store-dir
    # reopens it later).


# ---- driver -------------------------------------------------------------------------------


def progress(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run_tool(tool: str, params: dict[str, Any], store_dir: Path | None, timeout: float) -> dict[str, Any]:
    """Run the worker of ``tool`` in a fresh interpreter, forwarding its progress lines."""
    tmp = store_dir / tool if store_dir else peers.new_tmp(f"query-{tool}")
    tmp.mkdir(parents=True, exist_ok=True)
    env = peers.worker_env("mlflow-sync" if tool == "mlflow" else tool, tmp)
    spec = {"tool": tool, "tmp": str(tmp), "params": {**params, "reuse": store_dir is not None}}
    cmd = [sys.executable, str(Path(__file__).resolve()), "worker", json.dumps(spec)]
    stdout_path = tmp / f"worker-{os.getpid()}.out"
    tail: collections.deque[str] = collections.deque(maxlen=20)
    timed_out = threading.Event()
    try:
        with open(stdout_path, "w+") as out:
            proc = subprocess.Popen(cmd, env=env, cwd=tmp, stdout=out, stderr=subprocess.PIPE, text=True)

            def kill() -> None:
                timed_out.set()
                proc.kill()

            timer = threading.Timer(timeout, kill)
            timer.start()
            try:
                assert proc.stderr is not None
                for line in proc.stderr:
                    if line.startswith(PROGRESS_TAG):
                        progress(line[len(PROGRESS_TAG) :].rstrip())
                    else:
                        tail.append(line.rstrip())
                proc.wait()
            finally:
                timer.cancel()
            out.seek(0)
            stdout = out.read()
        if timed_out.is_set():
            return {"error": f"timed out after {timeout:.0f} s"}
        return peers._parse(stdout, "\n".join(tail), proc.returncode)
    finally:
        stdout_path.unlink(missing_ok=True)
        if store_dir is None:
            shutil.rmtree(tmp, ignore_errors=True)


def fmt_time(s: float | None) -> str:
    if s is None:
        return "n/a"
    if s < 1e-3:
        return f"{s * 1e6:.3g} µs"
    if s < 1:
        return f"{s * 1e3:.3g} ms"
    return f"{s:.3g} s"


def ratio_text(tl: float | None, peer: float | None, better: str) -> str:
    """``tracklite / peer`` as in tracking.py, plus how many times faster when lower wins."""
    if tl is None or peer is None or peer == 0 or tl == 0:
        return "n/a"
    base = tracking.ratio(tl, peer)
    if better.startswith("lower") and tl < peer:
        return f"{base} ({peer / tl:,.0f}x faster)" if peer / tl >= 10 else f"{base} ({peer / tl:.2g}x faster)"
    if better.startswith("higher") and tl > peer:
        return f"{base} ({tl / peer:,.0f}x faster)" if tl / peer >= 10 else f"{base} ({tl / peer:.2g}x faster)"
    return base


class Report:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.notes: list[str] = []

    def row(
        self,
        key: str,
        measure: str,
        n_tl: Any,
        n_peer: Any,
        tl: float | None,
        peer: float | None,
        *,
        unit: str = "s",
        better: str = "lower",
        tl_text: str | None = None,
        peer_text: str | None = None,
        ratio: str | None = None,
        target: str = "-",
    ) -> None:
        def text(v: float | None) -> str:
            return fmt_time(v) if unit == "s" else tracking.fmt(v, unit)

        self.rows.append(
            {
                "key": key,
                "measure": measure,
                "n_tracklite": n_tl,
                "n_peer": n_peer,
                "tracklite": tl,
                "peer_value": peer,
                "unit": unit,
                "ratio": None if tl is None or not peer else tl / peer,
                "ratio_text": ratio or ratio_text(tl, peer, better),
                "better": better,
                "target": target,
                "tracklite_text": tl_text or text(tl),
                "peer_text": peer_text or text(peer),
            }
        )


def _value(res: dict[str, Any], *path: str) -> float | None:
    cur: Any = res
    for k in path:
        if not isinstance(cur, dict) or k not in cur:
            return None
        cur = cur[k]
    return float(cur) if isinstance(cur, (int, float)) else None


def _query_text(q: dict[str, Any] | None, unavailable: bool) -> str | None:
    if unavailable:
        return "n/a"
    if q is None:
        return "n/a"
    if "not_implemented" in q:
        return "n/a (not implemented yet)"
    if "error" in q:
        return "error (see notes)"
    return None


def _target(key: str, tl: float | None, peer: float | None, tl_q: dict[str, Any] | None) -> str:
    t = TARGETS.get(key)
    if t is None:
        return "-"
    want = f"<= {fmt_time(t['max_s'])}" + (f", >= {t['min_speedup']:.0f}x faster" if "min_speedup" in t else "")
    if tl is None:
        return f"n/a (target {want})"
    ok = tl <= t["max_s"]
    parts = [f"{fmt_time(tl)} {'<=' if ok else '>'} {fmt_time(t['max_s'])}"]
    if "min_speedup" in t:
        if peer is None:
            return f"{'n/a' if ok else 'NO'}: {parts[0]}, speedup needs MLflow"
        else:
            sp = peer / tl
            ok = ok and sp >= t["min_speedup"]
            parts.append(f"{sp:,.0f}x {'>=' if sp >= t['min_speedup'] else '<'} {t['min_speedup']:.0f}x")
    return ("yes: " if ok else "NO: ") + ", ".join(parts)


def report(res: dict[str, dict[str, Any]], plan: dict[str, Any]) -> Report:
    rep = Report()
    tl_res, ml_res = res.get("tracklite", {}), res.get("mlflow", {})
    tl_unavail = "unavailable" in tl_res
    for tool, r in res.items():
        label = "tracklite" if tool == "tracklite" else "MLflow"
        if "error" in r:
            rep.notes.append(f"{label} worker failed: {r['error']}")
        if r.get("network_attempts"):
            rep.notes.append(f"{label} tried the network (refused): {', '.join(r['network_attempts'])}")
        if r.get("reopened"):
            rep.notes.append(
                f"{label}: reopened the store built {r.get('built_at')} (--store-dir); its build rows are "
                "the times measured then"
            )
    n_tl = _value(tl_res, "build", "runs") or (plan["runs"] if "tracklite" in res else None)
    n_ml = _value(ml_res, "build", "runs") or (plan["mlflow_runs"] if "mlflow" in res else None)
    n_tl_i = int(n_tl) if n_tl else None
    n_ml_i = int(n_ml) if n_ml else None

    # Build
    rep.row(
        "build",
        "bulk create: per run (create_run, 2 log_batch, set_terminated)",
        n_tl_i,
        n_ml_i,
        _value(tl_res, "build", "seconds_per_run"),
        _value(ml_res, "build", "seconds_per_run"),
    )
    rep.row(
        "build",
        "bulk create: total (tracklite incl. final flush)",
        n_tl_i,
        n_ml_i,
        _value(tl_res, "build", "total_seconds"),
        _value(ml_res, "build", "total_seconds"),
        ratio="n/a (N differ)" if n_tl_i and n_ml_i and n_tl_i != n_ml_i else None,
    )
    lp_tl, lp_ml = _value(tl_res, "build", "long_points"), _value(ml_res, "build", "long_points")
    rep.row(
        "build",
        "log the long series (log_metric_series+flush vs log_batch, 1000/call)",
        int(lp_tl) if lp_tl else None,
        int(lp_ml) if lp_ml else None,
        _value(tl_res, "build", "long_points_per_s"),
        _value(ml_res, "build", "long_points_per_s"),
        unit="pts/s",
        better="higher",
    )

    # Queries
    titles = {
        "a": "a. Client.search_runs: filter metric+param, order_by metric, max 100",
        "b": "b. search_runs -> pandas DataFrame, all runs",
        "c": "c. long series: get_metric_series (numpy) vs get_metric_history",
        "d": "d. Client.get_metric_history, 100-point metric",
    }
    for key, title in titles.items():
        tq = (tl_res.get("queries") or {}).get(key)
        mq = (ml_res.get("queries") or {}).get(key)
        tl = _value(tq or {}, "seconds")
        peer = _value(mq or {}, "seconds")
        for label, q in (("tracklite", tq), ("MLflow", mq)):
            if q and "error" in q:
                rep.notes.append(f"{key} {label} error: {q['error']}")
        if key == "c":
            ntl, nml = _value(tq or {}, "rows"), _value(mq or {}, "rows")
            ntl = ntl or lp_tl
            nml = nml or lp_ml
            same_n = ntl is not None and ntl == nml
            rep.row(
                key,
                title,
                int(ntl) if ntl else None,
                int(nml) if nml else None,
                tl,
                peer,
                tl_text=_query_text(tq, tl_unavail),
                peer_text=_query_text(mq, False),
                ratio=None if same_n else "n/a (N differ; see per-point row)",
                target=_target(key, tl, None, tq),
            )
            rate_tl = ntl / tl if tl and ntl else None
            rate_ml = nml / peer if peer and nml else None
            rep.row(
                key,
                "   same, per point",
                int(ntl) if ntl else None,
                int(nml) if nml else None,
                rate_tl,
                rate_ml,
                unit="pts/s",
                better="higher",
                tl_text=_query_text(tq, tl_unavail),
                peer_text=_query_text(mq, False),
            )
            continue
        ratio = None
        if key in ("a", "b") and n_tl_i != n_ml_i and tl is not None and peer is not None:
            ratio = ratio_text(tl, peer, "lower") + " (N differ)"
        rep.row(
            key,
            title,
            n_tl_i,
            n_ml_i,
            tl,
            peer,
            tl_text=_query_text(tq, tl_unavail),
            peer_text=_query_text(mq, False),
            ratio=ratio,
            target=_target(key, tl, peer, tq),
        )
        if tq and "not_implemented" in tq:
            rep.notes.append(f"{key} tracklite: not implemented yet ({tq['not_implemented']})")
        for label, q in (("tracklite", tq), ("MLflow", mq)):
            if q and q.get("repeats", plan["repeat"]) < plan["repeat"]:
                rep.notes.append(
                    f"{key} {label}: best of {q['repeats']} (not {plan['repeat']}): the calls took "
                    f"{sum(q['times']):.0f} s, over the {QUERY_BUDGET_S:.0f} s budget per query"
                )

    # Cross-checks
    ta, ma = (tl_res.get("queries") or {}).get("a") or {}, (ml_res.get("queries") or {}).get("a") or {}
    if "run_names" in ta and "run_names" in ma:
        if n_tl_i == n_ml_i:
            same = ta["run_names"] == ma["run_names"]
            rep.notes.append(
                f"a: tracklite and MLflow return {'the same' if same else 'DIFFERENT'} "
                f"{len(ta['run_names'])} runs{' in the same order' if same else ''} "
                f"(tracklite {ta['rows']}, MLflow {ma['rows']} rows)"
            )
        else:
            rep.notes.append(f"a: rows returned: tracklite {ta['rows']}, MLflow {ma['rows']} (different data sets)")
    elif "rows" in ma:
        rep.notes.append(f"a: MLflow returns {ma['rows']} runs, lr values {ma.get('lr')}")
    for key in ("b", "c", "d"):
        parts = []
        for label, r in (("tracklite", tl_res), ("MLflow", ml_res)):
            q = (r.get("queries") or {}).get(key) or {}
            if "rows" in q:
                cols = f" x {q['columns']} columns" if "columns" in q else ""
                parts.append(f"{label} {q['rows']:,} rows{cols} ({q.get('type')})")
        if parts:
            rep.notes.append(f"{key}: " + "; ".join(parts))
    if n_tl_i and n_ml_i and n_ml_i < n_tl_i:
        rep.notes.insert(
            0,
            f"MLflow HOLDS FEWER RUNS THAN TRACKLITE: {n_ml_i:,} vs {n_tl_i:,} (--mlflow-runs); rows a, b "
            "and the build total compare different data set sizes",
        )
    if lp_tl and lp_ml and lp_ml != lp_tl:
        rep.notes.append(
            f"c: MLflow's long series holds {int(lp_ml):,} points, tracklite's {int(lp_tl):,}: compare "
            "the per-point row (absolute times are for different N)"
        )
    for tool, label in (("tracklite", "tracklite"), ("mlflow", "MLflow")):
        r = res.get(tool, {})
        if "store_bytes" in r:
            b = r.get("build", {})
            rep.notes.append(
                f"{label} store: {r['store_bytes'] / 1e6:,.0f} MB for {b.get('points', 0):,} + "
                f"{b.get('long_points', 0):,} points; opening it took {r.get('open_seconds', 0) * 1000:.0f} ms"
            )
    cpus = os.cpu_count() or 1
    for tool, label in (("tracklite", "tracklite"), ("mlflow", "MLflow")):
        load = res.get(tool, {}).get("load_average_1min")
        if load and max(load) > 0.75 * cpus:
            rep.notes.insert(
                0,
                f"BUSY MACHINE during {label}'s worker: 1-min load average {load[0]:.1f} at the start, "
                f"{load[1]:.1f} at the end, on {cpus} CPUs: its times are inflated by other processes",
            )
    module = tl_res.get("module")
    if module and not str(Path(module).resolve()).startswith(str(ROOT)):
        rep.notes.append(
            f"tracklite was imported from {module}, not from this checkout ({ROOT}): "
            "reinstall it (`maturin develop --release`) to measure the code here"
        )
    return rep


def render(rep: Report, env: dict[str, Any], command: str, elapsed: float, unavailable: str | None) -> str:
    headers = ["#", "measure", "N tracklite", "N MLflow", "tracklite", "MLflow sqlite", "tracklite/MLflow"]
    headers += ["better", "target met?"]
    body = [
        [
            r["key"],
            r["measure"],
            tracking.fmt_n(r["n_tracklite"]),
            tracking.fmt_n(r["n_peer"]),
            r["tracklite_text"],
            r["peer_text"],
            r["ratio_text"],
            r["better"],
            r["target"],
        ]
        for r in rep.rows
    ]
    v = env["versions"]
    out = [
        "tracklite query benchmarks: tracklite beside MLflow (sqlite store), one run on this machine",
        f"machine: {env['cpus']} CPUs, {env['platform']}, Python {env['python']}",
        "versions: " + ", ".join(f"{k} {v[k] or 'not installed'}" for k in v),
        f"mode: {env['mode']}; data set: runs x (20 params, 10 tags, 10 metrics x {STEPS} steps), "
        f"queries: warm-up + best of >= {env['repeat']} calls (fast ones: calls adding up to {MIN_TIMED_S:.0f} s, "
        f"at most {MAX_REPEATS}); total {elapsed:.0f} s",
        "ratio = tracklite / MLflow; the 'better' column says which direction wins",
        "",
        *tracking.text_table(
            headers, body, right={2, 3, 4, 5, 6}, groups=["build" if r["key"] == "build" else "query" for r in rep.rows]
        ),
    ]
    if unavailable:
        why = unavailable.removeprefix("tracklite not importable: ")
        out += ["", f"tracklite not importable: {why}", "  (build it with `maturin develop --release`)"]
    if env.get("build_note"):
        out += ["", env["build_note"]]
    if rep.notes:
        out += ["", "notes:"] + [f"  {' '.join(n.split())}" for n in rep.notes]
    out += ["", f"raw results: {os.path.relpath(OUT, Path.cwd())}", f"command: {command}"]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1,000 runs for both tools (~8 minutes)")
    ap.add_argument("--runs", type=int, help="runs in tracklite's data set (default 10,000; 1,000 with --quick)")
    ap.add_argument("--mlflow-runs", type=int, help="runs in MLflow's data set (default: the same as --runs)")
    ap.add_argument(
        "--mlflow-long-points",
        type=int,
        help="points of MLflow's long series for query c (default 1,000,000; 100,000 with --quick)",
    )
    ap.add_argument("--repeat", type=int, default=5, help="timed calls per query after one warm-up (best shown)")
    ap.add_argument("--only", choices=["tracklite", "mlflow"], help="run one tool only (the other's columns say n/a)")
    ap.add_argument(
        "--store-dir",
        type=Path,
        metavar="DIR",
        help="build the stores under DIR and keep them; a later run with the same sizes reopens them "
        "instead of building (the build rows then show the times measured when they were built)",
    )
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per tool before its worker is killed")
    args = ap.parse_args(argv)

    mode = "quick" if args.quick else "full"
    plan: dict[str, Any] = dict(PLANS[mode])
    if args.runs:
        plan["runs"] = args.runs
    plan["mlflow_runs"] = args.mlflow_runs or plan["runs"]
    if args.mlflow_long_points:
        plan["mlflow_long_points"] = args.mlflow_long_points
    plan["repeat"] = max(1, args.repeat)
    command = "python " + shlex.join(sys.argv if argv is None else [sys.argv[0], *argv])
    env = {
        "mode": mode,
        "repeat": plan["repeat"],
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {k: v for k, v in tracking.versions().items() if k != "trackio"},
        "build_note": tracking.tracklite_build_note(),
        "store_dir": str(args.store_dir) if args.store_dir else None,
    }
    store_dir = args.store_dir.resolve() if args.store_dir else None
    t0 = time.perf_counter()
    res: dict[str, dict[str, Any]] = {}
    for tool in ("tracklite", "mlflow"):
        if args.only and tool != args.only:
            continue
        runs = plan["runs"] if tool == "tracklite" else plan["mlflow_runs"]
        long_points = plan["long_points"] if tool == "tracklite" else plan["mlflow_long_points"]
        progress(f"{tool}: {runs:,} runs, long series {long_points:,} points")
        t1 = time.perf_counter()
        res[tool] = run_tool(
            tool, {"runs": runs, "long_points": long_points, "repeat": plan["repeat"]}, store_dir, args.timeout
        )
        res[tool]["worker_seconds"] = time.perf_counter() - t1
    elapsed = time.perf_counter() - t0
    rep = report(res, plan)
    unavailable = res.get("tracklite", {}).get("unavailable")
    text = render(rep, env, command, elapsed, unavailable)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(
            {
                "command": command,
                "environment": env,
                "plan": plan,
                "targets": TARGETS,
                "filter": FILTER,
                "order_by": ORDER_BY,
                "seconds": elapsed,
                "tracklite_unavailable": unavailable,
                "rows": rep.rows,
                "notes": rep.notes,
                "raw": res,
            },
            indent=2,
        )
    )
    print(text)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "worker":
        _worker_main(json.loads(sys.argv[2]))
    else:
        raise SystemExit(main())
