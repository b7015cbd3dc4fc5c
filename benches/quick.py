"""The main read and write paths in a few minutes, each beside its recorded figure.

Run it after any change, and always after a DuckDB (or other engine) upgrade: a path that
got slower shows at once, long before the full benchmarks are re-run.

Usage::

    python benches/quick.py              # 1-3 minutes on 2 cores
    python benches/quick.py --runs 2000  # a smaller store for the reads (figures not comparable)

What it runs, each part in fresh processes (tracklite only, no peers):

* writes: ``benches/tracking.py``'s own workers: the fluent ``log_metric`` loop (2,000,000
  points, flush included), ``log_metric_series`` of 10,000,000 points (the call alone, and
  with the move into DuckDB), and 4 writer processes x 200,000 points plus a reader on a new
  store;
* reads: ``benches/query.py``'s data set (``--runs`` runs of 20 params, 10 tags, 10 metrics x
  100 steps, plus one 1,000,000-point metric) loaded with ``BulkLoader`` instead of
  ``log_batch`` (the same rows, minutes faster), then ``query.py``'s four queries, a point
  ``get_run``, a parameterised ``tracklite.sql`` returning the 1,000,000 points, the web UI's
  chart request for them through a real ``tracklite server``, and an open of the store file;
* export: ``benches/export.py``'s own workers, ``mlruns`` export of 100 runs x 10 metrics x
  1,000 steps (1,000,000 points; the recorded figure is for 1,000 runs).

``benches/recorded.json`` holds the figure each measure last had in BENCHMARKS.md (with its
section and DuckDB version); the table shows the run beside it, as ``now / recorded`` in the
better direction. Differences under ~20 % are noise on this shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peers
import query

ROOT = Path(__file__).resolve().parent.parent
RECORDED = Path(__file__).resolve().parent / "recorded.json"
OUT = ROOT / "bench-out" / "quick.json"

# id -> (label, unit, better); units: "s" (a duration), "pts/s" (a rate).
MEASURES: dict[str, tuple[str, str, str]] = {
    "fluent": ("log_metric loop, 2,000,000 points, flush included", "pts/s", "higher"),
    "series_call": ("log_metric_series, 10,000,000 points: the call", "pts/s", "higher"),
    "series_flush": ("log_metric_series, 10,000,000 points: flush included", "pts/s", "higher"),
    "writers4": ("4 writer processes x 200,000 points + 1 reader, new store", "pts/s", "higher"),
    "open": ("open + close of the store file", "s", "lower"),
    "search": ("search_runs: filter metric+param, order by metric, max 100", "s", "lower"),
    "dataframe": ("search_runs -> pandas DataFrame, all runs", "s", "lower"),
    "series_read": ("get_metric_series of a 1,000,000-point metric", "s", "lower"),
    "history": ("get_metric_history, 100-point metric", "s", "lower"),
    "get_run": ("Client.get_run, point read", "s", "lower"),
    "sql_param": ("tracklite.sql with a parameter -> Arrow, 1,000,000 rows", "s", "lower"),
    "ui_chart": ("server: UI chart request of the 1,000,000-point metric", "s", "lower"),
    "export_mlruns": ("export mlruns, 1,000,000 points: points per second", "pts/s", "higher"),
}


def progress(msg: str) -> None:
    print(f"[quick {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---- the reads worker (a fresh interpreter) ------------------------------------------------


def _build(store: Path, runs: int) -> dict[str, Any]:
    """query.py's data set, through BulkLoader."""
    import numpy as np
    import pyarrow as pa
    import tracklite
    from tracklite.store import get_store
    from tracklite.store.bulk_load import BulkLoader, RunRecord

    path = str(store / "store.duckdb")
    client = tracklite.Client(path)
    exp_id = client.create_experiment(query.EXPERIMENT)
    t0 = time.perf_counter()
    with BulkLoader(get_store(path)) as loader:  # type: ignore[arg-type]
        for i in range(runs):
            params, tags, values, ts = query.run_data(i)
            steps = np.arange(query.STEPS, dtype=np.int64)
            metrics = pa.table(
                {
                    "key": [k for k in query.METRIC_KEYS for _ in range(query.STEPS)],
                    "step": np.tile(steps, len(query.METRIC_KEYS)),
                    "timestamp": np.tile(np.asarray(ts, dtype=np.int64), len(query.METRIC_KEYS)),
                    "value": np.concatenate([np.asarray(v, dtype=np.float64) for v in values]),
                }
            )
            start = ts[0]
            loader.add_run(
                RunRecord(
                    run_id=f"{i:08d}" + os.urandom(12).hex(),
                    experiment_id=exp_id,
                    run_name=f"run-{i:05d}",
                    user_id="bench",
                    start_time=start,
                    end_time=ts[-1],
                    params=dict(params),
                    tags=dict(tags),
                    metrics=[metrics],
                )
            )
    long_exp = client.create_experiment(query.LONG_EXPERIMENT)
    rng = np.random.default_rng(query.SEED)
    long_run = client.create_run(long_exp, run_name="long").info.run_id
    client.log_metric_series(long_run, "long", np.cumsum(rng.normal(0.0, 1.0, 1_000_000)))
    client.flush()
    client.set_terminated(long_run)
    get_store(path).close()
    return {"exp_id": exp_id, "long_run": long_run, "build_s": time.perf_counter() - t0}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ui_chart(path: str, long_run: str) -> dict[str, Any]:
    import requests

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tracklite", "server", "--store", path, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/api/2.0/tracklite/metrics/series"
    params = {"run_ids": long_run, "key": "long", "x": "step", "max_points": 1500}
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except requests.ConnectionError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"tracklite server did not start: {server.stderr.read()}") from None  # type: ignore[union-attr]
                time.sleep(0.1)

        def chart() -> Any:
            reply = requests.get(url, params=params, timeout=60)
            reply.raise_for_status()
            return reply.json()["series"][0]

        return query.timed_query(chart, lambda s: {"rows": len(s["x"]), "points": s["points"]}, 5)
    finally:
        server.terminate()
        server.wait(timeout=30)


