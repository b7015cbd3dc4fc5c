"""tracklite's model side beside MLflow's, from one run on this machine.

Usage::

    python benches/models.py            # ~2 minutes on 2 cores
    python benches/models.py --quick    # 100,000-row enforcement, fewer repeats

Rows:

* Enforcement: a 10-column signature checked against a 1,000,000-row DataFrame, by
  tracklite (``tracklite.models.enforce.enforce_schema``, what ``PyFuncModel.predict`` runs)
  and by MLflow (``mlflow.models.utils._enforce_schema``, what MLflow's pyfunc ``predict``
  runs), in one process on the same frame: three rounds of ``--repeat`` calls per tool,
  the tools' blocks alternating; the best call counts. Two frames:
  "typed" (every column already has the schema's dtype) and "mixed" (five columns need a
  widening: int32 to long, int32 to double, float32 to double).
* ``log_model`` + ``load_model`` of a small scikit-learn model (LogisticRegression on iris),
  each tool in a fresh subprocess with its own store (tracklite's DuckDB file; MLflow's
  sqlite store with local artifacts), with default arguments, then with
  ``pip_requirements`` given (MLflow otherwise infers requirements in a subprocess).
* The registry, in the same processes (rows from the ``pip_requirements`` run):
  ``register_model`` of the logged model, a stage transition plus an alias, and loading
  ``models:/iris@champion``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
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
OUT = ROOT / "bench-out" / "models.json"
TARGET_S = 0.020
TARGET_SPEEDUP = 10.0
BLOCKS = 3


def make_frames(rows: int) -> dict[str, Any]:
    """The schema and the two frames of the enforcement rows."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    schema_types = ["double"] * 5 + ["long"] * 2 + ["double"] * 2 + ["string"]
    names = [f"c{i}" for i in range(10)]
    typed: dict[str, Any] = {}
    mixed: dict[str, Any] = {}
    for i, (name, kind) in enumerate(zip(names, schema_types, strict=True)):
        if kind == "double":
            typed[name] = rng.random(rows)
            mixed[name] = rng.integers(0, 1000, rows, dtype="int32") if i in (7, 8) else rng.random(rows)
            if i == 4:
                mixed[name] = rng.random(rows, dtype="float32")
        elif kind == "long":
            typed[name] = rng.integers(0, 1 << 40, rows, dtype="int64")
            mixed[name] = rng.integers(0, 1 << 30, rows, dtype="int32")
        else:
            labels = np.array(["red", "green", "blue"], dtype=object)[rng.integers(0, 3, rows)]
            typed[name] = labels
            mixed[name] = labels
    schema_json = json.dumps(
        [{"type": t, "name": n, "required": True} for n, t in zip(names, schema_types, strict=True)]
    )
    return {
        "schema_json": schema_json,
        "typed": pd.DataFrame(typed),
        "mixed": pd.DataFrame(mixed),
    }


def bench_enforcement(rows: int, repeat: int) -> dict[str, Any]:
    """Best time of each tool on each frame, interleaved in this process."""
    import logging

    import mlflow.types
    from mlflow.models.utils import _enforce_schema as mlflow_enforce
    from tracklite.models.enforce import enforce_schema
    from tracklite.types import Schema

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    data = make_frames(rows)
    ours = Schema.from_json(data["schema_json"])
    theirs = mlflow.types.Schema.from_json(data["schema_json"])
    out: dict[str, Any] = {"rows": rows}
    for frame_name in ("typed", "mixed"):
        frame = data[frame_name]
        a = enforce_schema(frame, ours)
        b = mlflow_enforce(frame, theirs)
        assert list(a.dtypes) == list(b.dtypes), (frame_name, list(a.dtypes), list(b.dtypes))
        times: dict[str, list[float]] = {"tracklite": [], "mlflow": []}
        # Blocks of calls per tool, the blocks alternating: each tool runs as a serving loop
        # would (its allocator and caches warm: the first few calls of a block run slower, after
        # the other tool has churned the caches), and noise still falls on both.
        for _ in range(BLOCKS):
            for tool, fn, schema in (("tracklite", enforce_schema, ours), ("mlflow", mlflow_enforce, theirs)):
                for _ in range(repeat):
                    t0 = time.perf_counter()
                    fn(frame, schema)
                    times[tool].append(time.perf_counter() - t0)
        out[frame_name] = {tool: min(ts) for tool, ts in times.items()} | {"all": times}
    return out


