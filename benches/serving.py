"""Model serving benchmark: ``tracklite models serve`` beside ``mlflow models serve --env-manager local``.

One scikit-learn model with a signature (``LogisticRegression`` on 16 numeric features) is
saved once with ``tracklite.sklearn.save_model(..., input_example=...)`` into a temporary
directory, and both servers serve that same directory, each as a subprocess on 127.0.0.1
with one worker process:

* ``python -m tracklite models serve -m <dir> --host 127.0.0.1 --port P --workers 1``
* ``python -m mlflow models serve -m <dir> --env-manager local -h 127.0.0.1 -p Q -w 1``

Before any timing, every payload is sent once to both servers and their predictions must be
identical (the script stops otherwise). Then, for each cell (payload x number of concurrent
clients), each client is its own process (``python benches/serving.py client '<json>'``) with
one keep-alive ``http.client`` connection that sends the same request in a loop: it warms up,
waits for a shared start time, and records every request's latency until the cell's end
time. Requests/s is the requests completed in the window over its length; p50 and p99 come
from the per-request latencies; the server's CPU time per request is its process group's CPU
time over the window (``/proc``) divided by the requests. The two servers are timed one after the other for each cell,
in alternating order over the rounds (ABBA), so drifting load on the shared machine hits
both alike; figures pool all rounds.

Usage::

    python benches/serving.py                   # default sizes, ~3-4 minutes on 2 cores
    python benches/serving.py --quick           # 2 s windows, 1 round, ~1 minute
    python benches/serving.py --concurrency 1,4,16 --duration 10 --rounds 3
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import bench_servers
from bench_servers import Server, fmt_ms, fmt_ratio, free_port, pct, render, stop_on_sigterm

HERE = Path(__file__).resolve().parent
RESULT_TAG = "@@RESULT "
READY_TAG = "@@READY"
N_FEATURES = 16
N_TRAIN = 5000
SERVERS = ("tracklite", "mlflow")
# payload name -> (rows, content type); the CSV payload is the 1,000-row frame as text/csv
PAYLOADS = {
    "1 row, JSON": (1, "application/json"),
    "1,000 rows, JSON": (1000, "application/json"),
    "1,000 rows, CSV": (1000, "text/csv"),
}


def log(msg: str) -> None:
    print(f"[serving-bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Environment, model and servers
# --------------------------------------------------------------------------------------------


def clean_env(tmp: Path) -> dict[str, str]:
    """The environment of servers and clients: no tool settings, telemetry off, python's bin on PATH."""
    return bench_servers.clean_env(
        # so neither tool writes an mlruns/ or a database into the cwd
        MLFLOW_TRACKING_URI=f"sqlite:///{tmp / 'mlflow-tracking.db'}",
        TRACKLITE_TRACKING_URI=str(tmp / "tracklite-tracking.duckdb"),
        # mlflow models serve runs `bash -c "exec uvicorn ..."`: uvicorn must be on PATH
        PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
    )


def make_model(model_dir: Path) -> Any:
    """Fit the benchmark's model and save it once (tracklite's writer, MLflow's format).

    Returns the held-out feature frame the payloads are cut from.
    """
    import numpy as np
    import pandas as pd
    import tracklite.sklearn
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(42)
    cols = [f"f{i:02d}" for i in range(N_FEATURES)]
    X = pd.DataFrame(rng.normal(size=(N_TRAIN + 1000, N_FEATURES)), columns=cols)
    w = rng.normal(size=N_FEATURES)
    y = (X.to_numpy() @ w + rng.normal(scale=0.5, size=len(X)) > 0).astype(int)
    est = LogisticRegression(max_iter=500).fit(X.iloc[:N_TRAIN], y[:N_TRAIN])
    tracklite.sklearn.save_model(est, str(model_dir), input_example=X.head(5))
    return X.iloc[N_TRAIN:].reset_index(drop=True)


def make_payloads(X: Any, tmp: Path) -> dict[str, dict[str, Any]]:
    """Each payload's body in a file (a 1,000-row body is too long for a command line)."""
    out = {}
    for i, (name, (rows, ctype)) in enumerate(PAYLOADS.items()):
        frame = X.iloc[:rows]
        if ctype == "text/csv":
            body = frame.to_csv(index=False).encode()
        else:
            split = {"columns": list(frame.columns), "data": frame.to_numpy().tolist()}
            body = json.dumps({"dataframe_split": split}).encode()
        path = tmp / f"payload-{i}.bin"
        path.write_bytes(body)
        out[name] = {"rows": rows, "content_type": ctype, "path": str(path), "bytes": len(body)}
    return out


