"""Load on a real ``tracklite server``: concurrent writers logging metric batches (MLflow's
client and raw ``runs/log-batch`` requests) while readers search and read histories. Every
point must be stored exactly once, nothing may get a 5xx, and the store file agrees after the
server stops. Requests per second are printed for the benchmark notes (never asserted)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import tracklite
from mlflow import MlflowClient
from mlflow.entities import Metric
from server_fixtures import ServerProcess, start_server

WRITERS = 8
READERS = 3
BATCHES = 25
BATCH_SIZE = 100
API = "/api/2.0/mlflow/"


def _value(writer: int, step: int) -> float:
    return writer * 1_000_000 + step + 0.5


class Tally:
    """Requests made and failures seen, across threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.failures: list[str] = []

    def count(self, n: int = 1) -> None:
        with self.lock:
            self.requests += n

    def fail(self, what: str) -> None:
        with self.lock:
            self.failures.append(what)


def _writer_raw(url: str, run_id: str, writer: int, tally: Tally) -> None:
    session = requests.Session()
    for b in range(BATCHES):
        metrics = [
            {"key": "m", "value": _value(writer, s), "timestamp": 1_700_000_000_000 + s, "step": s}
            for s in range(b * BATCH_SIZE, (b + 1) * BATCH_SIZE)
        ]
        resp = session.post(url + API + "runs/log-batch", json={"run_id": run_id, "metrics": metrics}, timeout=120)
        tally.count()
        if resp.status_code != 200:
            tally.fail(f"raw writer {writer} batch {b}: {resp.status_code} {resp.text[:200]}")


def _writer_mlflow(url: str, run_id: str, writer: int, tally: Tally) -> None:
    client = MlflowClient(url)
    for b in range(BATCHES):
        metrics = [
            Metric("m", _value(writer, s), 1_700_000_000_000 + s, s)
            for s in range(b * BATCH_SIZE, (b + 1) * BATCH_SIZE)
        ]
        try:
            client.log_batch(run_id, metrics=metrics)
        except Exception as err:  # noqa: BLE001 - every failure is reported below
            tally.fail(f"mlflow writer {writer} batch {b}: {err}")
        tally.count()


def _reader(url: str, experiment_id: str, run_ids: list[str], stop: threading.Event, tally: Tally) -> None:
    session = requests.Session()
    i = 0
    while not stop.is_set():
        if i % 2 == 0:
            resp = session.post(
                url + API + "runs/search",
                json={"experiment_ids": [experiment_id], "filter": "metrics.m >= 0", "max_results": 50},
                timeout=120,
            )
        else:
            resp = session.get(
                url + API + "metrics/get-history",
                params={"run_id": run_ids[i % len(run_ids)], "metric_key": "m"},
                timeout=120,
            )
        tally.count()
        if resp.status_code >= 500:
            tally.fail(f"reader: {resp.status_code} {resp.text[:200]}")
        i += 1


def _expected(writer: int) -> list[tuple[int, float]]:
    return [(s, _value(writer, s)) for s in range(BATCHES * BATCH_SIZE)]


@pytest.mark.parametrize("workers", [1, 2])
def test_concurrent_logging_loses_nothing(tmp_path: Path, workers: int) -> None:
    # uvicorn's access log (--log-level info) shows every status, also those MLflow's client retried.
    server: ServerProcess = start_server(tmp_path / "s.duckdb", workers=workers, extra=["--log-level", "info"])
    try:
        url = server.url
        exp = requests.post(url + API + "experiments/create", json={"name": "load"}, timeout=60).json()
        run_ids = [
            requests.post(url + API + "runs/create", json={"experiment_id": exp["experiment_id"]}, timeout=60).json()[
                "run"
            ]["info"]["run_id"]
            for _ in range(WRITERS)
        ]
        tally = Tally()
        stop = threading.Event()
        targets: list[Callable[..., Any]] = [_writer_mlflow if w % 2 else _writer_raw for w in range(WRITERS)]
        writers = [
            threading.Thread(target=targets[w], args=(url, run_ids[w], w, tally), daemon=True) for w in range(WRITERS)
        ]
        readers = [
            threading.Thread(target=_reader, args=(url, exp["experiment_id"], run_ids, stop, tally), daemon=True)
            for _ in range(READERS)
        ]
        started = time.perf_counter()
        for t in writers + readers:
            t.start()
        for t in writers:
            t.join(timeout=240)
        stop.set()
        for t in readers:
            t.join(timeout=120)
        elapsed = time.perf_counter() - started
        points = WRITERS * BATCHES * BATCH_SIZE
        print(
            f"\nload (workers={workers}): {tally.requests} requests in {elapsed:.2f} s = "
            f"{tally.requests / elapsed:.0f} req/s; {points} points = {points / elapsed:.0f} points/s"
        )
        assert not any(t.is_alive() for t in writers + readers), "a load thread hung"
        assert tally.failures == [], tally.failures[:10]

        for w, run_id in enumerate(run_ids):
            history = requests.get(
                url + API + "metrics/get-history", params={"run_id": run_id, "metric_key": "m"}, timeout=120
            ).json()["metrics"]
            got = sorted((m["step"], m["value"]) for m in history)
            assert got == _expected(w), f"run {w}: {len(got)} points, expected {BATCHES * BATCH_SIZE} exactly once"
        log = server.log_text()
        assert "Traceback" not in log, log[-4000:]
        server_errors = re.findall(r'^.*HTTP/1\.1" 5\d\d.*$', log, flags=re.M)
        assert server_errors == [], server_errors[:10]
        assert log.count('/runs/log-batch HTTP/1.1" 200') == WRITERS * BATCHES, "a batch was retried or lost"
    finally:
        server.stop()

    client = tracklite.Client(server.store)
    for w, run_id in enumerate(run_ids):
        got = sorted((m.step, m.value) for m in client.get_metric_history(run_id, "m"))
        assert got == _expected(w), f"store file, run {w}: {len(got)} points"
