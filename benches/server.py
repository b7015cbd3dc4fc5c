"""Tracking server benchmark: ``tracklite server`` beside ``mlflow server`` (sqlite store).

Both servers run on 127.0.0.1 as subprocesses of this script, each on its own temporary store:

* ``python -m tracklite server --store <tmp>/s.duckdb``
* ``python -m mlflow server --backend-store-uri sqlite:///<tmp>/m.db --serve-artifacts
  --artifacts-destination <tmp>/art --workers 1``

Every client-side measurement is a fresh interpreter (``python benches/server.py worker
'<json>'``) with telemetry off and its own spool directory; it prints one ``@@RESULT`` JSON
line. The sections (see benches/README.md, "Tracking server"):

1. logging throughput through the REST API (MLflow client ``log_batch``; tracklite's client,
   fluent ``log_metric`` + ``flush``; ``log_param`` one request each);
2. ``runs/search`` latency on an experiment of R runs, idle and while 4 threads of another
   process log batches;
3. UI page loads and the chart of a 1,000,000-point metric, in headless chromium (Playwright).

Usage::

    python benches/server.py            # default sizes, < 10 minutes on 2 cores
    python benches/server.py --quick    # smaller sizes, < 3 minutes
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shlex
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import bench_servers
from bench_servers import Server, fmt_ms, fmt_ratio, free_port, pct, render, stop_on_sigterm

HERE = Path(__file__).resolve().parent
RESULT_TAG = "@@RESULT "
READY_TAG = "@@READY"
SEARCH_FILTER = "metrics.m0 < 0.5 and params.p0 = 'a'"
SEARCH_ORDER = ["metrics.m0 ASC"]
UI_KEY = "long"
CHROMIUM = "/usr/bin/chromium"


def log(msg: str) -> None:
    print(f"[server-bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Environment and servers
# --------------------------------------------------------------------------------------------


def clean_env(tmp: Path) -> dict[str, str]:
    """The environment of servers and workers: no tool settings, telemetry off, spools in ``tmp``."""
    return bench_servers.clean_env(TRACKLITE_REMOTE_SPOOL=str(tmp / "spool"))


def start_servers(tmp: Path) -> tuple[Server, Server]:
    (tmp / "tl").mkdir()
    (tmp / "ml").mkdir()
    p_ml, p_tl = free_port(), free_port()
    mlflow = Server(
        "mlflow",
        [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", f"sqlite:///{tmp / 'ml' / 'm.db'}",
            "--serve-artifacts", "--artifacts-destination", str(tmp / "ml" / "art"),
            "--host", "127.0.0.1", "--port", str(p_ml), "--workers", "1",
        ],
        p_ml, tmp / "ml", clean_env(tmp / "ml"), "/health",
    )  # fmt: skip
    tracklite = Server(
        "tracklite",
        [
            sys.executable, "-m", "tracklite", "server", "--store", str(tmp / "tl" / "s.duckdb"),
            "--host", "127.0.0.1", "--port", str(p_tl),
        ],
        p_tl, tmp / "tl", clean_env(tmp / "tl"), "/health",
    )  # fmt: skip
    return tracklite, mlflow


# --------------------------------------------------------------------------------------------
# Workers (run inside ``python benches/server.py worker '<json>'``)
# --------------------------------------------------------------------------------------------


def _mlflow_client(url: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=url)


def _experiment(client: Any, name: str) -> str:
    exp = client.get_experiment_by_name(name)
    return str(exp.experiment_id) if exp is not None else str(client.create_experiment(name))


def w_mlflow_batch(a: dict[str, Any]) -> dict[str, Any]:
    """MlflowClient.log_batch of ``batch`` metrics per call; Metric objects built untimed."""
    from mlflow.entities import Metric

    client = _mlflow_client(a["url"])
    exp = _experiment(client, a["experiment"])
    run_id = client.create_run(exp).info.run_id
    n, b = a["n"], a["batch"]
    ts = int(time.time() * 1000)
    chunks = [[Metric("loss", 1.0 / (i + 1), ts + i, i) for i in range(j, min(j + b, n))] for j in range(0, n, b)]
    t0 = time.perf_counter()
    for chunk in chunks:
        client.log_batch(run_id, metrics=chunk)
    dt = time.perf_counter() - t0
    client.set_terminated(run_id)
    return {"seconds": dt, "n": n, "pts_per_s": n / dt, "run_id": run_id, "experiment_id": exp}


def w_tracklite_fluent(a: dict[str, Any]) -> dict[str, Any]:
    """tracklite's client: fluent log_metric loop, then flush() (every point acknowledged)."""
    import tracklite

    tracklite.set_tracking_uri(a["url"])
    tracklite.set_experiment(a["experiment"])
    run = tracklite.start_run()
    run_id = run.info.run_id
    n, key = a["n"], a.get("key", "loss")
    t0 = time.perf_counter()
    for i in range(n):
        tracklite.log_metric(key, 1.0 / (i + 1) + (i % 7) * 1e-3, step=i)
    t_loop = time.perf_counter() - t0
    tracklite.flush()
    dt = time.perf_counter() - t0
    tracklite.end_run()
    exp = tracklite.get_experiment_by_name(a["experiment"])
    exp_id = str(exp.experiment_id) if exp is not None else None
    return {"seconds": dt, "loop_s": t_loop, "n": n, "pts_per_s": n / dt, "run_id": run_id, "experiment_id": exp_id}