class ServingServer(Server):
    """A scoring server, with its memory and CPU time read from its whole process group."""

    def __init__(self, name: str, cmd: list[str], port: int, cwd: Path) -> None:
        super().__init__(name, cmd, port, cwd, clean_env(cwd), "/ping")

    def rss_mb(self) -> float | None:
        """Resident memory of the server's process group (MLflow's is bash -> uvicorn)."""
        total = 0
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(["ps", "-o", "rss=", "-g", str(self.proc.pid)], capture_output=True, text=True)
            total = sum(int(x) for x in out.stdout.split())
        return total / 1024 if total else None

    def cpu_s(self) -> float:
        """CPU seconds used so far by the server's process group (MLflow's uvicorn is a child
        of ``mlflow models serve``), from /proc; 10 ms resolution."""
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == self.proc.pid:  # field 5, pgrp (fields here start at 3, state)
                    total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / tick


def start_servers(model_dir: Path, tmp: Path) -> dict[str, ServingServer]:
    for name in SERVERS:
        (tmp / name).mkdir()
    p_tl, p_ml = free_port(), free_port()
    mlflow = ServingServer(
        "mlflow",
        [
            sys.executable, "-m", "mlflow", "models", "serve", "-m", str(model_dir), "--env-manager", "local",
            "-h", "127.0.0.1", "-p", str(p_ml), "-w", "1",
        ],
        p_ml,
        tmp / "mlflow",
    )  # fmt: skip
    tracklite = ServingServer(
        "tracklite",
        [
            sys.executable, "-m", "tracklite", "models", "serve", "-m", str(model_dir),
            "--host", "127.0.0.1", "--port", str(p_tl), "--workers", "1",
        ],
        p_tl,
        tmp / "tracklite",
    )  # fmt: skip
    return {"tracklite": tracklite, "mlflow": mlflow}


# --------------------------------------------------------------------------------------------
# Client (runs inside ``python benches/serving.py client '<json>'``)
# --------------------------------------------------------------------------------------------