def _export(tmp: Path) -> dict[str, Any]:
    """export.py's own workers: its store shape (runs x 10 metrics x 1,000 steps), 100 runs."""
    import export

    runs = 100
    export.w_build(tmp, runs)
    done = export.w_tracklite(tmp, runs)
    points = done["counts"]["metric_points"]
    if points != runs * export.METRICS * export.STEPS:
        raise RuntimeError(f"export mlruns wrote {points:,} points of {runs * export.METRICS * export.STEPS:,}")
    return {"seconds": done["s"], "points": points, "points_per_s": points / done["s"]}


def w_reads(p: dict[str, Any]) -> dict[str, Any]:
    import tracklite
    from tracklite.store import get_store

    tmp = Path(p["tmp"])
    store = tmp / "store"
    store.mkdir()
    built = _build(store, int(p["runs"]))
    progress(f"reads: {p['runs']:,} runs built in {built['build_s']:.1f} s")
    tool = query.TrackliteTool(store)
    exp_id, long_run = built["exp_id"], built["long_run"]
    one_run = tool.client.search_runs([exp_id], max_results=1)[0].info.run_id
    out: dict[str, Any] = {"build_s": built["build_s"]}
    out["search"] = query.timed_query(lambda: tool.query_a(exp_id), query._summary_a, 5)
    out["dataframe"] = query.timed_query(lambda: tool.query_b(exp_id), query._summary_b, 5)
    out["series_read"] = query.timed_query(lambda: tool.query_c(long_run), query._summary_c, 5)
    out["history"] = query.timed_query(lambda: tool.query_d(one_run), query._summary_d, 5)
    out["get_run"] = query.timed_query(lambda: tool.client.get_run(one_run), lambda r: {"rows": 1}, 5)
    out["sql_param"] = query.timed_query(
        lambda: tracklite.sql("SELECT step, value FROM metric_history WHERE run_id = ?", [long_run]).arrow(),
        lambda t: {"rows": t.num_rows},
        5,
    )
    connector = get_store(tool.path).connector  # type: ignore[attr-defined]

    def open_close() -> None:
        connector.close()
        with connector.connect():
            pass
        connector.close()

    out["open"] = query.timed_query(open_close, lambda _: {}, 5)
    get_store(tool.path).close()
    progress("reads: the UI chart through tracklite server")
    out["ui_chart"] = _ui_chart(tool.path, long_run)
    progress("reads: export mlruns")
    (tmp / "export").mkdir()
    out["export_mlruns"] = _export(tmp / "export")
    return out