def w_params(a: dict[str, Any]) -> dict[str, Any]:
    """N log_param calls, one request each (MLflow client or tracklite's fluent client)."""
    n = a["n"]
    if a["client"] == "mlflow":
        client = _mlflow_client(a["url"])
        run_id = client.create_run(_experiment(client, a["experiment"])).info.run_id
        t0 = time.perf_counter()
        for i in range(n):
            client.log_param(run_id, f"p{i}", str(i))
        dt = time.perf_counter() - t0
        client.set_terminated(run_id)
    else:
        import tracklite

        tracklite.set_tracking_uri(a["url"])
        tracklite.set_experiment(a["experiment"])
        tracklite.start_run()
        t0 = time.perf_counter()
        for i in range(n):
            tracklite.log_param(f"p{i}", str(i))
        dt = time.perf_counter() - t0
        tracklite.end_run()
    return {"seconds": dt, "n": n, "ms_per_call": dt / n * 1000}


def w_populate(a: dict[str, Any]) -> dict[str, Any]:
    """R runs through the REST API: create_run + one log_batch (5 params, 3 tags, 5 metrics
    x 3 steps), from 4 threads; values seeded by run index, the same for both servers."""
    import random
    from concurrent.futures import ThreadPoolExecutor

    from mlflow.entities import Metric, Param, RunTag

    client = _mlflow_client(a["url"])
    exp = _experiment(client, a["experiment"])
    ts = int(time.time() * 1000)

    def one(i: int) -> None:
        rng = random.Random(i)
        run_id = client.create_run(exp, run_name=f"run-{i:05d}").info.run_id
        params = [Param(f"p{j}", rng.choice("abcde")) for j in range(5)]
        tags = [RunTag(f"t{j}", f"tag-{rng.randrange(10)}") for j in range(3)]
        metrics = [Metric(f"m{j}", rng.random(), ts + s, s) for j in range(5) for s in range(3)]
        client.log_batch(run_id, metrics=metrics, params=params, tags=tags)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(a["runs"])))
    dt = time.perf_counter() - t0
    return {"seconds": dt, "runs": a["runs"], "experiment_id": exp}