def client_main(raw: str) -> None:
    """One client: warm up, print READY, read the start/end times, loop until the end time."""
    a = json.loads(raw)
    body = Path(a["payload"]).read_bytes()
    headers = {"Content-Type": a["content_type"]}
    conn = http.client.HTTPConnection("127.0.0.1", a["port"], timeout=120)
    errors: list[str] = []
    reconnects = 0

    def once() -> bool:
        nonlocal conn, reconnects
        try:
            conn.request("POST", "/invocations", body, headers)
            resp = conn.getresponse()
            data = resp.read()
        except (http.client.HTTPException, OSError) as e:
            # the server closed a keep-alive connection: count it, reconnect, report the failure
            reconnects += 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", a["port"], timeout=120)
            if len(errors) < 5:
                errors.append(f"{type(e).__name__}: {e}")
            return False
        if resp.status != 200:
            if len(errors) < 5:
                errors.append(f"HTTP {resp.status}: {data[:200]!r}")
            return False
        return True

    t_warm = time.monotonic() + a["warmup_s"]
    warm = 0
    while time.monotonic() < t_warm or warm < 3:
        once()
        warm += 1
    print(READY_TAG, flush=True)
    start, end = (float(x) for x in sys.stdin.readline().split())
    # time.monotonic is CLOCK_MONOTONIC on Linux: the same clock in every process
    while time.monotonic() < start:
        time.sleep(0.0005)
    lat_us: list[int] = []
    failed = 0
    cpu0 = time.process_time()
    clock = time.perf_counter_ns
    while True:
        t0 = clock()
        ok = once()
        t1 = clock()
        if time.monotonic() > end:  # finished after the window: not counted
            break
        if ok:
            lat_us.append((t1 - t0) // 1000)
        else:
            failed += 1
    cpu = time.process_time() - cpu0
    conn.close()
    res = {
        "lat_us": lat_us,
        "cpu_s": cpu,
        "failed": failed,
        "reconnects": reconnects,
        "errors": errors,
        "warmup_requests": warm,
    }
    print(RESULT_TAG + json.dumps(res), flush=True)


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------


def post(url: str, body: bytes, content_type: str) -> tuple[int, bytes]:
    req = urllib.request.Request(url + "/invocations", data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def verify(servers: dict[str, Server], payloads: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Send every payload to both servers once; their predictions must be identical."""
    out = {}
    for name, p in payloads.items():
        body = Path(p["path"]).read_bytes()
        got = {}
        for sname, srv in servers.items():
            status, data = post(srv.url, body, p["content_type"])
            if status != 200:
                raise SystemExit(f"VERIFY FAILED: {sname} answered {status} to '{name}': {data[:500]!r}")
            got[sname] = json.loads(data)
        if got["tracklite"] != got["mlflow"]:
            raise SystemExit(
                f"VERIFY FAILED: predictions differ for '{name}':\n"
                f"  tracklite: {json.dumps(got['tracklite'])[:500]}\n  mlflow:    {json.dumps(got['mlflow'])[:500]}"
            )
        preds = got["tracklite"]["predictions"]
        out[name] = {"n_predictions": len(preds), "first": preds[:5]}
        log(f"  {name}: both servers return the same {len(preds)} prediction(s), e.g. {preds[:5]}")
    return out


def run_cell(tmp: Path, srv: Server, payload: dict[str, Any], clients: int, p: dict[str, Any]) -> dict[str, Any]:
    """``clients`` client processes against ``srv`` for one window; latencies and counts."""
    args = {
        "port": srv.port,
        "payload": payload["path"],
        "content_type": payload["content_type"],
        "warmup_s": p["warmup_s"],
    }
    procs = [
        subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "client", json.dumps(args)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(tmp),
            cwd=tmp,
        )
        for _ in range(clients)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line.startswith(READY_TAG):
                err = proc.stderr.read()[-1500:] if proc.stderr else ""
                raise RuntimeError(f"client did not start: {line!r} {err}")
        start = time.monotonic() + 0.2
        end = start + p["duration_s"]
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(f"{start} {end}\n")
            proc.stdin.flush()
        while time.monotonic() < start:
            time.sleep(0.001)
        cpu0 = srv.cpu_s()
        time.sleep(max(0.0, end - time.monotonic()))
        server_cpu = srv.cpu_s() - cpu0
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=p["duration_s"] + 180)
            res = next((json.loads(x[len(RESULT_TAG) :]) for x in out.splitlines() if x.startswith(RESULT_TAG)), None)
            if res is None:
                raise RuntimeError(f"client exited {proc.returncode}: {err[-1500:]}")
            results.append(res)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    lat = [x for r in results for x in r["lat_us"]]
    return {
        "seconds": p["duration_s"],
        "requests": len(lat),
        "req_per_s": len(lat) / p["duration_s"],
        "lat_us": lat,
        "server_cpu_s": server_cpu,
        "client_cpu_s": sum(r["cpu_s"] for r in results),
        "failed": sum(r["failed"] for r in results),
        "reconnects": sum(r["reconnects"] for r in results),
        "errors": [e for r in results for e in r["errors"]][:5],
        "load": os.getloadavg()[0],
    }


def fmt_rate(v: float | None) -> str:
    if v is None or math.isnan(v):
        return "n/a"
    if v >= 1000:
        return f"{v / 1000:.3g} k req/s"
    return f"{v:.3g} req/s"


def summarize(runs: list[dict[str, Any]]) -> dict[str, float]:
    """All rounds of one server in one cell pooled: requests over total time, percentiles of all."""
    lat = [x for r in runs for x in r["lat_us"]]
    secs = sum(r["seconds"] for r in runs)
    cpu = sum(r["server_cpu_s"] for r in runs)
    return {
        "server_cpu_ms_per_req": 1000 * cpu / len(lat) if lat else float("nan"),
        "server_cpu_share": cpu / secs if secs else float("nan"),
        "client_cpu_share": sum(r["client_cpu_s"] for r in runs) / secs if secs else float("nan"),
        "req_per_s": len(lat) / secs if secs else float("nan"),
        "p50_ms": pct(lat, 0.5) / 1000,
        "p99_ms": pct(lat, 0.99) / 1000,
        "requests": len(lat),
        "failed": sum(r["failed"] for r in runs),
    }


def table(R: dict[str, Any]) -> list[list[str]]:
    rows: list[list[str]] = []
    for i, cell in enumerate(R["cells"], 1):
        s = {name: summarize(cell["runs"][name]) for name in SERVERS}
        label = f"{cell['payload']}, {cell['clients']} client{'s' if cell['clients'] > 1 else ''}"
        t, m = s["tracklite"], s["mlflow"]
        rows.append(
            [
                str(i),
                f"{label}: requests/s",
                fmt_rate(t["req_per_s"]),
                fmt_rate(m["req_per_s"]),
                fmt_ratio(t["req_per_s"], m["req_per_s"], True),
                "higher",
            ]
        )
        for q in ("p50", "p99"):
            tv, mv = t[f"{q}_ms"], m[f"{q}_ms"]
            rows.append([str(i), f"  {q} latency", fmt_ms(tv), fmt_ms(mv), fmt_ratio(tv, mv, False), "lower"])
        tv, mv = t["server_cpu_ms_per_req"], m["server_cpu_ms_per_req"]
        rows.append(
            [str(i), "  server CPU time per request", fmt_ms(tv), fmt_ms(mv), fmt_ratio(tv, mv, False), "lower"]
        )
        cell["summary"] = s
    return rows


def notes(R: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for i, cell in enumerate(R["cells"], 1):
        parts = []
        for name in SERVERS:
            s = cell["summary"][name]
            rates = ", ".join(f"{r['req_per_s']:.0f}" for r in cell["runs"][name])
            parts.append(
                f"{name} {rates} (server CPU {s['server_cpu_share']:.0%} of a core,"
                f" clients {s['client_cpu_share']:.0%})"
            )
        loads = [r["load"] for name in SERVERS for r in cell["runs"][name]]
        out.append(f"{i} req/s per round: {'; '.join(parts)}; load average {min(loads):.1f}-{max(loads):.1f}")
        for name in SERVERS:
            runs = cell["runs"][name]
            failed = sum(r["failed"] for r in runs)
            if failed:
                errs = [e for r in runs for e in r["errors"]]
                out.append(f"{i} {name}: {failed} failed requests, e.g. {errs[:2]}")
    for name, mb in R.get("rss_mb", {}).items():
        if mb:
            out.append(f"{name} server resident memory at the end: {mb:.0f} MB")
    return out


def versions() -> str:
    import importlib.metadata as md

    parts = []
    for pkg in ("tracklite", "duckdb", "mlflow", "scikit-learn", "pandas", "numpy", "uvicorn", "starlette", "fastapi"):
        try:
            parts.append(f"{pkg} {md.version(pkg)}")
        except md.PackageNotFoundError:
            parts.append(f"{pkg} n/a")
    return ", ".join(parts)


PLANS = {
    "full": {"duration_s": 6.0, "warmup_s": 1.0, "rounds": 2},
    "quick": {"duration_s": 2.0, "warmup_s": 0.5, "rounds": 1},
}


def main() -> None:
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 s windows, 1 round, ~1 minute")
    ap.add_argument("--concurrency", default="1,8", help="comma-separated numbers of concurrent clients")
    ap.add_argument("--duration", type=float, help="seconds per timed window (per server, per round)")
    ap.add_argument("--warmup", type=float, help="seconds each client warms up before the window")
    ap.add_argument("--rounds", type=int, help="rounds per cell, servers in alternating order (pooled)")
    ap.add_argument("--payload", action="append", choices=list(PAYLOADS), help="payloads to run (default: all)")
    ap.add_argument("--out", default="bench-out/serving.json")
    args = ap.parse_args()
    p = dict(PLANS["quick" if args.quick else "full"])
    for k, v in (("duration_s", args.duration), ("warmup_s", args.warmup), ("rounds", args.rounds)):
        if v is not None:
            p[k] = v
    conc = [int(x) for x in args.concurrency.split(",") if x.strip()]
    names = args.payload or list(PAYLOADS)
    R: dict[str, Any] = {"plan": p, "concurrency": conc, "cells": []}
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tl-serving-bench-") as d:
        tmp = Path(d)
        log("fitting and saving the model (tracklite.sklearn.save_model)")
        model_dir = tmp / "model"
        X = make_model(model_dir)
        payloads = {k: v for k, v in make_payloads(X, tmp).items() if k in names}
        R["payloads"] = payloads
        R["model_files"] = sorted(f.name for f in model_dir.iterdir())
        servers = start_servers(model_dir, tmp)
        try:
            log("waiting for both servers")
            for srv in servers.values():
                srv.wait(180)
            log(f"up: tracklite {servers['tracklite'].startup_s:.1f} s, mlflow {servers['mlflow'].startup_s:.1f} s")
            log("verifying predictions")
            R["verify"] = verify(servers, payloads)
            for name, payload in payloads.items():
                for c in conc:
                    cell: dict[str, Any] = {"payload": name, "clients": c, "runs": {s: [] for s in SERVERS}}
                    for rnd in range(p["rounds"]):
                        order = SERVERS if (len(R["cells"]) + rnd) % 2 == 0 else SERVERS[::-1]
                        for sname in order:
                            res = run_cell(tmp, servers[sname], payload, c, p)
                            cell["runs"][sname].append(res)
                            log(
                                f"  {name}, {c} client(s), round {rnd + 1}, {sname}: {res['req_per_s']:.0f} req/s,"
                                f" p50 {pct(res['lat_us'], 0.5) / 1000:.2f} ms (load {res['load']:.1f})"
                            )
                    R["cells"].append(cell)
            R["rss_mb"] = {name: srv.rss_mb() for name, srv in servers.items()}
        finally:
            for srv in servers.values():
                srv.stop()
        R["server_logs_tail"] = {name: srv.tail() for name, srv in servers.items()}
        R["startup_s"] = {name: srv.startup_s for name, srv in servers.items()}
        R["server_commands"] = {
            name: " ".join(shlex.quote(x) for x in srv.cmd).replace(str(tmp), "<tmp>") for name, srv in servers.items()
        }
    total = time.perf_counter() - t_start
    rows = table(R)
    header = ["#", "measure", "tracklite serve", "mlflow serve", "tracklite/MLflow", "better"]
    cmd = "python " + " ".join(shlex.quote(x) for x in [os.path.relpath(sys.argv[0]), *sys.argv[1:]])
    sizes = "; ".join(f"{k}: {v['bytes']:,} B" for k, v in payloads.items())
    lines = [
        "tracklite serving benchmark: `tracklite models serve` beside `mlflow models serve --env-manager local`,"
        " one run on this machine",
        f"machine: {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()},"
        f" load average at the end {os.getloadavg()[0]:.1f}",
        f"versions: {versions()}",
        f"command: {cmd}",
        f"model: LogisticRegression, {N_FEATURES} float64 features, saved once by tracklite.sklearn.save_model"
        " with input_example (signature); both servers load the same directory",
        f"servers on 127.0.0.1, one worker process each: tracklite up in {fmt_ms(R['startup_s']['tracklite'] * 1000)},"
        f" mlflow (uvicorn -w 1) up in {fmt_ms(R['startup_s']['mlflow'] * 1000)}",
        f"payloads (dataframe_split JSON, text/csv with a header row): {sizes};"
        " predictions verified identical on both servers",
        f"load: each client a separate process, one keep-alive http.client connection, requests back to back;"
        f" warm-up {p['warmup_s']:g} s, window {p['duration_s']:g} s per server and round, {p['rounds']} round(s)"
        f" in alternating server order, pooled; total {total:.0f} s",
        "ratio = tracklite / MLflow; 'better' says which direction wins. Shared, noisy 2-core machine (clients and"
        " server share the cores): differences under ~20% are not significant.",
        "",
        render(rows, header, {2, 3, 4}),
        "",
        "notes:",
        *[f"  {n}" for n in notes(R)],
        "",
        f"raw results: {args.out}",
        f"command: {cmd}",
    ]
    R["total_s"] = total
    for cell in R["cells"]:  # keep the JSON small: percentiles, not every latency
        for runs in cell["runs"].values():
            for r in runs:
                lat = r.pop("lat_us")
                r["p50_ms"], r["p90_ms"], r["p99_ms"] = (pct(lat, q) / 1000 for q in (0.5, 0.9, 0.99))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(R, indent=1, default=str))
    print("\n".join(lines))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "client":
        client_main(sys.argv[2])
    else:
        main()