# -- log_model + load_model, one fresh subprocess per tool -------------------------------------------


def _worker(tool: str, tmp: Path, explicit_requirements: bool) -> dict[str, Any]:
    import warnings

    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    warnings.simplefilter("ignore")
    x, y = load_iris(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=500).fit(x, y)
    reqs = {"pip_requirements": ["scikit-learn", "numpy", "pandas"]} if explicit_requirements else {}
    if tool == "tracklite":
        tl = peers._import_tracklite()
        import tracklite.pyfunc
        import tracklite.sklearn

        registry: Any = tl
        load_pyfunc: Any = tracklite.pyfunc.load_model

        os.environ["TRACKLITE_MODEL_CACHE"] = str(tmp / "cache")
        tl.set_tracking_uri(str(peers._store(tmp) / "store.duckdb"))
        with tl.start_run():
            t0 = time.perf_counter()
            info = tracklite.sklearn.log_model(model, name="model", input_example=x.head(3), **reqs)
            log_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        loaded = tracklite.pyfunc.load_model(info.model_uri)
        load_s = time.perf_counter() - t0
    else:
        import logging

        import mlflow
        import mlflow.pyfunc
        import mlflow.sklearn

        logging.getLogger("mlflow").setLevel(logging.ERROR)
        peers._mlflow("mlflow", tmp)
        registry, load_pyfunc = mlflow, mlflow.pyfunc.load_model
        exp = mlflow.create_experiment("models", artifact_location=(tmp / "artifacts").as_uri())
        mlflow.set_experiment(experiment_id=exp)
        with mlflow.start_run():
            t0 = time.perf_counter()
            info = mlflow.sklearn.log_model(model, name="model", input_example=x.head(3), **reqs)
            log_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        loaded = mlflow.pyfunc.load_model(info.model_uri)
        load_s = time.perf_counter() - t0
    assert (loaded.predict(x) == model.predict(x)).all()
    # The registry: register the logged model, promote it (stage and alias), load it by alias.
    t0 = time.perf_counter()
    version = registry.register_model(info.model_uri, "iris")
    register_s = time.perf_counter() - t0
    client = registry.MlflowClient()
    t0 = time.perf_counter()
    client.transition_model_version_stage("iris", version.version, "Production", archive_existing_versions=True)
    client.set_registered_model_alias("iris", "champion", version.version)
    promote_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    by_alias = load_pyfunc("models:/iris@champion")
    alias_load_s = time.perf_counter() - t0
    assert (by_alias.predict(x) == model.predict(x)).all()
    return {
        "log_s": log_s,
        "load_s": load_s,
        "register_s": register_s,
        "promote_s": promote_s,
        "alias_load_s": alias_load_s,
    }


def run_worker(tool: str, explicit_requirements: bool) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix=f"models-{tool}-"))
    spec = json.dumps({"tool": tool, "tmp": str(tmp), "explicit": explicit_requirements})
    proc = subprocess.run(
        [sys.executable, __file__, "worker", spec],
        capture_output=True,
        text=True,
        env=peers.worker_env(tool, tmp),
        timeout=600,
    )
    if proc.returncode != 0:
        return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- report ------------------------------------------------------------------------------------------


def _ms(s: float | None) -> str:
    return "n/a" if s is None else (f"{s * 1000:.1f} ms" if s < 10 else f"{s:.1f} s")


