"""What the server benchmarks share (``server.py``, ``serving.py``): a server subprocess in its
own process group, free ports, percentiles and the side-by-side table's formatting."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any


def clean_env(**settings: str) -> dict[str, str]:
    """The caller's environment minus every tool's settings, telemetry off, loopback unproxied,
    plus ``settings`` (each benchmark's own: spool folders, tracking URIs ...)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLFLOW_", "TRACKLITE_")) and k not in ("DATABRICKS_HOST",)
    }
    env.update(
        {
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "1",
            "PYTHONUNBUFFERED": "1",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            **settings,
        }
    )
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One server subprocess on 127.0.0.1, leading its own process group (MLflow's servers
    start uvicorn and helpers as children); output goes to ``<cwd>/<name>.log``.

    Args:
        name: Label in the log and errors.
        cmd: The command; it must listen on ``port``.
        port: The TCP port.
        cwd: Working directory (and where the log goes).
        env: The environment.
        ready_path: The GET path that answers 200 once the server is up.
    """

    def __init__(self, name: str, cmd: list[str], port: int, cwd: Path, env: dict[str, str], ready_path: str) -> None:
        self.name = name
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = cwd / f"{name}.log"
        self.cmd = cmd
        self.ready_path = ready_path
        self._log = self.log_path.open("w")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True
        )
        self.startup_s: float | None = None

    def wait(self, timeout: float) -> None:
        """Wait until ``ready_path`` answers 200 (raises with the log's tail otherwise)."""
        deadline = self.started + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {self.tail()}")
            with contextlib.suppress(OSError), urllib.request.urlopen(self.url + self.ready_path, timeout=2) as r:
                if r.status == 200:
                    self.startup_s = time.perf_counter() - self.started
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer {self.ready_path} within {timeout:.0f} s: {self.tail()}")

    def tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-1500:]
        return ""

    def stop(self) -> None:
        """SIGTERM the whole process group, SIGKILL what is left after 15 s."""
        pgid = self.proc.pid  # start_new_session: the server leads its own process group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(15)
        time.sleep(0.5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        self.proc.wait()
        self._log.close()


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` by linear interpolation, NaNs ignored."""
    vals = sorted(v for v in values if not math.isnan(v))
    if not vals:
        return float("nan")
    k = (len(vals) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(vals) - 1)
    return vals[lo] + (vals[hi] - vals[lo]) * (k - lo)


def fmt_ms(v: float | None) -> str:
    if v is None or math.isnan(v):
        return "n/a"
    if v >= 1000:
        return f"{v / 1000:.3g} s"
    return f"{v:.3g} ms"


def fmt_ratio(a: float | None, b: float | None, higher: bool) -> str:
    """``a / b``, and by how much tracklite (``a``) is better or worse given the direction."""
    if a is None or b is None or math.isnan(a) or math.isnan(b) or b == 0:
        return "n/a"
    r = a / b
    faster = r if higher else (1 / r if r else float("inf"))
    word = "better" if faster >= 1 else "worse"
    size = faster if faster >= 1 else 1 / faster
    return f"{r:.3g}x ({size:.3g}x {word})"


def render(rows: list[list[str]], header: list[str], right: set[int]) -> str:
    """A plain-text table; columns in ``right`` are right-aligned, empty rows become blank lines."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    out = []
    for r in [header, ["-" * w for w in widths], *rows]:
        if not any(r):
            out.append("")
            continue
        out.append(
            "  ".join(
                c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
            ).rstrip()
        )
    return "\n".join(out)


def stop_on_sigterm(signum: int, frame: Any) -> None:
    """A SIGTERM handler that unwinds (so ``finally`` blocks stop the servers)."""
    del frame
    raise SystemExit(f"stopped by signal {signum}")
