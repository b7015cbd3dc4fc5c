"""System metrics logging: real runs, real sampling threads, a real store file."""

from __future__ import annotations

import itertools
import logging
import math
import threading
import time

import pytest
import tracklite
from conftest import run_python
from tracklite import Client, InvalidParameterValue
from tracklite.tracking import fluent, system_metrics
from tracklite.tracking.system_metrics import SystemMetricsMonitor

BASE_NAMES = [
    "cpu_utilization_percentage",
    "system_memory_usage_megabytes",
    "system_memory_usage_percentage",
    "disk_usage_percentage",
    "disk_usage_megabytes",
    "disk_available_megabytes",
    "network_receive_megabytes",
    "network_transmit_megabytes",
]
SETTINGS = [
    "ENABLE_SYSTEM_METRICS_LOGGING",
    "SYSTEM_METRICS_SAMPLING_INTERVAL",
    "SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING",
    "SYSTEM_METRICS_NODE_ID",
]


@pytest.fixture(autouse=True)
def _default_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """No system metrics setting leaks into or out of a test."""
    for name in SETTINGS:
        monkeypatch.delenv(f"TRACKLITE_{name}", raising=False)
        monkeypatch.delenv(f"MLFLOW_{name}", raising=False)
    for attr in ("_enabled", "_sampling_interval", "_samples_before_logging", "_node_id"):
        monkeypatch.setattr(system_metrics, attr, None)


def _monitor_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "tracklite-system-metrics"]


def _system_keys(client: Client, run_id: str) -> set[str]:
    return {k for k in client.get_run(run_id).data.metrics if k.startswith("system/")}


def _wait_for(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_metrics_logged_with_mlflow_names_at_the_interval(client: Client) -> None:
    tracklite.set_system_metrics_sampling_interval(0.2)
    with tracklite.start_run(log_system_metrics=True) as run:
        assert len(_monitor_threads()) == 1
        time.sleep(1.2)
    run_id = run.info.run_id
    keys = _system_keys(client, run_id)
    assert {f"system/{n}" for n in BASE_NAMES} <= keys
    assert all(k.startswith("system/gpu_") for k in keys - {f"system/{n}" for n in BASE_NAMES})
    for name in BASE_NAMES:
        history = client.get_metric_history(run_id, f"system/{name}")
        steps = [m.step for m in history]
        # ~6 samples at 0.2 s plus the last one taken by end_run; a busy machine may lose a few.
        assert 2 <= len(history) <= 9, (name, steps)
        assert steps == sorted(set(steps)) and steps[0] == 0
        for m in history:
            assert math.isfinite(m.value) and m.value == round(m.value, 1)
    memory = client.get_metric_history(run_id, "system/system_memory_usage_megabytes")
    assert [m.step for m in memory] == list(range(len(memory)))
    assert all(m.value > 0 for m in memory)
    assert all(0 < m.value <= 100 for m in client.get_metric_history(run_id, "system/system_memory_usage_percentage"))
    assert all(0 <= m.value <= 100 for m in client.get_metric_history(run_id, "system/cpu_utilization_percentage"))
    assert all(0 <= m.value <= 100 for m in client.get_metric_history(run_id, "system/disk_usage_percentage"))
    assert all(m.value > 0 for m in client.get_metric_history(run_id, "system/disk_usage_megabytes"))
    assert all(m.value >= 0 for m in client.get_metric_history(run_id, "system/network_receive_megabytes"))


def test_monitor_stops_with_the_run(client: Client) -> None:
    tracklite.set_system_metrics_sampling_interval(0.1)
    with tracklite.start_run(log_system_metrics=True) as run:
        time.sleep(0.3)
    run_id = run.info.run_id
    assert _monitor_threads() == []
    assert fluent._monitors == {}
    ended = client.get_run(run_id).info
    assert ended.status == "FINISHED"
    key = "system/system_memory_usage_megabytes"
    before = client.get_metric_history(run_id, key)
    assert before and all(m.timestamp <= ended.end_time for m in before)  # type: ignore[operator]
    time.sleep(0.4)
    tracklite.flush()
    assert client.get_metric_history(run_id, key) == before


def test_short_run_still_gets_its_last_sample(client: Client) -> None:
    with tracklite.start_run(log_system_metrics=True) as run:  # default interval: 10 s
        pass
    history = client.get_metric_history(run.info.run_id, "system/system_memory_usage_megabytes")
    assert [m.step for m in history] == [0]


def test_off_by_default_and_global_switch(client: Client) -> None:
    with tracklite.start_run() as off:
        assert fluent._monitors == {}
    tracklite.enable_system_metrics_logging()
    with tracklite.start_run() as on:
        assert list(fluent._monitors) == [on.info.run_id]
    with tracklite.start_run(log_system_metrics=False) as opted_out:
        assert fluent._monitors == {}
    tracklite.disable_system_metrics_logging()
    with tracklite.start_run() as off_again:
        assert fluent._monitors == {}
    with tracklite.start_run(log_system_metrics=True) as opted_in:
        assert list(fluent._monitors) == [opted_in.info.run_id]
    assert _system_keys(client, off.info.run_id) == set()
    assert _system_keys(client, opted_out.info.run_id) == set()
    assert _system_keys(client, off_again.info.run_id) == set()
    assert "system/system_memory_usage_megabytes" in _system_keys(client, on.info.run_id)
    assert "system/system_memory_usage_megabytes" in _system_keys(client, opted_in.info.run_id)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"TRACKLITE_ENABLE_SYSTEM_METRICS_LOGGING": "true"}, True),
        ({"MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING": "1"}, True),
        ({"MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING": "TRUE"}, True),
        ({"MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING": "false"}, False),
        ({"TRACKLITE_ENABLE_SYSTEM_METRICS_LOGGING": "false", "MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING": "true"}, False),
    ],
)
def test_environment_switch(
    store_path: str, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: bool
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with tracklite.start_run() as run:
        assert (run.info.run_id in fluent._monitors) is expected
    with tracklite.start_run(log_system_metrics=False):
        assert fluent._monitors == {}


def test_functions_override_the_environment(store_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "true")
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "7")
    tracklite.disable_system_metrics_logging()
    with tracklite.start_run():
        assert fluent._monitors == {}
    with tracklite.start_run(log_system_metrics=True) as run:
        assert fluent._monitors[run.info.run_id].sampling_interval == 7.0
    tracklite.set_system_metrics_sampling_interval(3)
    with tracklite.start_run(log_system_metrics=True) as run:
        assert fluent._monitors[run.info.run_id].sampling_interval == 3.0
    tracklite.set_system_metrics_sampling_interval(None)  # back to the environment
    monkeypatch.setenv("TRACKLITE_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.5")
    monkeypatch.setenv("TRACKLITE_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING", "4")
    with tracklite.start_run(log_system_metrics=True) as run:
        monitor = fluent._monitors[run.info.run_id]
        assert (monitor.sampling_interval, monitor.samples_before_logging) == (0.5, 4)