def w_loggers(a: dict[str, Any]) -> dict[str, Any]:
    """K threads, each its own run, log_batch of ``batch`` metrics in a loop until stdin closes."""
    from mlflow.entities import Metric

    client = _mlflow_client(a["url"])
    exp = _experiment(client, a["experiment"])
    stop = threading.Event()
    counts = [0] * a["threads"]
    errors: list[str] = []
    started = threading.Barrier(a["threads"] + 1)

    def loop(k: int) -> None:
        run_id = client.create_run(exp, run_name=f"logger-{k}").info.run_id
        step = 0
        first = True
        while not stop.is_set():
            ts = int(time.time() * 1000)
            batch = [Metric(f"c{j % 10}", float(step + j), ts, step + j // 10) for j in range(a["batch"])]
            try:
                client.log_batch(run_id, metrics=batch)
                counts[k] += len(batch)
            except Exception as e:
                errors.append(f"{type(e).__name__}: {str(e)[:200]}")
            step += a["batch"] // 10
            if first:
                first = False
                started.wait()

    threads = [threading.Thread(target=loop, args=(k,), daemon=True) for k in range(a["threads"])]
    for t in threads:
        t.start()
    started.wait()
    t0 = time.perf_counter()
    print(READY_TAG, flush=True)
    sys.stdin.read()  # the driver closes stdin to stop us
    stop.set()
    dt = time.perf_counter() - t0
    for t in threads:
        t.join(60)
    return {"seconds": dt, "points": sum(counts), "pts_per_s": sum(counts) / dt, "errors": errors[:5]}


def w_search(a: dict[str, Any]) -> dict[str, Any]:
    """One warm-up, then ``n`` timed MlflowClient.search_runs calls (filter, order, max 100)."""
    client = _mlflow_client(a["url"])
    kw = {"filter_string": SEARCH_FILTER, "order_by": SEARCH_ORDER, "max_results": 100}
    first = client.search_runs([a["experiment_id"]], **kw)
    times = []
    for _ in range(a["n"]):
        t0 = time.perf_counter()
        client.search_runs([a["experiment_id"]], **kw)
        times.append((time.perf_counter() - t0) * 1000)
    names = [r.info.run_name for r in first]
    # the same request as raw HTTP (requests.Session, JSON decoded): the server's share
    import requests

    body: dict[str, Any] = {"experiment_ids": [a["experiment_id"]], "filter": SEARCH_FILTER}
    body.update(order_by=SEARCH_ORDER, max_results=100)
    http = requests.Session()
    raw = []
    for _ in range(a["n"]):
        t0 = time.perf_counter()
        r = http.post(a["url"] + "/api/2.0/mlflow/runs/search", json=body, timeout=120)
        r.raise_for_status()
        r.json()
        raw.append((time.perf_counter() - t0) * 1000)
    return {"ms": times, "raw_ms": raw, "rows": len(first), "first_names": names[:5]}


def w_ui(a: dict[str, Any]) -> dict[str, Any]:
    """Page loads in headless chromium: each load is a new browser context (cold cache)."""
    from playwright.sync_api import sync_playwright

    out: dict[str, Any] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        try:
            for page_def in a["pages"]:
                times: list[float] = []
                notes: list[str] = []
                for _ in range(a["repeat"]):
                    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
                    blocked: list[str] = []

                    def guard(route: Any, blocked: list[str] = blocked) -> None:
                        if route.request.url.startswith(a["url"]):
                            route.continue_()
                        else:
                            blocked.append(route.request.url[:120])
                            route.abort()

                    ctx.route("**/*", guard)
                    page = ctx.new_page()
                    t0 = time.perf_counter()
                    try:
                        page.goto(a["url"] + page_def["path"], wait_until="commit", timeout=page_def["timeout_ms"])
                        page.wait_for_function(page_def["ready_js"], timeout=page_def["timeout_ms"], polling=50)
                        times.append((time.perf_counter() - t0) * 1000)
                        if page_def.get("info_js"):
                            notes.append(str(page.evaluate(page_def["info_js"]))[:300])
                    except Exception as e:
                        notes.append(f"{type(e).__name__}: {str(e).splitlines()[0][:200]}")
                        times.append(float("nan"))
                        if a.get("screenshot_dir"):
                            with contextlib.suppress(Exception):
                                page.screenshot(path=str(Path(a["screenshot_dir"]) / f"{page_def['name']}.png"))
                    if blocked:
                        notes.append(f"blocked off-host requests: {blocked[:3]}")
                    ctx.close()
                    if any(math.isnan(t) for t in times):  # nan: a timeout; do not repeat a 60 s wait
                        break
                out[page_def["name"]] = {"ms": times, "notes": notes}
        finally:
            browser.close()
    return out


WORKERS = {
    "mlflow_batch": w_mlflow_batch,
    "tracklite_fluent": w_tracklite_fluent,
    "params": w_params,
    "populate": w_populate,
    "loggers": w_loggers,
    "search": w_search,
    "ui": w_ui,
}


def worker_main(raw: str) -> None:
    a = json.loads(raw)
    try:
        res = WORKERS[a["kind"]](a)
    except Exception as e:
        import traceback

        res = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()[-2000:]}
    print(RESULT_TAG + json.dumps(res), flush=True)


# --------------------------------------------------------------------------------------------
# Driver helpers
# --------------------------------------------------------------------------------------------


def run_worker(tmp: Path, args: dict[str, Any], timeout: float = 600) -> dict[str, Any]:
    wtmp = Path(tempfile.mkdtemp(dir=tmp, prefix=f"w-{args['kind']}-"))
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "worker", json.dumps(args)],
        capture_output=True,
        text=True,
        env=clean_env(wtmp),
        cwd=wtmp,
        timeout=timeout,
    )
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_TAG):
            res: dict[str, Any] = json.loads(line[len(RESULT_TAG) :])
            res["wall_s"] = time.perf_counter() - t0
            if "error" in res:
                log(f"worker {args['kind']} failed: {res['error']}")
            return res
    return {"error": f"worker {args['kind']} exited {proc.returncode}: {proc.stderr[-1500:]}"}


