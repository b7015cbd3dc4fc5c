"""A real ``tracklite server`` (or ``mlflow server``) subprocess on 127.0.0.1 for the server tests.

Import the helpers (``from server_fixtures import start_server``) or the ``server`` fixture
(``from server_fixtures import server  # noqa: F401``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    """A server subprocess: its base URL, store file, log file and process."""

    url: str
    store: str
    log: Path
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        """Terminate the server and wait for it (kill after 20 s)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def wait_healthy(self, timeout: float = 60) -> None:
        """Wait until the server answers ``GET /health`` (raises with its log if it does not)."""
        _wait_healthy(self.proc, self.url, self.log, timeout)

    def log_text(self) -> str:
        """What the server wrote to stdout/stderr so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _wait_healthy(proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering /health:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server at {url} did not answer /health within {timeout} s:\n{log.read_text()}")


def start_command(
    command: Sequence[str], folder: Path, port: int, *, timeout: float = 60, wait: bool = True
) -> ServerProcess:
    """Start ``command`` (a server listening on ``port``) with its output in ``folder``/server-PORT.log.

    With ``wait=False`` it returns at once; call :meth:`ServerProcess.wait_healthy` before use.
    """
    log = folder / f"server-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(list(command), stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ))
    server = ServerProcess(f"http://127.0.0.1:{port}", "", log, proc)
    if wait:
        server.wait_healthy(timeout)
    return server


def start_server(
    store: str | Path, *, workers: int = 1, extra: Sequence[str] = (), timeout: float = 60
) -> ServerProcess:
    """Start ``tracklite server`` on ``store`` at a free port and wait until it answers /health."""
    port = free_port()
    command = [sys.executable, "-m", "tracklite", "server", "--store", str(store), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", str(workers), *extra]
    server = start_command(command, Path(store).parent, port, timeout=timeout)
    server.store = str(store)
    return server


def start_mlflow_server(folder: Path, *, timeout: float = 120, wait: bool = True) -> ServerProcess:
    """Start a real ``mlflow server`` (sqlite store, proxied artifacts) in ``folder`` (it takes a
    while to start: pass ``wait=False`` to start it early and ``wait_healthy()`` when needed)."""
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{folder}/m.db"]
    command += ["--artifacts-destination", str(folder / "art"), "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", "1"]
    return start_command(command, folder, port, timeout=timeout, wait=wait)


def start_populated_server(
    folder: Path, script: str, *, extra: Sequence[str] = (), env: dict[str, str] | None = None
) -> tuple[ServerProcess, Any]:
    """Run ``script`` (Python, given the store path as its argument, printing JSON as its last
    line) on a new store in ``folder``, then start ``tracklite server`` on it.

    Returns:
        The server, and what the script printed.
    """
    import json

    store = folder / "s.duckdb"
    done = subprocess.run(
        [sys.executable, "-c", script, str(store)], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, f"populating the store failed:\n{done.stderr}"
    printed = json.loads(done.stdout.strip().splitlines()[-1])
    return start_server(store, extra=extra), printed


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A ``tracklite server`` on a fresh store in the test's folder."""
    proc = start_server(tmp_path / "s.duckdb")
    try:
        yield proc
    finally:
        proc.stop()


#: Debian's Chromium, which the browser tests drive through Playwright (no browser download).
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"The browser tests need Debian's Chromium at {CHROMIUM}: install it with "
            "`apt-get install chromium` (and `pip install playwright` for the driver)."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()