def test_samples_are_averaged(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    counter = itertools.count(1)

    class Counting(SystemMetricsMonitor):
        def collect_metrics(self) -> dict[str, float]:
            n = float(next(counter))
            return {"n": n, "network_receive_megabytes": n}

    run_id = client.create_run("0").info.run_id
    monitor = Counting(run_id, sampling_interval=0.02, samples_before_logging=3)
    monitor.start()
    _wait_for(lambda: monitor.step >= 3)
    monitor.finish(flush=False)
    client.flush()
    means = [(m.step, m.value) for m in client.get_metric_history(run_id, "system/n")]
    totals = [(m.step, m.value) for m in client.get_metric_history(run_id, "system/network_receive_megabytes")]
    assert len(means) >= 3
    assert means == [(k, 3.0 * k + 2) for k in range(len(means))]  # mean of 3k+1, 3k+2, 3k+3
    assert totals == [(k, 3.0 * k + 3) for k in range(len(means))]  # running totals: the latest value


def test_aggregate_rounds_like_mlflow() -> None:
    samples = [
        {"cpu_utilization_percentage": 1.0, "network_transmit_megabytes": 0.5},
        {"cpu_utilization_percentage": 2.0},
    ]
    samples.append({"cpu_utilization_percentage": 2.0, "network_transmit_megabytes": 0.94})
    assert SystemMetricsMonitor.aggregate_metrics(samples) == {
        "cpu_utilization_percentage": 1.7,
        "network_transmit_megabytes": 0.9,
    }
    assert SystemMetricsMonitor.aggregate_metrics([]) == {}


def test_samples_before_logging_from_the_environment(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.1")
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING", "4")
    with tracklite.start_run(log_system_metrics=True) as run:
        time.sleep(1.0)
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "system/system_memory_usage_megabytes")]
    # ~10 samples: 2 full groups of 4 and the rest logged by end_run (11 points without averaging).
    assert 1 <= len(steps) <= 5
    assert steps == list(range(len(steps)))


@pytest.mark.parametrize("bad", [0, -1, math.nan, math.inf, "10", True])
def test_bad_interval_is_rejected(store_path: str, bad: object) -> None:
    with pytest.raises(InvalidParameterValue, match="positive number of seconds"):
        tracklite.set_system_metrics_sampling_interval(bad)  # type: ignore[arg-type]
    assert system_metrics._sampling_interval is None


