"""tracklite beside MLflow and trackio, from one run on this machine, as ratios.

Usage::

    python benches/tracking.py                 # everything (~12 minutes on 2 cores)
    python benches/tracking.py --quick         # smaller N everywhere (< 2 minutes)
    python benches/tracking.py --only fluent   # one scenario (name or number 1-6), repeatable

Every measurement runs in a fresh subprocess with its own temporary store (see
``benches/peers.py``); this driver only schedules them, prints one aligned table and writes
the raw numbers to ``bench-out/tracking.json``. What each scenario measures is described in
``benches/README.md``. Build tracklite in release mode first (``maturin develop --release`` or
``pip install .``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peers

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench-out" / "tracking.json"

SCENARIOS = ["fluent", "series", "size", "sigkill", "multiproc", "import"]

PEER_LABEL = {
    "mlflow-sync": "MLflow sqlite, sync",
    "mlflow-async": "MLflow sqlite, async",
    "mlflow-file": "MLflow file store",
    "mlflow-sync-pre": "MLflow sqlite, store pre-created",
    "trackio": "trackio (local sqlite)",
    "floor": "floor: empty Python call",
}

# N per scenario and tool. Each fluent loop is sized to take ~1-3 s on a 2-core machine
# (MLflow sync logs ~250 points/s here, MLflow async ~3 k/s with its flush, trackio ~30 k/s).
PLANS: dict[str, dict[str, Any]] = {
    "full": {
        "repeat": 3,
        "fluent": {
            "floor": 2_000_000,
            "tracklite": 2_000_000,
            "mlflow-sync": 500,
            "mlflow-async": 6_000,
            "trackio": 50_000,
        },
        "series": {"tracklite": 10_000_000, "mlflow-sync": 30_000, "mlflow-async": 15_000},
        "size": {
            "tracklite": 1_000_000,
            "mlflow-sync": 1_000_000,
            "mlflow-file": 1_000_000,
            "trackio": 1_000_000,
        },
        "sigkill": {"tracklite": 1_000_000, "mlflow-async": 5_000, "trackio": 50_000},
        "multiproc": {
            "procs": [4, 8],
            "tracklite": 200_000,
            "mlflow-sync": 300,
            "mlflow-sync-pre": 300,
            "trackio": 20_000,
            "timeout": 180,
        },
        "import_reps": 5,
    },
    "quick": {
        "repeat": 1,
        "fluent": {
            "floor": 300_000,
            "tracklite": 300_000,
            "mlflow-sync": 150,
            "mlflow-async": 1_500,
            "trackio": 10_000,
        },
        "series": {"tracklite": 2_000_000, "mlflow-sync": 5_000},
        "size": {
            "tracklite": 1_000_000,
            "mlflow-sync": 20_000,
            "mlflow-file": 20_000,
            "trackio": 20_000,
        },
        "sigkill": {"tracklite": 200_000, "mlflow-async": 1_000, "trackio": 10_000},
        "multiproc": {
            "procs": [4],  # 8 as well in the full run; each MLflow process costs ~2 s to start
            "tracklite": 20_000,
            "mlflow-sync": 50,
            "trackio": 2_000,
            "timeout": 60,
        },
        "import_reps": 3,
    },
}

IMPORT_TARGET_S = 0.150


# --------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------


def _si(x: float) -> str:
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= factor:
            return f"{x / factor:.3g} {suffix}"
    return f"{x:.3g} "


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "pts/s":
        return f"{_si(value)}pts/s"
    if unit == "B/pt":
        return f"{value:.3g} B/pt"
    if unit == "%":
        return f"{value * 100:.1f} %"
    if unit == "ms":
        return f"{value * 1000:.0f} ms"
    if unit == "ns":
        return f"{value:.0f} ns"
    return f"{value:.3g} {unit}"


def fmt_n(n: Any) -> str:
    if n is None:
        return "-"
    if isinstance(n, str):
        return n
    return _si(float(n)).replace(" ", "") if n >= 1000 else str(n)


def ratio(tl: float | None, peer: float | None) -> str:
    if tl is None or peer is None:
        return "n/a"
    if peer == 0:
        return "inf" if tl > 0 else "-"
    r = tl / peer
    if r >= 100:
        return f"{r:,.0f}x"
    return f"{r:.3g}x"


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------


class Report:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self.raw: dict[str, Any] = {}
        self.tracklite_unavailable: str | None = None

    def tl_value(self, result: dict[str, Any], getter: Any) -> float | None:
        if "unavailable" in result:
            self.tracklite_unavailable = result["unavailable"]
            return None
        if "error" in result:
            self.notes.append(f"tracklite error: {result['error']}")
            return None
        try:
            return getter(result)
        except (KeyError, TypeError, ZeroDivisionError):
            return None

    def peer_value(self, label: str, result: dict[str, Any], getter: Any) -> float | None:
        if "error" in result:
            self.notes.append(f"{label} error: {result['error']}")
            return None
        try:
            return getter(result)
        except (KeyError, TypeError, ZeroDivisionError):
            return None

    def row(
        self,
        scenario: str,
        measure: str,
        peer: str,
        n_tl: Any,
        n_peer: Any,
        tl: float | None,
        pv: float | None,
        unit: str,
        better: str,
        *,
        tl_text: str | None = None,
        peer_text: str | None = None,
    ) -> None:
        self.rows.append(
            {
                "scenario": scenario,
                "measure": measure,
                "peer": peer,
                "n_tracklite": n_tl,
                "n_peer": n_peer,
                "tracklite": tl,
                "peer_value": pv,
                "unit": unit,
                "ratio": None if tl is None or not pv else tl / pv,
                "ratio_text": ratio(tl, pv),
                "better": better,
                "tracklite_text": tl_text or fmt(tl, unit),
                "peer_text": peer_text or fmt(pv, unit),
            }
        )

    def net_check(self, label: str, result: dict[str, Any]) -> None:
        attempts = result.get("network_attempts") or []
        if attempts:
            self.notes.append(f"{label} tried the network (refused): {', '.join(attempts)}")


def progress(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def median_of(results: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The result whose ``key`` is the median of the repeats (the first error, if any)."""
    for r in results:
        if "error" in r or "unavailable" in r:
            return r
    ordered = sorted(results, key=lambda r: r[key])
    chosen = dict(ordered[(len(ordered) - 1) // 2])  # the median, or the lower middle one
    chosen["repeats"] = [r[key] for r in results]
    chosen["median_of"] = len(results)
    return chosen


def repeated(tool: str, scenario: str, params: dict[str, Any], repeat: int, key: str) -> dict[str, Any]:
    results = []
    for k in range(repeat):
        progress(f"{scenario}: {tool} n={params.get('n')} ({k + 1}/{repeat})")
        r = peers.run_worker(tool, scenario, params)
        results.append(r)
        if "unavailable" in r or "error" in r:
            break
    return median_of(results, key)


# --------------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------------


def s_fluent(rep: Report, plan: dict[str, Any]) -> None:
    p, repeat = plan["fluent"], plan["repeat"]
    res = {tool: repeated(tool, "fluent", {"n": n}, repeat, "points_per_s") for tool, n in p.items()}
    rep.raw["fluent"] = res
    tl = rep.tl_value(res["tracklite"], lambda r: r["points_per_s"])
    measure = "log_metric loop + flush"
    for peer in ("mlflow-sync", "mlflow-async", "trackio"):
        pv = rep.peer_value(PEER_LABEL[peer], res[peer], lambda r: r["points_per_s"])
        rep.row("1", measure, PEER_LABEL[peer], p["tracklite"], p[peer], tl, pv, "pts/s", "higher")
        r = res[peer]
        if "stored" in r and r["stored"] != r["n"]:
            rep.notes.append(f"1 {PEER_LABEL[peer]}: stored {r['stored']} of {r['n']} points")
    floor = res["floor"]
    rep.row(
        "1",
        measure,
        PEER_LABEL["floor"],
        p["tracklite"],
        p["floor"],
        tl,
        floor.get("points_per_s"),
        "pts/s",
        "higher (1x = the floor)",
    )
    tl_ns = rep.tl_value(res["tracklite"], lambda r: r["ns_per_call"])
    rep.row(
        "1",
        "  same, in ns per call",
        PEER_LABEL["floor"],
        p["tracklite"],
        p["floor"],
        tl_ns,
        floor.get("ns_per_call"),
        "ns",
        "lower (1x = the floor)",
    )
    r = res["tracklite"]
    if tl is not None and r.get("stored") not in (None, r.get("n")):
        rep.notes.append(f"1 tracklite: stored {r['stored']} of {r['n']} points after flush")
    if tl is not None and "loop_seconds" in r:
        rep.notes.append(
            f"1 tracklite: loop {r['loop_seconds']:.3f} s + flush "
            f"{r['seconds'] - r['loop_seconds']:.3f} s for {r['n']:,} points"
        )
    for tool, r in res.items():
        rep.net_check(f"1 {tool}", r)


def s_series(rep: Report, plan: dict[str, Any]) -> None:
    p, repeat = plan["series"], plan["repeat"]
    res = {tool: repeated(tool, "series", {"n": n}, repeat, "points_per_s") for tool, n in p.items()}
    rep.raw["series"] = res
    tl = rep.tl_value(res["tracklite"], lambda r: r["points_per_s"])
    tl_call = rep.tl_value(res["tracklite"], lambda r: r["points_per_s_call"])
    for peer in [t for t in ("mlflow-sync", "mlflow-async") if t in p]:
        label = PEER_LABEL[peer] + " log_batch"
        pv = rep.peer_value(label, res[peer], lambda r: r["points_per_s"])
        rep.row(
            "2",
            "log_metric_series(numpy) + flush",
            label,
            p["tracklite"],
            p[peer],
            tl,
            pv,
            "pts/s",
            "higher",
        )
        rep.row(
            "2",
            "  same, call only (no flush)",
            label,
            p["tracklite"],
            p[peer],
            tl_call,
            pv,
            "pts/s",
            "higher",
        )
    r = res["tracklite"]
    if tl is not None and r.get("stored") not in (None, -1, r.get("n")):
        rep.notes.append(f"2 tracklite: stored {r['stored']} of {r['n']} points after flush")
    for tool, r in res.items():
        rep.net_check(f"2 {tool}", r)


def s_size(rep: Report, plan: dict[str, Any]) -> None:
    p = plan["size"]
    res: dict[str, Any] = {}
    for tool, n in p.items():
        progress(f"size: {tool} empty store, then n={n}")
        empty = peers.run_worker(tool, "size", {"n": 0})
        full = peers.run_worker(tool, "size", {"n": n})
        res[tool] = {"empty": empty, "full": full}

    def per_point(tool: str) -> Any:
        def get(r: dict[str, Any]) -> float:
            full, empty, n = r["full"], r["empty"], p[tool]
            for part in (full, empty):
                if "unavailable" in part:
                    raise KeyError(part["unavailable"])
            if tool == "mlflow-file":
                return full["metric_file_bytes"] / n
            return (full["store_bytes"] - empty["store_bytes"]) / n

        return get

    rep.raw["size"] = res
    tl_res = res["tracklite"]
    for part in (tl_res["full"], tl_res["empty"]):
        if "unavailable" in part:
            rep.tracklite_unavailable = part["unavailable"]
        elif "error" in part:
            rep.notes.append(f"3 tracklite error: {part['error']}")
    tl = None
    if not any("unavailable" in x or "error" in x for x in tl_res.values()):
        tl = per_point("tracklite")(tl_res)
        files = tl_res["full"].get("store_files", {})
        rep.notes.append(
            "3 tracklite store after close: "
            + ", ".join(f"{k} {v:,} B" for k, v in files.items())
            + f" (empty store: {tl_res['empty'].get('store_bytes', 0):,} B"
            + f"; timestamps {tl_res['full'].get('timestamps', '?')})"
        )
    for peer in ("mlflow-sync", "mlflow-file", "trackio"):
        r = res[peer]
        err = r["full"].get("error") or r["empty"].get("error")
        if err:
            rep.notes.append(f"3 {PEER_LABEL[peer]} error: {err}")
            pv = None
        else:
            pv = per_point(peer)(r)
        rep.row(
            "3",
            "bytes/point, float64 curve",
            PEER_LABEL[peer],
            p["tracklite"],
            p[peer],
            tl,
            pv,
            "B/pt",
            "lower",
        )
        rep.net_check(f"3 {peer}", r["full"])


def s_sigkill(rep: Report, plan: dict[str, Any]) -> None:
    p = plan["sigkill"]
    res: dict[str, Any] = {}
    for delay, tag in ((0.0, "4a"), (0.2, "4b")):
        for tool, n in p.items():
            progress(f"sigkill: {tool} n={n}, kill {delay:.1f} s after the loop")
            res[f"{tool}@{delay}"] = peers.run_sigkill(tool, n, delay)
        tl = rep.tl_value(res[f"tracklite@{delay}"], lambda r: r["fraction"])
        measure = "SIGKILL right after loop: recovered" if delay == 0 else "SIGKILL 0.2 s after loop: recovered"
        for peer in ("mlflow-async", "trackio"):
            pv = rep.peer_value(PEER_LABEL[peer], res[f"{peer}@{delay}"], lambda r: r["fraction"])
            rep.row(tag, measure, PEER_LABEL[peer], p["tracklite"], p[peer], tl, pv, "%", "higher")
    rep.raw["sigkill"] = res
    for k, r in res.items():
        rep.net_check(f"4 {k}", r)


def s_multiproc(rep: Report, plan: dict[str, Any]) -> None:
    p = plan["multiproc"]
    res: dict[str, Any] = {}
    tools = [t for t in ("tracklite", "mlflow-sync", "mlflow-sync-pre", "trackio") if t in p]
    reader = "a tight loop" if not plan["reader_interval"] else f"every {plan['reader_interval']} s"
    rep.notes.append(f"5 the reader process reads in {reader}")
    for procs in p["procs"]:
        for tool in tools:
            m = p[tool]
            progress(f"multiproc: {tool} {procs} writers x {m:,} points + 1 reader")
            real = "mlflow-sync" if tool == "mlflow-sync-pre" else tool
            res[f"{tool}@{procs}"] = peers.run_multiproc(
                real,
                procs,
                m,
                precreate=tool == "mlflow-sync-pre",
                reader_interval=plan["reader_interval"],
                timeout=p["timeout"],
            )
        tlr = res[f"tracklite@{procs}"]
        tl = rep.tl_value(tlr, lambda r: r["points_per_s"])

        def text(r: dict[str, Any], v: float | None) -> str:
            if v is None:
                return "n/a"
            hung = f", {r['writers_hung']} hung" if r.get("writers_hung") else ""
            return f"{fmt(v, 'pts/s')} ({r['arrived'] / r['expected'] * 100:.0f}% arrived{hung})"

        label_peers = [t for t in tools if t != "tracklite"]
        for peer in label_peers:
            r = res[f"{peer}@{procs}"]
            pv = rep.peer_value(PEER_LABEL[peer], r, lambda r: r["points_per_s"])
            rep.row(
                "5",
                f"{procs} writers + 1 reader, new store",
                PEER_LABEL[peer],
                f"{procs}x{fmt_n(p['tracklite'])}",
                f"{procs}x{fmt_n(p[peer])}",
                tl,
                pv,
                "pts/s",
                "higher",
                tl_text=text(tlr, tl),
                peer_text=text(r, pv),
            )
        for tool in tools:
            r = res[f"{tool}@{procs}"]
            label = "tracklite" if tool == "tracklite" else PEER_LABEL[tool]
            if "expected" in r and (r["lost"] or r["writers_failed"] or r["failed_log_calls"]):
                msg = (
                    f"5 {label}, {procs} writers: {r['arrived']:,} of {r['expected']:,} points "
                    f"arrived ({r['lost']:,} lost), {r['writers_failed']} writer(s) failed"
                )
                if r.get("writers_hung"):
                    msg += f" ({r['writers_hung']} hung, killed after {r['timeout_seconds']:.0f} s)"
                if r["failed_log_calls"]:
                    msg += f", {r['failed_log_calls']} log calls raised"
                errs = r["writer_errors"] or r["call_errors"]
                if errs:
                    msg += f"; e.g. {errs[0][:300]}"
                rep.notes.append(msg)
            reader = r.get("reader") or {}
            if reader.get("read_errors"):
                rep.notes.append(
                    f"5 {label}, {procs} writers: reader {reader.get('reads', 0)} reads, "
                    f"{reader['read_errors']} failed; e.g. "
                    f"{(reader.get('first_read_error') or '')[:160]}"
                )
            rep.net_check(f"5 {tool}@{procs}", r)
    rep.raw["multiproc"] = res


def s_import(rep: Report, plan: dict[str, Any]) -> None:
    reps = plan["import_reps"]
    res: dict[str, Any] = {}
    for module in (None, "tracklite", "mlflow", "trackio"):
        progress(f"import: {module or 'python -c pass'} (best of {reps})")
        res[module or "pass"] = peers.import_time(module, reps=reps)
    rep.raw["import"] = res
    base = res["pass"].get("seconds", 0.0)
    tl = rep.tl_value(res["tracklite"], lambda r: r["seconds"] - base)
    for module, label in (("mlflow", "import mlflow"), ("trackio", "import trackio")):
        pv = rep.peer_value(label, res[module], lambda r: r["seconds"] - base)
        rep.row("6", "import time (minus `python -c pass`)", label, "-", "-", tl, pv, "ms", "lower")
    if tl is not None:
        verdict = "meets" if tl <= IMPORT_TARGET_S else "MISSES"
        rep.notes.append(
            f"6 import tracklite: {tl * 1000:.0f} ms {verdict} the {IMPORT_TARGET_S * 1000:.0f} ms "
            f"target (python -c pass: {base * 1000:.0f} ms)"
        )


RUNNERS = {
    "fluent": s_fluent,
    "series": s_series,
    "size": s_size,
    "sigkill": s_sigkill,
    "multiproc": s_multiproc,
    "import": s_import,
}


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for dist in ("tracklite", "mlflow", "trackio", "duckdb", "numpy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def tracklite_build_note() -> str | None:
    try:
        dist = metadata.distribution("tracklite")
    except metadata.PackageNotFoundError:
        return None
    direct = dist.read_text("direct_url.json")
    if direct and '"editable": true' in direct.replace(" ", "").replace('":true', '": true'):
        return "tracklite is an editable install: make sure it was built with --release"
    return None


def text_table(headers: list[str], body: list[list[str]], right: set[int], groups: list[str]) -> list[str]:
    """Aligned plain-text table lines: header, rule, rows (columns in ``right`` right-aligned),
    with a blank line wherever ``groups`` changes from one row to the next."""
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    for n, cells in enumerate(body):
        if n and groups[n] != groups[n - 1]:
            out.append("")
        out.append(line(cells))
    return out


def render(rep: Report, env: dict[str, Any], command: str, elapsed: float) -> str:
    headers = [
        "#",
        "measure",
        "peer",
        "N tracklite",
        "N peer",
        "tracklite",
        "peer",
        "tracklite/peer",
        "better",
    ]
    body = [
        [
            r["scenario"],
            r["measure"],
            r["peer"],
            fmt_n(r["n_tracklite"]),
            fmt_n(r["n_peer"]),
            r["tracklite_text"],
            r["peer_text"],
            r["ratio_text"],
            r["better"],
        ]
        for r in rep.rows
    ]
    v = env["versions"]
    out = [
        "tracklite benchmarks: tracklite beside its peers, one run on this machine",
        f"machine: {env['cpus']} CPUs, {env['platform']}, Python {env['python']}",
        "versions: " + ", ".join(f"{k} {v[k] or 'not installed'}" for k in v),
        f"mode: {env['mode']}, fluent/series repeats: {env['repeat']} (median shown), total {elapsed:.0f} s",
        "ratio = tracklite / peer; the 'better' column says which direction wins",
        "",
        *text_table(headers, body, right={3, 4, 5, 6, 7}, groups=[r["scenario"][0] for r in rep.rows]),
    ]
    if rep.tracklite_unavailable:
        why = rep.tracklite_unavailable.removeprefix("tracklite not importable: ")
        out += [
            "",
            f"tracklite not importable: {why}",
            "  (tracklite columns show n/a; build it with `maturin develop --release`)",
        ]
    if env.get("build_note"):
        out += ["", env["build_note"]]
    if rep.notes:
        out += ["", "notes:"] + [f"  {' '.join(n.split())}" for n in rep.notes]
    out += ["", f"raw results: {os.path.relpath(OUT, Path.cwd())}", f"command: {command}"]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller N everywhere (< 2 minutes)")
    ap.add_argument(
        "--only",
        action="append",
        metavar="SCENARIO",
        help=f"run only this scenario: {', '.join(SCENARIOS)} or 1-6 (repeatable)",
    )
    ap.add_argument("--repeat", type=int, help="repeats of scenarios 1-2 (median is shown)")
    ap.add_argument(
        "--reader-interval",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="scenario 5: pause between the reader's reads (default 0: a tight loop)",
    )
    args = ap.parse_args(argv)

    chosen = SCENARIOS
    if args.only:
        chosen = []
        for name in args.only:
            for raw in name.split(","):
                part = raw.strip()
                key = SCENARIOS[int(part) - 1] if part.isdigit() and 1 <= int(part) <= 6 else part
                if key not in SCENARIOS:
                    choices = ", ".join(SCENARIOS)
                    ap.error(f"unknown scenario {part!r}; choose from {choices} or 1-6")
                if key not in chosen:
                    chosen.append(key)
        chosen.sort(key=SCENARIOS.index)

    mode = "quick" if args.quick else "full"
    plan = dict(PLANS[mode])
    if args.repeat:
        plan["repeat"] = max(1, args.repeat)
    plan["reader_interval"] = args.reader_interval
    command = "python " + shlex.join(sys.argv if argv is None else [sys.argv[0], *argv])
    env = {
        "mode": mode,
        "repeat": plan["repeat"],
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions(),
        "build_note": tracklite_build_note(),
    }
    rep = Report()
    t0 = time.perf_counter()
    timings = {}
    for name in chosen:
        t1 = time.perf_counter()
        try:
            RUNNERS[name](rep, plan)
        except Exception as e:  # keep the other scenarios' results
            import traceback

            traceback.print_exc()
            rep.notes.append(f"scenario {name} crashed: {type(e).__name__}: {e}")
        timings[name] = round(time.perf_counter() - t1, 1)
    env["scenario_seconds"] = timings
    elapsed = time.perf_counter() - t0
    text = render(rep, env, command, elapsed)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(
            {
                "command": command,
                "environment": env,
                "plan": plan,
                "scenarios": chosen,
                "seconds": elapsed,
                "tracklite_unavailable": rep.tracklite_unavailable,
                "rows": rep.rows,
                "notes": rep.notes,
                "raw": rep.raw,
            },
            indent=2,
        )
    )
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