def start_loggers(tmp: Path, args: dict[str, Any]) -> subprocess.Popen[str]:
    wtmp = Path(tempfile.mkdtemp(dir=tmp, prefix="w-loggers-"))
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "worker", json.dumps(args)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(wtmp),
        cwd=wtmp,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith(READY_TAG):
        raise RuntimeError(f"loggers did not start: {line} {proc.stderr.read()[-1500:] if proc.stderr else ''}")
    return proc


def stop_loggers(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(input="", timeout=120)
    for line in out.splitlines():
        if line.startswith(RESULT_TAG):
            return dict(json.loads(line[len(RESULT_TAG) :]))
    return {"error": f"loggers exited {proc.returncode}: {err[-1500:]}"}


def median(values: list[float]) -> float:
    vals = [v for v in values if not math.isnan(v)]
    return statistics.median(vals) if vals else float("nan")


def fmt_rate(v: float | None) -> str:
    if v is None or math.isnan(v):
        return "n/a"
    for scale, unit in ((1e6, "Mpts/s"), (1e3, "kpts/s")):
        if v >= scale:
            return f"{v / scale:.3g} {unit}"
    return f"{v:.3g} pts/s"


def fmt_n(n: int | None) -> str:
    if not n:
        return "-"
    for scale, unit in ((1_000_000, "M"), (1_000, "k")):
        if n >= scale and n % (scale // 10 or 1) == 0:
            return f"{n / scale:g}{unit}"
    return f"{n:,}"


def repeated(tmp: Path, args: dict[str, Any], repeat: int, field: str) -> tuple[float, list[Any]]:
    results = [run_worker(tmp, args) for _ in range(repeat)]
    return median([r.get(field, float("nan")) for r in results]), results


def insert_mlflow_series(db: Path, run_id: str, key: str, n: int) -> float:
    """Append points 1..n-1 of ``key`` to MLflow's sqlite ``metrics`` table directly (the
    run and point 0 were logged through the REST API, so ``latest_metrics`` exists)."""
    t0 = time.perf_counter()
    con = sqlite3.connect(db, timeout=120)
    try:
        ts = int(time.time() * 1000)
        rows = ((key, 1.0 / (i + 1) + (i % 7) * 1e-3, ts + i, run_id, i, 0) for i in range(1, n))
        with con:
            con.executemany(
                "insert into metrics (key, value, timestamp, run_uuid, step, is_nan) values (?, ?, ?, ?, ?, ?)",
                rows,
            )
    finally:
        con.close()
    return time.perf_counter() - t0


# --------------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------------


def bench_logging(tmp: Path, tl: Server, ml: Server, p: dict[str, Any], R: dict[str, Any]) -> None:
    rep = p["repeat"]
    log("1a: MlflowClient.log_batch, 1000 metrics/call")
    for name, srv, n in (("tracklite", tl, p["batch_n_tl"]), ("mlflow", ml, p["batch_n_ml"])):
        m, raw = repeated(
            tmp,
            {"kind": "mlflow_batch", "url": srv.url, "experiment": "batch", "n": n, "batch": 1000},
            rep,
            "pts_per_s",
        )
        R["1a"][name] = {"pts_per_s": m, "n": n, "raw": raw}
        log(f"  {name}: {fmt_rate(m)}")
    log("1b: tracklite client, log_metric loop + flush")
    for name, srv, n in (("tracklite", tl, p["fluent_n_tl"]), ("mlflow", ml, p["fluent_n_ml"])):
        m, raw = repeated(
            tmp, {"kind": "tracklite_fluent", "url": srv.url, "experiment": "fluent", "n": n}, rep, "pts_per_s"
        )
        R["1b"][name] = {"pts_per_s": m, "n": n, "raw": raw}
        log(f"  {name}: {fmt_rate(m)}")
    log("1c: log_param, one request each")
    for client in ("mlflow", "tracklite"):
        for name, srv in (("tracklite", tl), ("mlflow", ml)):
            args = {"kind": "params", "url": srv.url, "experiment": "params", "n": p["params_n"], "client": client}
            m, raw = repeated(tmp, args, rep, "ms_per_call")
            R["1c"][f"{client}-client"][name] = {"ms_per_call": m, "n": p["params_n"], "raw": raw}
            log(f"  {client} client -> {name}: {fmt_ms(m)}/call")


def bench_search(tmp: Path, tl: Server, ml: Server, p: dict[str, Any], R: dict[str, Any]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    log(f"2: populate {p['runs']} runs on both servers at once (REST, 4 threads each; not timed)")
    with ThreadPoolExecutor(2) as pool:
        pops = list(
            pool.map(
                lambda srv: run_worker(
                    tmp, {"kind": "populate", "url": srv.url, "experiment": "search", "runs": p["runs"]}, timeout=1200
                ),
                (tl, ml),
            )
        )
    for (name, srv), pop in zip((("tracklite", tl), ("mlflow", ml)), pops, strict=True):
        r: dict[str, Any] = {"populate": pop}
        R["2"][name] = r
        if "error" in pop:
            continue
        log(f"  {name}: populated in {pop['seconds']:.1f} s; search idle")
        exp = pop["experiment_id"]
        r["idle"] = run_worker(tmp, {"kind": "search", "url": srv.url, "experiment_id": exp, "n": p["search_n"]})
        log(f"  idle p50 {fmt_ms(median(r['idle'].get('ms', [])))}; search while {p['threads']} threads log")
        try:
            lp = start_loggers(
                tmp, {"kind": "loggers", "url": srv.url, "experiment": "loggers", "threads": p["threads"], "batch": 100}
            )
        except Exception as e:
            r["busy"] = {"error": str(e)}
            continue
        try:
            r["busy"] = run_worker(tmp, {"kind": "search", "url": srv.url, "experiment_id": exp, "n": p["search_n"]})
        finally:
            r["loggers"] = stop_loggers(lp)
        busy = r["busy"].get("ms", [])
        rate = fmt_rate(r["loggers"].get("pts_per_s"))
        log(f"  busy p50 {fmt_ms(median(busy))} p95 {fmt_ms(pct(busy, 0.95))}; loggers {rate}")


def _tracklite_pages(exp_search: str, run_long: str, timeout_ms: int) -> list[dict[str, Any]]:
    # Drawn: the chart's dygraphs instance holds the points and has painted its canvas.
    chart_ready = (
        "() => { const p = document.querySelector('.chart[data-key=\"" + UI_KEY + "\"]');"
        " return !!(p && p.graph && p.graph.numRows() > 0 && p.querySelector('canvas')); }"
    )
    return [
        {
            "name": "experiments list",
            "path": "/#/experiments",
            "ready_js": "() => document.querySelectorAll('tr[data-experiment-id]').length > 0",
            "timeout_ms": timeout_ms,
        },
        {
            "name": "experiment page",
            "path": f"/#/experiments/{exp_search}",
            "ready_js": "() => document.querySelectorAll('tr[data-run-id]').length > 0",
            "info_js": "() => document.querySelectorAll('tr[data-run-id]').length + ' rows shown'",
            "timeout_ms": timeout_ms,
        },
        {
            "name": "run chart",
            "path": f"/#/runs/{run_long}",
            "ready_js": chart_ready,
            "info_js": "() => document.querySelector('.chart[data-key=\"" + UI_KEY + "\"]')"
            ".parentElement.querySelector('.chart-note').textContent",
            "timeout_ms": timeout_ms,
        },
    ]


def _mlflow_pages(exp_search: str, exp_long: str, run_long: str, timeout_ms: int) -> list[dict[str, Any]]:
    # MLflow's React UI: the runs table shows run names as text; its charts are Plotly.
    chart_ready = (
        "() => [...document.querySelectorAll('.js-plotly-plot')].some((p) => p.data && p.data.some("
        "(t) => t.x && t.x.length > 0) && p.querySelector('.scatterlayer .trace'))"
    )
    return [
        {
            "name": "experiments list",
            "path": "/#/experiments",
            "ready_js": "() => document.body.innerText.includes('search')",
            "timeout_ms": timeout_ms,
        },
        {
            "name": "experiment page",
            "path": f"/#/experiments/{exp_search}/runs",
            "ready_js": "() => /run-\\d{5}/.test(document.body.innerText)",
            "info_js": "() => (document.body.innerText.match(/run-\\d{5}/g) || []).length + ' run names shown'",
            "timeout_ms": timeout_ms,
        },
        {
            "name": "run chart",
            "path": f"/#/experiments/{exp_long}/runs/{run_long}/model-metrics",
            "ready_js": chart_ready,
            "info_js": "() => [...document.querySelectorAll('.js-plotly-plot')].map((p) => (p.data || [])"
            ".map((t) => (t.x || []).length).join('+')).join(', ') + ' points drawn'",
            "timeout_ms": 60_000,
        },
    ]


def bench_ui(tmp: Path, tl: Server, ml: Server, p: dict[str, Any], R: dict[str, Any]) -> None:
    if not Path(CHROMIUM).exists():
        R["3"]["skipped"] = f"{CHROMIUM} not found"
        return
    n = p["ui_points"]
    log(f"3: a {n:,}-point metric on each server")
    tl_long = run_worker(tmp, {"kind": "tracklite_fluent", "url": tl.url, "experiment": "long", "n": n, "key": UI_KEY})
    ml_long = run_worker(tmp, {"kind": "mlflow_batch", "url": ml.url, "experiment": "long", "n": 1, "batch": 1000})
    R["3"]["series"] = {"tracklite": tl_long, "mlflow": ml_long}
    if "error" not in ml_long:
        # point 0 went through REST (key "loss"); rename it to UI_KEY and append the rest directly
        db = tmp / "ml" / "m.db"
        con = sqlite3.connect(db, timeout=120)
        with con:
            con.execute("update metrics set key = ? where run_uuid = ?", (UI_KEY, ml_long["run_id"]))
            con.execute("update latest_metrics set key = ? where run_uuid = ?", (UI_KEY, ml_long["run_id"]))
        con.close()
        R["3"]["series"]["mlflow_insert_s"] = insert_mlflow_series(db, ml_long["run_id"], UI_KEY, n)
        con = sqlite3.connect(db, timeout=120)
        with con:  # latest_metrics as log_batch would have left it: the last step
            con.execute(
                "update latest_metrics set value = m.value, timestamp = m.timestamp, step = m.step from"
                " (select value, timestamp, step from metrics where run_uuid = ? and key = ? order by step desc"
                " limit 1) as m where run_uuid = ? and key = ?",
                (ml_long["run_id"], UI_KEY, ml_long["run_id"], UI_KEY),
            )
        con.close()
    exp_tl = R["2"].get("tracklite", {}).get("populate", {}).get("experiment_id", "0")
    exp_ml = R["2"].get("mlflow", {}).get("populate", {}).get("experiment_id", "0")
    timeout_ms = 60_000
    shots = str(Path("bench-out/server-ui").resolve())
    Path(shots).mkdir(parents=True, exist_ok=True)
    for name, srv, pages in (
        ("tracklite", tl, _tracklite_pages(exp_tl, tl_long.get("run_id", "x"), timeout_ms)),
        (
            "mlflow",
            ml,
            _mlflow_pages(exp_ml, str(ml_long.get("experiment_id", "0")), ml_long.get("run_id", "x"), timeout_ms),
        ),
    ):
        log(f"  UI of {name}")
        args = {"kind": "ui", "url": srv.url, "pages": pages, "repeat": p["ui_repeat"], "screenshot_dir": shots}
        R["3"][name] = run_worker(tmp, args, timeout=900)
        for page, v in R["3"][name].items():
            if isinstance(v, dict):
                log(f"    {page}: {['timeout' if math.isnan(x) else round(x) for x in v['ms']]} ms {v['notes'][:1]}")


# --------------------------------------------------------------------------------------------
# Table
# --------------------------------------------------------------------------------------------


def table(R: dict[str, Any], p: dict[str, Any]) -> list[list[str]]:
    rows: list[list[str]] = []
    a, b, c = R["1a"], R["1b"], R["1c"]

    def g(d: dict[str, Any], *ks: str) -> Any:
        for k in ks:
            if not isinstance(d, dict) or k not in d:
                return None
            d = d[k]
        return d

    def rate_row(num: str, what: str, t: Any, m: Any) -> None:
        tv, mv = g(t or {}, "pts_per_s"), g(m or {}, "pts_per_s")
        rows.append(
            [
                num,
                what,
                fmt_n(g(t or {}, "n")),
                fmt_n(g(m or {}, "n")),
                fmt_rate(tv),
                fmt_rate(mv),
                fmt_ratio(tv, mv, True),
                "higher",
            ]
        )

    rate_row("1a", "MlflowClient.log_batch, 1000 metrics/call", a.get("tracklite"), a.get("mlflow"))
    rate_row("1b", "tracklite client (log_metric+flush) vs MLflow log_batch", b.get("tracklite"), a.get("mlflow"))
    rate_row("1b", "tracklite client (log_metric+flush) on both servers", b.get("tracklite"), b.get("mlflow"))
    for client in ("mlflow", "tracklite"):
        t, m = c[f"{client}-client"].get("tracklite", {}), c[f"{client}-client"].get("mlflow", {})
        tv, mv = t.get("ms_per_call"), m.get("ms_per_call")
        rows.append(
            [
                "1c",
                f"log_param, one request each ({client} client), per call",
                fmt_n(t.get("n")),
                fmt_n(m.get("n")),
                fmt_ms(tv),
                fmt_ms(mv),
                fmt_ratio(tv, mv, False),
                "lower",
            ]
        )
    rows.append([""] * 8)
    s = R["2"]
    nr = fmt_n(p["runs"])
    for label, phase, field, q in (
        ("idle", "idle", "ms", 0.5),
        ("idle", "idle", "ms", 0.95),
        ("4 threads logging", "busy", "ms", 0.5),
        ("4 threads logging", "busy", "ms", 0.95),
        ("idle, raw HTTP", "idle", "raw_ms", 0.5),
        ("4 threads logging, raw HTTP", "busy", "raw_ms", 0.5),
    ):
        tv = pct(g(s, "tracklite", phase, field) or [], q)
        mv = pct(g(s, "mlflow", phase, field) or [], q)
        rows.append(
            [
                "2",
                f"runs/search p{int(q * 100)}, {label}",
                nr,
                nr,
                fmt_ms(tv),
                fmt_ms(mv),
                fmt_ratio(tv, mv, False),
                "lower",
            ]
        )
    tv, mv = g(s, "tracklite", "loggers", "pts_per_s"), g(s, "mlflow", "loggers", "pts_per_s")
    rows.append(
        [
            "2",
            "  the 4 logging threads meanwhile (log_batch 100)",
            "-",
            "-",
            fmt_rate(tv),
            fmt_rate(mv),
            fmt_ratio(tv, mv, True),
            "higher",
        ]
    )
    rows.append([""] * 8)
    u = R["3"]
    npts = fmt_n(p["ui_points"])
    for page, label in (
        ("experiments list", "UI: experiments page load"),
        ("experiment page", f"UI: experiment page, runs table shown ({nr} runs)"),
        ("run chart", "UI: run page, chart of the long metric drawn"),
    ):
        tv = median(g(u, "tracklite", page, "ms") or [])
        mv = median(g(u, "mlflow", page, "ms") or [])
        nn = npts if page == "run chart" else "-"
        rows.append(
            ["3", label, nn, nn, fmt_ms(tv), mlflow_cell(mv, g(u, "mlflow", page)), fmt_ratio(tv, mv, False), "lower"]
        )
    return rows


def mlflow_cell(v: float, raw: Any) -> str:
    if not math.isnan(v):
        return fmt_ms(v)
    return "n/a (see notes)" if raw else "n/a"


def notes(R: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for key in ("1a", "1b"):
        for name, v in R[key].items():
            errs = [r["error"] for r in v.get("raw", []) if "error" in r]
            if errs:
                out.append(f"{key} {name}: {errs[0][:300]}")
    for name, v in R["1b"].items():
        loops = [r.get("loop_s") for r in v.get("raw", []) if "loop_s" in r]
        tots = [r.get("seconds") for r in v.get("raw", []) if "seconds" in r]
        if loops:
            out.append(
                f"1b tracklite client -> {name} server: loop {median(loops):.2f} s"
                f" + flush {median(tots) - median(loops):.2f} s"
                f" for {v['n']:,} points (medians)"
            )
    for name in ("tracklite", "mlflow"):
        s = R["2"].get(name, {})
        pop = s.get("populate", {})
        if "seconds" in pop:
            out.append(
                f"2 {name}: populating {pop['runs']:,} runs through REST took {pop['seconds']:.1f} s (both at once)"
            )
        for part in ("populate", "idle", "busy", "loggers"):
            if "error" in s.get(part, {}):
                out.append(f"2 {name} {part}: {s[part]['error'][:300]}")
        if s.get("loggers", {}).get("errors"):
            out.append(f"2 {name} loggers: errors, e.g. {s['loggers']['errors'][0]}")
        if "rows" in s.get("idle", {}):
            out.append(f"2 {name}: search returns {s['idle']['rows']} runs, first {s['idle']['first_names'][:3]}")
    u = R["3"]
    if "skipped" in u:
        out.append(f"3 skipped: {u['skipped']}")
    if "mlflow_insert_s" in u.get("series", {}):
        out.append(
            f"3 MLflow's long metric: point 0 through REST, the rest inserted into its sqlite metrics table"
            f" directly ({u['series']['mlflow_insert_s']:.1f} s)"
        )
    for name in ("tracklite", "mlflow"):
        for page, v in (u.get(name) or {}).items():
            if page == "error":
                out.append(f"3 {name} UI worker: {v[:300]}")
            elif isinstance(v, dict):
                ms = ", ".join("timeout" if math.isnan(x) else f"{x:.0f}" for x in v["ms"])
                note = "; ".join(dict.fromkeys(v["notes"]))[:300]
                out.append(f"3 {name} {page}: loads {ms} ms{'; ' + note if note else ''}")
    return out


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------

PLANS = {
    "full": {
        "repeat": 3,
        "batch_n_tl": 200_000,
        "batch_n_ml": 20_000,
        "fluent_n_tl": 1_000_000,
        "fluent_n_ml": 20_000,
        "params_n": 200,
        "runs": 2000,
        "threads": 4,
        "search_n": 30,
        "ui_points": 1_000_000,
        "ui_repeat": 3,
    },
    "quick": {
        "repeat": 1,
        "batch_n_tl": 50_000,
        "batch_n_ml": 5_000,
        "fluent_n_tl": 200_000,
        "fluent_n_ml": 5_000,
        "params_n": 50,
        "runs": 200,
        "threads": 4,
        "search_n": 10,
        "ui_points": 1_000_000,
        "ui_repeat": 1,
    },
}


def versions() -> str:
    import importlib.metadata as md

    parts = []
    for pkg in ("tracklite", "duckdb", "mlflow", "starlette", "uvicorn", "playwright"):
        try:
            parts.append(f"{pkg} {md.version(pkg)}")
        except md.PackageNotFoundError:
            parts.append(f"{pkg} n/a")
    with contextlib.suppress(Exception):
        v = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=20).stdout.strip()
        parts.append(v or "chromium n/a")
    return ", ".join(parts)


def main() -> None:
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes, < 3 minutes")
    ap.add_argument("--repeat", type=int, help="repeats of section 1 (median shown)")
    ap.add_argument("--runs", type=int, help="runs in the search experiment")
    ap.add_argument("--ui-points", type=int, help="points of the charted metric")
    ap.add_argument("--only", action="append", choices=["logging", "search", "ui"], help="sections to run")
    ap.add_argument("--out", default="bench-out/server.json")
    args = ap.parse_args()
    p = dict(PLANS["quick" if args.quick else "full"])
    for k in ("repeat", "runs", "ui_points"):
        if getattr(args, k) is not None:
            p[k] = getattr(args, k)
    only = set(args.only or ["logging", "search", "ui"])
    R: dict[str, Any] = {"1a": {}, "1b": {}, "1c": {"mlflow-client": {}, "tracklite-client": {}}, "2": {}, "3": {}}
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tl-server-bench-") as d:
        tmp = Path(d)
        tl, ml = start_servers(tmp)
        try:
            log("waiting for both servers (MLflow takes ~30-50 s to start here)")
            tl.wait(60)
            ml.wait(180)
            log(f"up: tracklite {tl.startup_s:.1f} s, mlflow {ml.startup_s:.1f} s")
            if "logging" in only:
                bench_logging(tmp, tl, ml, p, R)
            if "search" in only or "ui" in only:
                bench_search(tmp, tl, ml, p, R)
            if "ui" in only:
                bench_ui(tmp, tl, ml, p, R)
        finally:
            tl.stop()
            ml.stop()
        R["server_logs_tail"] = {"tracklite": tl.tail(), "mlflow": ml.tail()}
        R["startup_s"] = {"tracklite": tl.startup_s, "mlflow": ml.startup_s}
    total = time.perf_counter() - t_start
    rows = table(R, p)
    header = [
        "#",
        "measure",
        "N tracklite",
        "N MLflow",
        "tracklite server",
        "mlflow server",
        "tracklite/MLflow",
        "better",
    ]
    cmd = "python " + " ".join(shlex.quote(x) for x in [os.path.relpath(sys.argv[0]), *sys.argv[1:]])
    lines = [
        "tracklite server benchmark: `tracklite server` beside `mlflow server` (sqlite store), one run on this machine",
        f"machine: {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()},"
        f" load average at the end {os.getloadavg()[0]:.1f}",
        f"versions: {versions()}",
        f"mode: {'quick' if args.quick else 'full'}; section 1 repeats: {p['repeat']} (median shown);"
        f" search calls: {p['search_n']} per phase; UI loads: {p['ui_repeat']} per page (median, cold browser"
        f" context each); total {total:.0f} s",
        f"servers on 127.0.0.1: tracklite (1 process) up in {fmt_ms((R['startup_s']['tracklite'] or 0) * 1000)},"
        f" mlflow (--workers 1) up in {fmt_ms((R['startup_s']['mlflow'] or 0) * 1000)}",
        "ratio = tracklite / MLflow; 'better' says which direction wins. Shared, noisy 2-core machine:"
        " differences under ~30% are not significant.",
        "",
        render(rows, header, {2, 3, 4, 5, 6}),
        "",
        "notes:",
        *[f"  {n}" for n in notes(R)],
        "",
        f"raw results: {args.out}",
        f"command: {cmd}",
    ]
    R["plan"] = p
    R["total_s"] = total
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(R, indent=1, default=str))
    print("\n".join(lines))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "worker":
        worker_main(sys.argv[2])
    else:
        main()
