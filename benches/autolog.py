"""What autologging adds to ``fit``: tracklite's ``sklearn.autolog`` beside MLflow's.

Usage::

    python benches/autolog.py            # ~3 minutes on 2 cores
    python benches/autolog.py --quick    # fewer repeats

Each tool runs in a fresh process with its own store (tracklite's DuckDB file; MLflow's
SQLite store with local artifacts). In that process the same fit is timed first without
autologging, then with autologging on (default settings: params, training metrics, plots,
the model with its signature; a run per fit), then with ``log_models=False``. The overhead
of a fit is its median time with autologging minus its median time without. Models:

* small: ``LogisticRegression`` on iris (150 rows x 4 features);
* medium: ``RandomForestClassifier(n_estimators=50)`` on 10,000 rows x 20 features.

Both tools compute the same training metrics on the same data, so the difference in
overhead is what each spends on its store, its model files and its bookkeeping.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
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
OUT = ROOT / "bench-out" / "autolog.json"
MODELS = ("small", "medium")
TOOLS = {"tracklite": "tracklite", "mlflow-sync": "MLflow sqlite"}


def _data(model: str) -> tuple[Any, Any, Any]:
    import numpy as np
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    if model == "small":
        x, y = load_iris(return_X_y=True)
        return (lambda: LogisticRegression(max_iter=1000)), x, y
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10_000, 20))
    y = (x[:, :3].sum(axis=1) + rng.normal(size=10_000) > 0).astype(int)
    return (lambda: RandomForestClassifier(n_estimators=50, random_state=0, n_jobs=1)), x, y


def _timed(make: Any, x: Any, y: Any, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        make().fit(x, y)
        times.append(time.perf_counter() - started)
    return times


def worker(tool: str, model: str, repeat: int, tmp: Path) -> dict[str, Any]:
    """Inside a fresh process: plain fits, autologged fits, autologged fits without models."""
    peers._forbid_network()
    make, x, y = _data(model)
    make().fit(x, y)  # warm caches and imports before any timing
    plain = _timed(make, x, y, repeat)
    if tool == "tracklite":
        import tracklite
        import tracklite.sklearn

        tracklite.set_tracking_uri(str(tmp / "store" / "store.duckdb"))
        enable = tracklite.sklearn.autolog
    else:
        import mlflow

        (tmp / "store").mkdir(parents=True, exist_ok=True)
        mlflow.set_tracking_uri(f"sqlite:///{tmp / 'store' / 'mlflow.db'}")
        mlflow.set_experiment(peers.EXPERIMENT)
        enable = mlflow.sklearn.autolog
    enable()
    make().fit(x, y)  # the first autologged fit pays one-off imports; not counted
    logged = _timed(make, x, y, repeat)
    enable(log_models=False)
    no_models = _timed(make, x, y, repeat)
    return {"plain": plain, "autolog": logged, "autolog_no_models": no_models, "network": peers._NET_ATTEMPTS}


def run_worker(tool: str, model: str, repeat: int) -> dict[str, Any]:
    """One worker process; its result."""
    with tempfile.TemporaryDirectory(prefix=f"bench-autolog-{tool}-") as tmp:
        env = peers.worker_env(tool, Path(tmp))
        args = [sys.executable, __file__, "worker", tool, model, str(repeat), tmp]
        out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=1800)
        if out.returncode != 0:
            raise RuntimeError(f"{tool} {model} worker failed:\n{out.stderr[-3000:]}")
        line = next(x for x in out.stdout.splitlines() if x.startswith(peers.RESULT_TAG))
        return dict(json.loads(line[len(peers.RESULT_TAG) :]))


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def main(argv: list[str] | None = None) -> int:
    """Run every row and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args(argv)
    repeats = {"small": 5 if args.quick else 20, "medium": 2 if args.quick else 5}
    started = time.perf_counter()
    results: dict[str, dict[str, Any]] = {}
    for model in MODELS:
        for tool in TOOLS:
            tracking.progress(f"{model}: {tool} ({repeats[model]} fits per setting)")
            results[f"{model}/{tool}"] = run_worker(tool, model, repeats[model])
    rows = []
    for model in MODELS:
        overheads: dict[str, dict[str, float]] = {}
        for tool, label in TOOLS.items():
            r = results[f"{model}/{tool}"]
            plain = statistics.median(r["plain"])
            overheads[tool] = {
                "plain": plain,
                "autolog": statistics.median(r["autolog"]) - plain,
                "autolog_no_models": statistics.median(r["autolog_no_models"]) - plain,
            }
            if r["network"]:
                print(f"warning: {label} tried the network: {r['network'][:3]}", file=sys.stderr)
        tl, ml = overheads["tracklite"], overheads["mlflow-sync"]
        for setting, name in (("autolog", "autolog()"), ("autolog_no_models", "autolog(log_models=False)")):
            rows.append(
                [
                    model,
                    name,
                    _ms(tl["plain"]),
                    _ms(tl[setting]),
                    _ms(ml["plain"]),
                    _ms(ml[setting]),
                    f"{tl[setting] / ml[setting]:.3f}x" if ml[setting] > 0 else "-",
                ]
            )
    headers = ["model", "setting", "tracklite fit", "tracklite overhead", "MLflow fit", "MLflow overhead", "ratio"]
    lines = [
        "tracklite autolog benchmark: overhead per fit (median with autologging minus median without)",
        f"machine: {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}",
        f"versions: {', '.join(f'{k} {v}' for k, v in tracking.versions().items() if v)}",
        f"fits per setting: small {repeats['small']}, medium {repeats['medium']}; "
        f"total {time.perf_counter() - started:.0f} s",
        "ratio = tracklite overhead / MLflow overhead (lower is better)",
        "",
        *tracking.text_table(headers, rows, right={2, 3, 4, 5, 6}, groups=[r[0] for r in rows]),
        "",
        f"raw results: {OUT.relative_to(ROOT)}",
        f"command: python benches/autolog.py{' --quick' if args.quick else ''}",
    ]
    print("\n".join(lines))
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        tool, model, repeat, tmp = sys.argv[2], sys.argv[3], int(sys.argv[4]), Path(sys.argv[5])
        print(peers.RESULT_TAG + json.dumps(worker(tool, model, repeat, tmp)), flush=True)
    else:
        sys.exit(main())