def render(res: dict[str, Any], command: str, elapsed: float) -> str:
    enf = res["enforcement"]
    rows_n = tracking.fmt_n(enf["rows"])
    body: list[list[str]] = []
    groups: list[str] = []
    for frame_name, label in (("mixed", "mixed: 5 columns widened"), ("typed", "typed: no conversion")):
        tl, ml = enf[frame_name]["tracklite"], enf[frame_name]["mlflow"]
        ok = tl <= TARGET_S and ml / tl >= TARGET_SPEEDUP
        met = f"{'yes' if ok else 'NO'} (<= {TARGET_S * 1000:.0f} ms, >= {TARGET_SPEEDUP:.0f}x)"
        body.append(
            [
                "E",
                f"enforce 10-column signature, {label}",
                rows_n,
                _ms(tl),
                _ms(ml),
                tracking.ratio(tl, ml),
                "lower",
                met,
            ]
        )
        groups.append("E")
    for key, label in (("default", "defaults"), ("explicit", "pip_requirements given")):
        tl_r, ml_r = res["log_load"][key]["tracklite"], res["log_load"][key]["mlflow"]
        for part, what in (("log_s", "log_model"), ("load_s", "load_model (pyfunc)")):
            tl, ml = tl_r.get(part), ml_r.get(part)
            body.append(
                [
                    "M",
                    f"{what}, small sklearn model, {label}",
                    "1",
                    _ms(tl),
                    _ms(ml),
                    tracking.ratio(tl, ml),
                    "lower",
                    "-",
                ]
            )
            groups.append(key)
    tl_r, ml_r = res["log_load"]["explicit"]["tracklite"], res["log_load"]["explicit"]["mlflow"]
    for part, what in (
        ("register_s", "register_model(model_uri, name): a new version"),
        ("promote_s", "transition to Production (archive others) + set alias"),
        ("alias_load_s", "load_model('models:/iris@champion') (pyfunc)"),
    ):
        tl, ml = tl_r.get(part), ml_r.get(part)
        body.append(["R", what, "1", _ms(tl), _ms(ml), tracking.ratio(tl, ml), "lower", "-"])
        groups.append("R")
    headers = ["#", "measure", "N", "tracklite", "MLflow", "tracklite/MLflow", "better", "target met?"]
    lines = [
        "tracklite model benchmarks: tracklite beside MLflow, one run on this machine",
        f"machine: {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}",
        f"versions: {res['versions']}",
        f"enforcement: best call of {BLOCKS} alternating blocks of {res['repeat']} per tool; total {elapsed:.0f} s",
        "ratio = tracklite / MLflow",
        "",
        *tracking.text_table(headers, body, {2, 3, 4, 5}, groups),
    ]
    errors = [
        f"  {tool} ({key}): {r['error']}"
        for key in ("default", "explicit")
        for tool, r in res["log_load"][key].items()
        if "error" in r
    ]
    if errors:
        lines += ["", "errors:", *errors]
    lines += ["", f"raw results: {OUT.relative_to(ROOT)}", f"command: {command}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="100,000 rows and 5 repeats")
    ap.add_argument("--repeat", type=int, help="enforcement calls per tool and frame (default 20; 5 with --quick)")
    args = ap.parse_args(argv)
    rows = 100_000 if args.quick else 1_000_000
    repeat = args.repeat or (5 if args.quick else 20)
    started = time.perf_counter()
    from importlib import metadata

    versions = ", ".join(f"{d} {metadata.version(d)}" for d in ("tracklite", "duckdb", "mlflow", "pandas", "numpy"))
    print("enforcement ...", file=sys.stderr)
    res: dict[str, Any] = {"versions": versions, "repeat": repeat, "enforcement": bench_enforcement(rows, repeat)}
    res["log_load"] = {}
    for key, explicit in (("default", False), ("explicit", True)):
        res["log_load"][key] = {}
        for tool in ("tracklite", "mlflow"):
            print(f"log_model + load_model: {tool} ({key}) ...", file=sys.stderr)
            res["log_load"][key][tool] = run_worker(tool, explicit)
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(res, indent=2, default=str))
    command = "python benches/models.py" + ("".join(f" {shlex.quote(a)}" for a in (argv or sys.argv[1:])))
    print(render(res, command, time.perf_counter() - started))
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "worker":
        spec = json.loads(sys.argv[2])
        print(json.dumps(_worker(spec["tool"], Path(spec["tmp"]), spec["explicit"])))
    else:
        sys.exit(main())