@pytest.mark.parametrize("bad", [0, -2, 1.5, "3", False])
def test_bad_samples_before_logging_is_rejected(store_path: str, bad: object) -> None:
    with pytest.raises(InvalidParameterValue, match="positive integer"):
        tracklite.set_system_metrics_samples_before_logging(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "value", "match"),
    [
        ("TRACKLITE_SYSTEM_METRICS_SAMPLING_INTERVAL", "0", "TRACKLITE_SYSTEM_METRICS_SAMPLING_INTERVAL"),
        ("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "soon", "positive number of seconds"),
        ("MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING", "2.5", "positive integer"),
        ("MLFLOW_SYSTEM_METRICS_NODE_ID", "a*b", "metric names"),
        ("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "maybe", "'true' or 'false'"),
    ],
)
def test_bad_environment_leaves_the_store_unchanged(
    client: Client, monkeypatch: pytest.MonkeyPatch, name: str, value: str, match: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(InvalidParameterValue, match=match):
        tracklite.start_run(log_system_metrics=None if "ENABLE" in name else True)
    assert tracklite.active_run() is None
    assert client.search_runs(["0"]) == []
    if "ENABLE" not in name:
        with tracklite.start_run(log_system_metrics=False):  # settings are read only when needed
            pass


def test_node_id_goes_into_the_keys(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    tracklite.set_system_metrics_node_id("node_0")
    with tracklite.start_run(log_system_metrics=True) as run:
        pass
    assert "system/node_0/system_memory_usage_megabytes" in _system_keys(client, run.info.run_id)
    assert not any(k.count("/") == 1 for k in _system_keys(client, run.info.run_id))
    tracklite.set_system_metrics_node_id(None)
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_NODE_ID", "worker-1")
    with tracklite.start_run(log_system_metrics=True) as run:
        pass
    assert "system/worker-1/disk_usage_percentage" in _system_keys(client, run.info.run_id)
    with pytest.raises(InvalidParameterValue, match="node id"):
        tracklite.set_system_metrics_node_id("bad*id")


def test_nested_runs_have_their_own_monitors_only_when_asked(client: Client) -> None:
    tracklite.set_system_metrics_sampling_interval(0.1)
    with tracklite.start_run(log_system_metrics=True) as parent:
        with tracklite.start_run(nested=True) as quiet_child:
            assert list(fluent._monitors) == [parent.info.run_id]
        with tracklite.start_run(nested=True, log_system_metrics=True) as child:
            assert set(fluent._monitors) == {parent.info.run_id, child.info.run_id}
            assert len(_monitor_threads()) == 2
            time.sleep(0.3)
        assert list(fluent._monitors) == [parent.info.run_id]
        assert len(_monitor_threads()) == 1
    assert _monitor_threads() == []
    assert _system_keys(client, quiet_child.info.run_id) == set()
    assert "system/system_memory_usage_megabytes" in _system_keys(client, child.info.run_id)
    assert "system/system_memory_usage_megabytes" in _system_keys(client, parent.info.run_id)


def test_resumed_run_continues_the_steps(client: Client) -> None:
    tracklite.set_system_metrics_sampling_interval(0.1)
    with tracklite.start_run(log_system_metrics=True) as run:
        time.sleep(0.25)
    first = len(client.get_metric_history(run.info.run_id, "system/system_memory_usage_megabytes"))
    with tracklite.start_run(run_id=run.info.run_id, log_system_metrics=True):
        time.sleep(0.25)
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "system/system_memory_usage_megabytes")]
    assert len(steps) > first
    assert steps == list(range(len(steps)))


def test_failing_samples_never_reach_the_program(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    class Broken(SystemMetricsMonitor):
        def collect_metrics(self) -> dict[str, float]:
            raise OSError("no /proc here")

    run_id = client.create_run("0").info.run_id
    monitor = Broken(run_id, sampling_interval=0.02)
    with caplog.at_level(logging.WARNING, logger="tracklite.tracking.system_metrics"):
        monitor.start()
        time.sleep(0.2)
        assert monitor.is_running
        monitor.finish()
    assert not monitor.is_running
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "no /proc here" in warnings[0].getMessage()
    assert _system_keys(client, run_id) == set()


def test_failing_logging_stops_the_monitor_quietly(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    run_id = client.create_run("0").info.run_id
    monitor = SystemMetricsMonitor(run_id, sampling_interval=0.05)
    with caplog.at_level(logging.WARNING, logger="tracklite.tracking.system_metrics"):
        monitor.start()
        _wait_for(lambda: monitor.step >= 1)
        client.delete_run(run_id)
        _wait_for(lambda: not monitor.is_running)
        monitor.finish()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "Stopped logging system metrics" in warnings[0].getMessage()


def test_monitor_checks_its_arguments_and_run(client: Client) -> None:
    run_id = client.create_run("0").info.run_id
    with pytest.raises(InvalidParameterValue, match="positive number of seconds"):
        SystemMetricsMonitor(run_id, sampling_interval=0)
    with pytest.raises(tracklite.ResourceDoesNotExist):
        SystemMetricsMonitor("0" * 32)


def test_runs_left_open_are_monitored_until_exit(store_path: str, client: Client) -> None:
    code = (
        "import sys, time, tracklite\n"
        "tracklite.set_tracking_uri(sys.argv[1])\n"
        "tracklite.set_system_metrics_sampling_interval(0.1)\n"
        "run = tracklite.start_run(log_system_metrics=True)\n"
        "time.sleep(0.3)\n"
        "print(run.info.run_id)\n"
    )
    proc = run_python(code, store_path)
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.strip()
    assert client.get_run(run_id).info.status == "FINISHED"
    assert "system/system_memory_usage_megabytes" in _system_keys(client, run_id)


def test_import_does_not_load_psutil() -> None:
    proc = run_python("import sys, tracklite; print('psutil' in sys.modules)")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"