# ---- the driver ----------------------------------------------------------------------------


def _value(measure: str, raw: dict[str, Any]) -> float | None:
    r = raw.get(measure) or {}
    if measure in ("fluent", "writers4", "export_mlruns"):
        return r.get("points_per_s")
    if measure == "series_call":
        return r.get("points_per_s_call")
    if measure == "series_flush":
        return r.get("points_per_s")
    return r.get("seconds")


def _fmt(v: float | None, unit: str) -> str:
    if v is None:
        return "n/a"
    if unit == "s":
        return f"{v * 1e3:.3g} ms" if v < 1 else f"{v:.3g} s"
    for scale, prefix in ((1e6, "M"), (1e3, "k")):
        if v >= scale:
            return f"{v / scale:.3g} {prefix}pts/s"
    return f"{v:.3g} pts/s"


def _compare(now: float | None, then: float | None, better: str) -> str:
    if not now or not then:
        return "-"
    factor = now / then if better == "higher" else then / now
    if 0.83 <= factor <= 1.2:
        return f"{now / then:.2f}x (same)"
    return f"{now / then:.2f}x ({factor:.2f}x better)" if factor > 1 else f"{now / then:.2f}x ({1 / factor:.2f}x WORSE)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10_000, help="runs in the reads' store (recorded figures: 10,000)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(w_reads(json.loads(args.worker))))
        return 0

    started = time.perf_counter()
    raw: dict[str, Any] = {}
    progress("writes: fluent log_metric")
    raw["fluent"] = peers.run_worker("tracklite", "fluent", {"n": 2_000_000})
    progress("writes: log_metric_series")
    raw["series_call"] = raw["series_flush"] = peers.run_worker("tracklite", "series", {"n": 10_000_000})
    progress("writes: 4 writers + 1 reader")
    raw["writers4"] = peers.run_multiproc("tracklite", 4, 200_000)
    progress(f"reads: building {args.runs:,} runs")
    with tempfile.TemporaryDirectory(prefix="tracklite-quick-") as tmp:
        spec = json.dumps({"tmp": tmp, "runs": args.runs})
        proc = subprocess.run(
            [sys.executable, __file__, "--worker", spec], stdout=subprocess.PIPE, text=True, timeout=1800
        )
        if proc.returncode != 0:
            raise SystemExit(f"the reads worker failed (exit {proc.returncode})")
        raw.update(json.loads(proc.stdout.splitlines()[-1]))
    recorded = json.loads(RECORDED.read_text())

    import duckdb
    import tracklite

    command = "python benches/quick.py" + "".join(" " + shlex.quote(a) for a in (argv or sys.argv[1:]))
    lines = [
        "tracklite quick benchmark: the main read and write paths beside their recorded figures "
        "(benches/recorded.json)",
        f"machine: {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}, "
        f"load average at the end {os.getloadavg()[0]:.1f}",
        f"versions: tracklite {tracklite.__version__}, duckdb {duckdb.__version__}; reads on {args.runs:,} runs "
        f"(built in {raw.get('build_s', 0):.0f} s); total {time.perf_counter() - started:.0f} s",
        "now/recorded: the ratio of the figures; '(same)' within the noise of this machine (+-20 %)",
        "",
    ]
    header = ["measure", "now", "recorded", "recorded on", "now/recorded", "target"]
    body = []
    for key, (label, unit, better) in MEASURES.items():
        rec = recorded.get(key, {})
        now = _value(key, raw)
        body.append(
            [
                label,
                _fmt(now, unit),
                _fmt(rec.get("value"), unit),
                rec.get("duckdb", "-"),
                _compare(now, rec.get("value"), better),
                rec.get("target", "-"),
            ]
        )
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *body]:
        lines.append(
            "  ".join(
                c.ljust(w) if i in (0, 3, 4, 5) else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    lines += ["", f"raw results: {OUT.relative_to(ROOT)}", f"command: {command}"]
    print("\n".join(lines))
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps({"raw": raw, "recorded": recorded, "command": command}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
